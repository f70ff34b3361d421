"""Act recognition of the understanding layer on public annotated dialogue corpora.

Held-out evaluation only: nothing (no threshold, cue or exemplar) is tuned on these
corpora. The corpus labels map to dialog-gym acts through
``envs/data/understanding/public/mapping.json`` (only where the meaning matches; see
``docs/understanding_public.md``):

- **Schema-Guided Dialogue** (SGD, CC BY-SA 4.0): system turns' ``REQUEST(slot)`` ->
  ``request[:slot]``, ``OFFER`` of an item's name -> ``recommend:<item>``, ``CONFIRM`` ->
  ``request:confirmation``, ``GOODBYE``/``REQ_MORE`` -> ``close``, ``INFORM``/
  ``INFORM_COUNT`` -> ``inform``, ``NOTIFY_FAILURE`` -> ``decline``; user turns'
  ``AFFIRM`` -> ``confirm``, ``THANK_YOU`` -> ``thank``, ``GOODBYE`` -> ``close``. Each
  turn is read with the lexicon of the domain its service fits (restaurants, hotels,
  films: recommendation; alarms, weather, calendar: virtual assistant; others: the core
  lexicon, which scores only the slot-agnostic acts).
- **ESConv** (CC BY-NC 4.0, research only: not shipped): supporter strategies
  ``Question`` -> ``question``, ``Providing Suggestions`` -> ``suggest``, ``Reflection
  of feelings`` -> ``acknowledge``, with the emotional-support lexicon.

Usage::

    python benchmarks/understanding_public.py                   # the samples, if present
    python benchmarks/understanding_public.py --sgd PATH        # a local SGD copy (a split
                                                                # folder or dialogues_*.json)
    python benchmarks/understanding_public.py --esconv PATH     # ESConv.json, or a split
                                                                # file *WithStrategy_short.tsv
    python benchmarks/understanding_public.py --errors          # also list the misreadings
    python benchmarks/understanding_public.py --sgd PATH --make-sample DIR   # write a sample

Samples are looked for in ``--sample-dir`` (default: ``envs/data/understanding/public/``,
then ``shared/understanding_public/``): ``sgd_sample.jsonl``. Writes
``benchmarks/results/understanding_public.json`` (tables and every utterance's gold and
predicted labels).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ROOT / "envs" / "data" / "understanding" / "public"
MAPPING = PUBLIC / "mapping.json"
SAMPLE_DIRS = (PUBLIC, ROOT / "shared" / "understanding_public")
SGD_SAMPLE = "sgd_sample.jsonl"
RESULTS = Path(__file__).resolve().parent / "results" / "understanding_public.json"

#: sample sizes per SGD group of :func:`make_sgd_sample` (system groups and user turns)
SAMPLE_SIZES = {"recommendation": 200, "virtual_assistant": 100, "other": 100, "user": 150}
SEED = 0


class DataError(ValueError):
    """A corpus file or the mapping is missing or not in the expected format."""


# ---------------------------------------------------------------------------- mapping
def load_mapping(path: Path | str = MAPPING) -> dict[str, Any]:
    """The label mapping (``mapping.json``), checked for the keys the benchmark reads."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"mapping file not found: {path}")
    m = json.loads(path.read_text(encoding="utf-8"))
    for key in ("groups", "system_acts", "user_acts", "slots", "item_slots"):
        if key not in m.get("sgd", {}):
            raise DataError(f"{path}: sgd.{key} missing")
    for key in ("groups", "strategies"):
        if key not in m.get("esconv", {}):
            raise DataError(f"{path}: esconv.{key} missing")
    return m


def sgd_group(mapping: Mapping[str, Any], service: str, speaker: str) -> str:
    """The mapping group of an SGD turn: ``user`` for user turns, else by service."""
    groups = mapping["sgd"]["groups"]
    if speaker == "USER":
        return next(g for g, spec in groups.items() if spec.get("speaker") == "USER")
    prefix = service.split("_", 1)[0]
    fallback = None
    for g, spec in groups.items():
        if spec.get("speaker") == "USER":
            continue
        if prefix in spec.get("services", ()):
            return g
        if "*" in spec.get("services", ()):
            fallback = g
    if fallback is None:
        raise DataError(f"no mapping group for service {service!r}")
    return fallback


