"""Act recognition of the understanding layer on each domain's labelled utterances.

Each domain ships ``envs/data/understanding/<domain>.jsonl``: natural agent utterances
(written to be varied, not from the templates), one JSON object a line::

    {"text": "Could you share your order number?", "acts": ["request:order_id"],
     "split": "heldout", "entities": {"item": {"Green Orchid": []}}}

``acts`` are the gold labels (``act`` or ``act:arg``) of the acts the file evaluates,
listed in its first line ``{"_meta": {"acts": [...], "entities": {...}}}`` (file-wide
entities, merged with each line's own). ``split`` is ``tune`` (thresholds may be tuned
on it) or ``heldout`` (never tuned on: the figures reported).

    python benchmarks/understanding.py                 # held-out table, every domain
    python benchmarks/understanding.py --split tune    # the tuning half
    python benchmarks/understanding.py --errors        # also list each misread utterance
    python benchmarks/understanding.py --calibrate     # best exemplar thresholds on tune

Writes ``benchmarks/results/understanding.json``. Exit status 1 when a domain's
held-out micro F1 is below ``--min-f1`` (default 0.90).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import gymnasium as gym

import dialog_gym  # noqa: F401  (registers the ids)
from dialog_gym.registration import env_ids
from dialog_gym.understanding import Lexicon

DATA = Path(__file__).resolve().parents[1] / "envs" / "data" / "understanding"
RESULTS = Path(__file__).resolve().parent / "results" / "understanding.json"


def read_jsonl_with_meta(path: Path, required: tuple[str, ...],
                         error: type[BaseException] = SystemExit,
                         ) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]:
    """``(meta, [(line number, row), ...])`` of a JSONL file whose ``{"_meta": ...}`` line
    holds file-wide data; every row must have the ``required`` keys (else ``error``)."""
    meta: dict[str, Any] = {}
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        obj = json.loads(line)
        if "_meta" in obj:
            meta = obj["_meta"]
            continue
        for key in required:
            if key not in obj:
                raise error(f"{path}:{n}: missing {key!r}")
        rows.append((n, obj))
    return meta, rows


def load_set(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(meta, examples)`` of one labelled file."""
    meta, numbered = read_jsonl_with_meta(path, ("text", "acts", "split"))
    rows = []
    for n, obj in numbered:
        if obj["split"] not in ("tune", "heldout"):
            raise SystemExit(f"{path}:{n}: split must be 'tune' or 'heldout'")
        rows.append(obj)
    if "acts" not in meta:
        raise SystemExit(f"{path}: the first line must be {{\"_meta\": {{\"acts\": [...]}}}}")
    return meta, rows


def domains() -> dict[str, Any]:
    """Domain name -> domain object, for every registered env with a domain."""
    out = {}
    for env_id in env_ids():
        env = gym.make(env_id)
        dom = getattr(env.unwrapped, "domain", None)
        if dom is not None and dom.name not in out:
            out[dom.name] = dom
        env.close()
    return out


def predict(lex: Lexicon, row: dict[str, Any], meta: dict[str, Any],
            evaluated: set[str]) -> set[str]:
    ents: dict[str, Any] = {}
    for src in (meta.get("entities", {}), row.get("entities", {})):
        for kind, values in src.items():
            ents.setdefault(kind, {}).update(values)
    lx = lex.with_entities(ents) if ents else lex
    return {lab for lab in lx.analyze(row["text"]).labels
            if lab.split(":", 1)[0] in evaluated}


def score(gold: list[set[str]], pred: list[set[str]]) -> dict[str, Any]:
    """Per-act and micro precision, recall and F1 over label sets."""
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    for g, p in zip(gold, pred, strict=True):
        for lab in p & g:
            tp[lab.split(":", 1)[0]] += 1
        for lab in p - g:
            fp[lab.split(":", 1)[0]] += 1
        for lab in g - p:
            fn[lab.split(":", 1)[0]] += 1

    def prf(t: int, f_p: int, f_n: int) -> dict[str, float]:
        p = t / (t + f_p) if t + f_p else 1.0
        r = t / (t + f_n) if t + f_n else 1.0
        return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
                "support": t + f_n}

    acts = sorted(set(tp) | set(fp) | set(fn))
    return {"per_act": {a: prf(tp[a], fp[a], fn[a]) for a in acts},
            "micro": prf(sum(tp.values()), sum(fp.values()), sum(fn.values())),
            "exact": sum(g == p for g, p in zip(gold, pred, strict=True)) / max(1, len(gold))}


def evaluate(split: str, show_errors: bool) -> dict[str, Any]:
    results = {}
    for name, dom in sorted(domains().items()):
        path = DATA / f"{name}.jsonl"
        if not path.exists():
            continue
        meta, rows = load_set(path)
        evaluated = set(meta["acts"])
        lex = Lexicon.from_data(dom.understanding())
        rows = [r for r in rows if r["split"] == split]
        gold = [set(r["acts"]) for r in rows]
        pred = [predict(lex, r, meta, evaluated) for r in rows]
        res = score(gold, pred)
        res["n"] = len(rows)
        res["errors"] = [{"text": r["text"], "gold": sorted(g), "pred": sorted(p)}
                         for r, g, p in zip(rows, gold, pred, strict=True) if g != p]
        results[name] = res
        print(f"\n## {name} ({split}, {len(rows)} utterances): micro F1 "
              f"{res['micro']['f1']:.3f}, exact match {res['exact']:.2f}")
        print("| act | precision | recall | F1 | support |\n|---|---:|---:|---:|---:|")
        for act, m in res["per_act"].items():
            print(f"| {act} | {m['precision']:.2f} | {m['recall']:.2f} | {m['f1']:.2f} | "
                  f"{m['support']} |")
        if show_errors:
            for e in res["errors"]:
                print(f"  - {e['text']!r}\n      gold {e['gold']}\n      pred {e['pred']}")
    return results


def calibrate() -> None:
    """Print, per domain and exemplar act, the threshold with the best tune-split F1."""
    for name, dom in sorted(domains().items()):
        path = DATA / f"{name}.jsonl"
        data = dom.understanding()
        if not path.exists() or not data.get("exemplars"):
            continue
        meta, rows = load_set(path)
        rows = [r for r in rows if r["split"] == "tune"]
        evaluated = set(meta["acts"])
        best: tuple[float, float] | None = None
        for thr in [x / 100 for x in range(30, 91, 2)]:
            d = json.loads(json.dumps(data))
            d["thresholds"] = {k: thr for k in {e.split(":")[0] for e in d["exemplars"]}}
            lex = Lexicon.from_data(d)
            pred = [predict(lex, r, meta, evaluated) for r in rows]
            f1 = score([set(r["acts"]) for r in rows], pred)["micro"]["f1"]
            if best is None or f1 > best[1] + 1e-9:
                best = (thr, f1)
        assert best is not None
        print(f"{name}: threshold {best[0]:.2f} (tune micro F1 {best[1]:.3f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=["heldout", "tune"], default="heldout")
    ap.add_argument("--errors", action="store_true", help="list the misread utterances")
    ap.add_argument("--calibrate", action="store_true",
                    help="search exemplar thresholds on the tune split and print them")
    ap.add_argument("--min-f1", type=float, default=0.90)
    ap.add_argument("--out", default=str(RESULTS), help="JSON results (held-out split)")
    args = ap.parse_args(argv)
    if args.calibrate:
        calibrate()
        return 0
    results = evaluate(args.split, args.errors)
    if not results:
        print(f"no labelled sets under {DATA}", file=sys.stderr)
        return 1
    if args.split == "heldout":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, default=str) + "\n")
        print(f"\nwrote {out}")
    low = [n for n, r in results.items() if r["micro"]["f1"] < args.min_f1]
    if low:
        print(f"below F1 {args.min_f1}: {', '.join(low)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