def sgd_gold(mapping: Mapping[str, Any], row: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """``(gold labels, don't-care acts)`` of one SGD turn under the mapping.

    Labels are ``act`` or ``act:arg``: ``request:<our slot>`` where the group's slot map
    names the SGD slot (else ``request``), ``recommend:<offered item>`` for an offer of
    an item-name slot.
    """
    m = mapping["sgd"]
    group = row["group"]
    acts_map = m["user_acts"] if row["speaker"] == "USER" else m["system_acts"]
    slot_map = m["slots"].get(group, {})
    gold: set[str] = set()
    dont: set[str] = set()
    for a in row["actions"]:
        dont.update(m.get("dont_care", {}).get(a["act"], ()))
        spec = acts_map.get(a["act"])
        if spec is None or (spec.get("groups") and group not in spec["groups"]):
            continue
        act = spec["act"]
        if act == "request":
            slot = slot_map.get(a.get("slot", ""))
            gold.add(f"request:{slot}" if slot else "request")
        elif act == "recommend":
            if a.get("slot") in m["item_slots"] and a.get("values"):
                gold.add(f"recommend:{a['values'][0]}")
        else:
            gold.add(act)
    return gold, dont


def esconv_gold(mapping: Mapping[str, Any], strategy: str) -> set[str]:
    """Gold labels of an ESConv supporter turn (empty for an unmapped strategy)."""
    e = mapping["esconv"]
    spec = e["strategies"].get(strategy)
    if spec is None and strategy not in e.get("unmapped", {}):
        raise DataError(f"ESConv strategy {strategy!r} is neither mapped nor unmapped in "
                        f"the mapping file")
    return {spec["act"]} if spec else set()


# ---------------------------------------------------------------------------- corpora
def _sgd_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(path.glob("dialogues_*.json"))
        if not files:  # the repository root: its test split
            files = sorted((path / "test").glob("dialogues_*.json"))
        if files:
            return files
    raise DataError(f"no SGD dialogues at {path} (give a split folder, such as the "
                    f"repository's test/, or a dialogues_NNN.json file)")


def load_sgd(path: Path | str, mapping: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every turn of a local SGD copy, as rows with ids, actions and candidate items.

    ``items``: the names (values of the mapping's ``item_slots``) in the dialogue's
    service results and offers, the analogue of a dialog-gym episode's known items.
    """
    item_slots = set(mapping["sgd"]["item_slots"])
    rows = []
    for f in _sgd_files(Path(path)):
        try:
            dialogues = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(f"{f}: not JSON ({e})") from e
        if not isinstance(dialogues, list) or (dialogues and "turns" not in dialogues[0]):
            raise DataError(f"{f}: not an SGD dialogues file (a list of dialogues "
                            f"with 'turns')")
        for d in dialogues:
            items: set[str] = set()
            for t in d["turns"]:
                for fr in t["frames"]:
                    for res in fr.get("service_results", ()):
                        items.update(v for k, v in res.items() if k in item_slots)
                    for a in fr["actions"]:
                        if a.get("act") == "OFFER" and a.get("slot") in item_slots:
                            items.update(a.get("values", ()))
            for i, t in enumerate(d["turns"]):
                services = [fr["service"] for fr in t["frames"]]
                actions = [{"act": a["act"], "slot": a.get("slot", ""),
                            "values": list(a.get("values", ()))}
                           for fr in t["frames"] for a in fr["actions"]]
                rows.append({"id": f"{d['dialogue_id']}:{i}", "dialogue_id": d["dialogue_id"],
                             "turn": i, "speaker": t["speaker"],
                             "service": services[0] if services else "",
                             "text": t["utterance"], "actions": actions,
                             "items": sorted(items)})
    for r in rows:
        r["group"] = sgd_group(mapping, r["service"], r["speaker"])
    return rows


_TSV_SEG = re.compile(r"^(\S+) (\d) (\d+) (.*)$", re.S)
_TSV_STRAT = re.compile(r"^\[([^\]]+)\] ?(.*)$", re.S)


def load_esconv(path: Path | str) -> list[dict[str, Any]]:
    """The supporter turns of a local ESConv copy: ``{"id", "text", "strategy"}`` rows.

    Reads ``ESConv.json`` (or ``FailedESConv.json``: a list of conversations whose
    ``dialog`` turns have ``speaker`` ``supporter``/``listener`` and
    ``annotation.strategy``) or a split file ``codes/dataset/*WithStrategy_short.tsv``
    (one line per supporter response, its last ``EOS``-separated segment).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no ESConv file at {path} (ESConv.json or *WithStrategy_short.tsv)")
    rows = []
    if path.suffix == ".tsv":
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            m = _TSV_SEG.match(line.split(" EOS ")[-1].strip())
            if not m:
                raise DataError(f"{path}:{n}: not an ESConv split line")
            if m.group(2) != "1":
                continue
            s = _TSV_STRAT.match(m.group(4))
            if s:
                rows.append({"id": f"{path.stem}:{n}", "text": s.group(2).strip(),
                             "strategy": s.group(1)})
        return rows
    try:
        convs = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not JSON ({e})") from e
    if not isinstance(convs, list) or (convs and "dialog" not in convs[0]):
        raise DataError(f"{path}: not an ESConv file (a list of conversations with 'dialog')")
    for c, conv in enumerate(convs):
        for t, turn in enumerate(conv["dialog"]):
            strat = (turn.get("annotation") or {}).get("strategy")
            if turn.get("speaker") in ("supporter", "listener") and strat:
                rows.append({"id": f"{path.stem}:{c}:{t}", "text": turn["content"].strip(),
                             "strategy": strat})
    return rows


def make_sgd_sample(rows: Sequence[Mapping[str, Any]], seed: int = SEED,
                    sizes: Mapping[str, int] = SAMPLE_SIZES) -> list[dict[str, Any]]:
    """A fixed-seed sample of SGD turns: ``sizes[group]`` turns of each group, id order."""
    by_group: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        by_group[r["group"]].append(r)
    rng = random.Random(seed)
    out = []
    for g in sorted(sizes):
        pool = sorted(by_group.get(g, []), key=lambda r: r["id"])
        out.extend(rng.sample(pool, min(sizes[g], len(pool))))
    return [dict(r) for r in sorted(out, key=lambda r: (r["group"], r["id"]))]


def write_sample(path: Path, rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> None:
    """Write a sample as JSONL: a ``{"_meta": ...}`` line, then one row a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        f.write(json.dumps({"_meta": dict(meta)}, ensure_ascii=False) + "\n")
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_sample(path: Path | str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(meta, rows)`` of a sample written by :func:`write_sample`."""
    from understanding import read_jsonl_with_meta  # (benchmarks/ is on sys.path)

    meta, rows = read_jsonl_with_meta(
        Path(path), ("id", "text", "speaker", "service", "actions", "group"), DataError)
    return meta, [r for _, r in rows]


# ---------------------------------------------------------------------------- lexicons
_LEXICONS: dict[str | None, Any] = {}


def lexicon(domain: str | None) -> Any:
    """The understanding lexicon of a dialog-gym domain (``None``: the core lexicon)."""
    if domain not in _LEXICONS:
        from dialog_gym.understanding import Lexicon

        if domain is None:
            _LEXICONS[None] = Lexicon.from_data()
        else:
            import gymnasium as gym

            import dialog_gym

            for env_id in dialog_gym.env_ids():
                env = gym.make(env_id)
                dom = getattr(env.unwrapped, "domain", None)
                env.close()
                if dom is not None and dom.name == domain:
                    _LEXICONS[domain] = Lexicon.from_data(dom.understanding())
                    break
            else:
                raise DataError(f"no registered environment has the domain {domain!r}")
    return _LEXICONS[domain]


def predict(lex: Any, text: str, evaluated: Iterable[str], items: Sequence[str] = (),
            alias: Mapping[str, str] | None = None) -> set[str]:
    """The layer's labels for ``text`` whose act is evaluated (after ``alias``).

    ``items``: names known as entities of the lexicon's ``recommend_kind`` (the
    dialogue's candidates), so that a recommendation of one can be recognised.
    """
    if items and lex.recommend_kind:
        lex = lex.with_entities({lex.recommend_kind: {name: [] for name in items}})
    out = set()
    evaluated = set(evaluated)
    for lab in lex.analyze(text).labels:
        name, sep, arg = lab.partition(":")
        name = (alias or {}).get(name, name)
        if name in evaluated:
            # an aliased act keeps no argument (request:story counted as a question)
            out.add(name if alias and name in alias.values() else name + sep + arg)
    return out


# ---------------------------------------------------------------------------- scoring
def _prf(t: int, f_p: int, f_n: int) -> dict[str, float]:
    p = t / (t + f_p) if t + f_p else 1.0
    r = t / (t + f_n) if t + f_n else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "support": t + f_n, "tp": t, "fp": f_p, "fn": f_n}


def score(records: Sequence[Mapping[str, Any]], acts: Sequence[str]) -> dict[str, Any]:
    """Per-act P/R/F1 (an act present in an utterance or not) and label-level figures.

    ``records``: ``{"gold", "pred", "dont_care"}`` with label lists. A predicted act in
    ``dont_care`` and not gold counts neither way. Label level compares ``act:arg``
    labels of ``request`` and ``recommend`` (the slot, the item) where gold has an arg.
    """
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    ltp: dict[str, int] = defaultdict(int)
    lfp: dict[str, int] = defaultdict(int)
    lfn: dict[str, int] = defaultdict(int)
    for r in records:
        g = {x.split(":", 1)[0] for x in r["gold"]}
        p = {x.split(":", 1)[0] for x in r["pred"]}
        dont = set(r.get("dont_care", ()))
        for a in acts:
            if a in g and a in p:
                tp[a] += 1
            elif a in p and a not in dont:
                fp[a] += 1
            elif a in g:
                fn[a] += 1
        gl = {x for x in r["gold"] if ":" in x}
        pl = {x for x in r["pred"] if ":" in x and x.split(":", 1)[0] in ("request", "recommend")}
        for lab in gl | pl:
            key = lab if lab.startswith("request:") else "recommend:<item>"
            if lab in gl and lab in pl:
                ltp[key] += 1
            elif lab in pl:
                lfp[key] += 1
            else:
                lfn[key] += 1
    return {"per_act": {a: _prf(tp[a], fp[a], fn[a]) for a in acts},
            "micro": _prf(sum(tp.values()), sum(fp.values()), sum(fn.values())),
            "per_label": {k: _prf(ltp[k], lfp[k], lfn[k])
                          for k in sorted(set(ltp) | set(lfp) | set(lfn))},
            "n": len(records)}


def evaluate_sgd(rows: Sequence[Mapping[str, Any]],
                 mapping: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Tables and records of SGD rows, per mapping group."""
    groups = mapping["sgd"]["groups"]
    out: dict[str, dict[str, Any]] = {}
    for g in sorted({r["group"] for r in rows}):
        spec = groups[g]
        lex = lexicon(spec["lexicon"])
        recs = []
        for r in (r for r in rows if r["group"] == g):
            gold, dont = sgd_gold(mapping, r)
            pred = predict(lex, r["text"], spec["acts"], r.get("items", ()))
            recs.append({"id": r["id"], "service": r["service"], "text": r["text"],
                         "sgd_acts": sorted({f"{a['act']}({a['slot']})" if a["slot"] else
                                             a["act"] for a in r["actions"]}),
                         "gold": sorted(gold), "pred": sorted(pred),
                         "dont_care": sorted(dont - gold)})
        res = score(recs, spec["acts"])
        res.update(lexicon=spec["lexicon"] or "core", records=recs)
        out[g] = res
    return out


def evaluate_esconv(rows: Sequence[Mapping[str, Any]],
                    mapping: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Tables and records of ESConv supporter rows, per mapping group (lexicon)."""
    out: dict[str, dict[str, Any]] = {}
    for g, spec in mapping["esconv"]["groups"].items():
        lex = lexicon(spec["lexicon"])
        recs = []
        for r in rows:
            pred = predict(lex, r["text"], spec["acts"], alias=spec.get("pred_alias"))
            recs.append({"id": r["id"], "strategy": r["strategy"], "text": r["text"],
                         "gold": sorted(esconv_gold(mapping, r["strategy"]) & set(spec["acts"])),
                         "pred": sorted(pred), "dont_care": []})
        res = score(recs, spec["acts"])
        res.update(lexicon=spec["lexicon"] or "core", records=recs)
        by_strategy: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in recs:
            for a in {p.split(":", 1)[0] for p in r["pred"]} or {"(none)"}:
                by_strategy[r["strategy"]][a] += 1
            by_strategy[r["strategy"]]["n"] += 1
        res["predicted_by_strategy"] = {k: dict(v) for k, v in sorted(by_strategy.items())}
        out[g] = res
    return out


# ---------------------------------------------------------------------------- report
def print_tables(corpus: str, results: Mapping[str, Mapping[str, Any]], errors: bool,
                 max_errors: int) -> None:
    """Markdown tables of one corpus's groups (and the misread utterances)."""
    for g, res in results.items():
        print(f"\n## {corpus} / {g} ({res['n']} utterances, lexicon {res['lexicon']}): "
              f"micro F1 {res['micro']['f1']:.3f}")
        print("| act | precision | recall | F1 | support | TP | FP | FN |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|")
        for act, m in res["per_act"].items():
            print(f"| {act} | {m['precision']:.2f} | {m['recall']:.2f} | {m['f1']:.2f} | "
                  f"{m['support']} | {m['tp']} | {m['fp']} | {m['fn']} |")
        if res["per_label"]:
            print("\nlabel level (slot / item named right):\n"
                  "| label | precision | recall | F1 | support |\n|---|---:|---:|---:|---:|")
            for lab, m in res["per_label"].items():
                rec = f"{m['recall']:.2f}" if m["support"] else "-"
                print(f"| {lab} | {m['precision']:.2f} | {rec} | {m['f1']:.2f} | "
                      f"{m['support']} |")
        if "predicted_by_strategy" in res:
            print("\npredicted acts per ESConv strategy (utterances):")
            for s, c in res["predicted_by_strategy"].items():
                print(f"  {s}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
        if errors:
            wrong = [r for r in res["records"] if _wrong(r)]
            print(f"\nmisread ({len(wrong)}):")
            for r in wrong[:max_errors]:
                tag = r.get("strategy") or ", ".join(r.get("sgd_acts", ()))
                print(f"  - [{r['id']}] {r['text']!r}\n      {tag}\n"
                      f"      gold {r['gold']}  pred {r['pred']}")


def _wrong(r: Mapping[str, Any]) -> bool:
    dont = set(r.get("dont_care", ()))
    pred = {p for p in r["pred"] if p.split(":", 1)[0] not in dont or p in r["gold"]}
    return set(r["gold"]) != pred


def find_sample(sample_dir: str | None) -> Path | None:
    """The SGD sample file: in ``sample_dir`` or the default folders; ``None`` if none."""
    dirs = [Path(sample_dir)] if sample_dir else list(SAMPLE_DIRS)
    for d in dirs:
        if (d / SGD_SAMPLE).is_file():
            return d / SGD_SAMPLE
    return None


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sgd", help="a local SGD copy: a split folder or a dialogues_*.json")
    ap.add_argument("--esconv", help="a local ESConv copy: ESConv.json or *WithStrategy_short.tsv")
    ap.add_argument("--sample-dir", help=f"folder of {SGD_SAMPLE} (default: "
                    f"{', '.join(str(d.relative_to(ROOT)) for d in SAMPLE_DIRS)})")
    ap.add_argument("--make-sample", metavar="DIR",
                    help=f"write a fixed-seed {SGD_SAMPLE} of --sgd to DIR and exit")
    ap.add_argument("--seed", type=int, default=SEED, help="seed of --make-sample")
    ap.add_argument("--limit", type=int, default=0,
                    help="score a fixed-seed sample of this many turns per corpus (0: all)")
    ap.add_argument("--errors", action="store_true", help="list the misread utterances")
    ap.add_argument("--max-errors", type=int, default=60, help="misreadings listed per group")
    ap.add_argument("--mapping", default=str(MAPPING))
    ap.add_argument("--out", default=str(RESULTS), help="JSON results")
    args = ap.parse_args(argv)
    try:
        mapping = load_mapping(args.mapping)
        if args.make_sample:
            if not args.sgd:
                ap.error("--make-sample needs --sgd PATH")
            rows = make_sgd_sample(load_sgd(args.sgd, mapping), args.seed)
            path = Path(args.make_sample) / SGD_SAMPLE
            write_sample(path, rows, {
                "source": "Schema-Guided Dialogue (google-research-datasets/"
                          "dstc8-schema-guided-dialogue), see NOTICE.md",
                "license": "CC BY-SA 4.0", "from": str(args.sgd), "seed": args.seed,
                "sizes": SAMPLE_SIZES})
            print(f"wrote {len(rows)} turns to {path}")
            return 0
        results: dict[str, Any] = {}
        rng = random.Random(args.seed)
        if args.sgd:
            rows = load_sgd(args.sgd, mapping)
            source = str(args.sgd)
        else:
            sample = find_sample(args.sample_dir)
            rows = read_sample(sample)[1] if sample else []
            source = str(sample) if sample else ""
        if args.limit and len(rows) > args.limit:
            rows = sorted(rng.sample(rows, args.limit), key=lambda r: r["id"])
        if rows:
            results["sgd"] = {"source": source, "groups": evaluate_sgd(rows, mapping)}
            print_tables("SGD", results["sgd"]["groups"], args.errors, args.max_errors)
        if args.esconv:
            erows = load_esconv(args.esconv)
            if args.limit and len(erows) > args.limit:
                erows = sorted(rng.sample(erows, args.limit), key=lambda r: r["id"])
            results["esconv"] = {"source": str(args.esconv),
                                 "groups": evaluate_esconv(erows, mapping)}
            print_tables("ESConv", results["esconv"]["groups"], args.errors, args.max_errors)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not results:
        looked = [Path(args.sample_dir)] if args.sample_dir else list(SAMPLE_DIRS)
        print(f"nothing to evaluate: no SGD sample found (looked in "
              f"{', '.join(str(d) for d in looked)})"
              " and no --sgd/--esconv given; see docs/understanding_public.md for getting "
              "the corpora", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
