"""Scorer speed: items per second of every built-in scorer at batch 1 and 64, and the
``semantic`` scorer against calling ``SentenceTransformer.encode`` per item in the same run.

Workload (realistic multi-turn): the scripted expert plays Dialog-CustomerService-v0
(``--episodes`` seeded episodes, all difficulty levels). Each agent turn yields one
``ScoreInput`` exactly as the env builds it (context, history, facts, the expert's
reference reply, signals), except that the scored reply is a policy-like variant of the
expert's reply (seeded: 20% of its words dropped, one word swapped in), so replies do not
trivially equal their references.

For each scorer the inputs are scored in order, one call per item (batch 1, as a single
env does per step) and in chunks of 64 (as a 64-env vector step or offline scoring does).
Neural scorers start every measurement with an empty embedding cache, so what the cache
saves is only what the workload itself repeats (references, history turns, contexts).

The ``semantic`` peer: for each item, one ``SentenceTransformer.encode`` call on that
item's texts (reply, references, last user turns; normalised embeddings) and the same
score formula; scores are checked equal to the scorer's. Ratio = scorer items/s / peer
items/s, at batch 1 and 64, interleaved repeats, best of each, for each torch thread count
of ``--ratio-threads`` (both sides always use the same count). With one thread MiniLM is
compute-bound and the gain is the work saved (texts not encoded again); with torch's
default threads on a busy 2-core machine, small per-item calls also suffer from thread
oversubscription, which batching avoids.

    python benchmarks/perf_scorers.py [--episodes 80] [--repeats 3] [--torch-threads 1]
        [--ratio-threads 1,2] [--ratio-items 60] [--device cpu] [--scorers semantic,bleu]
        [--out benchmarks/results/perf_scorers.json]

On a GPU machine, ``--device cuda`` runs the neural scorers and the peer there
(``benchmarks/gpu_perf.sh`` does this for the semantic ratio).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Sequence

import gymnasium as gym
import numpy as np

import dialog_gym
from dialog_gym.agents import make_agent
from dialog_gym.dialogue import USER
from dialog_gym.fileio import atomic_write_json
from dialog_gym.scorers import ScoreInput, Scorer, list_scorers, make_scorer

ENV_ID = "Dialog-CustomerService-v0"
SEMANTIC_KW = {"history_weight": 0.5, "history_turns": 2}
#: torch device of the neural scorers and of the semantic peer (``--device``)
DEVICE = "cpu"


def _variant(text: str, rng: np.random.Generator) -> str:
    words = text.split()
    if len(words) < 3:
        return text + " Thanks."
    keep = [w for w in words if rng.random() > 0.2] or words[:1]
    fillers = ["sure", "okay", "now", "please", "indeed", "certainly", "right"]
    keep.insert(int(rng.integers(0, len(keep) + 1)), fillers[int(rng.integers(len(fillers)))])
    return " ".join(keep)


def build_workload(episodes: int) -> list[ScoreInput]:
    env = gym.make(ENV_ID, reward={"bleu": 1.0}).unwrapped  # bleu: the env runs its expert
    agent = make_agent("expert", env_id=ENV_ID)
    rng = np.random.default_rng(0)
    items: list[ScoreInput] = []
    for seed in range(episodes):
        obs, _ = env.reset(seed=seed)
        agent.reset()
        done, steps = False, 0
        while not done and steps < 20:
            pending = env.step_begin(agent.act(obs))
            x = pending.score_input
            items.append(ScoreInput(context=x.context, history=x.history,
                                    response=_variant(x.response, rng),
                                    references=x.references, facts=x.facts, signals=x.signals))
            obs, _, term, trunc, _ = env.step_end(pending, {"bleu": 0.0})
            done, steps = term or trunc, steps + 1
    return items


def _reset_caches() -> None:
    """Empty every cache a scorer fills, so each measurement starts cold."""
    from dialog_gym import text
    from dialog_gym.embedding import get_encoder
    from dialog_gym.scorers import logic, token_f1

    get_encoder(device=DEVICE).clear()
    text.tokens.cache_clear()
    token_f1.squad_tokens.cache_clear()
    logic.extract.cache_clear()


def time_scorer(scorer: Scorer, items: Sequence[ScoreInput],
                batch: int) -> tuple[float, np.ndarray]:
    _reset_caches()
    out = []
    t = time.perf_counter()
    for i in range(0, len(items), batch):
        out.append(scorer.score(items[i:i + batch]))
    dt = time.perf_counter() - t
    return len(items) / dt, np.concatenate(out)


def semantic_peer(items: Sequence[ScoreInput], batch: int) -> tuple[float, np.ndarray]:
    """One ``SentenceTransformer.encode`` call per item, same formula as ``semantic``."""
    from dialog_gym.embedding import get_encoder

    model = get_encoder(device=DEVICE).model  # the same loaded SentenceTransformer
    w, k = SEMANTIC_KW["history_weight"], SEMANTIC_KW["history_turns"]
    out = np.zeros(len(items))
    t = time.perf_counter()
    for i, x in enumerate(items):
        hist = [t_.text for t_ in x.history if t_.speaker == USER and t_.text.strip()][-k:]
        refs = list(x.references)
        if not x.response.strip() or not (refs or hist):
            continue
        emb = model.encode([x.response, *refs, *hist], batch_size=batch,
                           convert_to_numpy=True, normalize_embeddings=True,
                           show_progress_bar=False)
        sims = emb[1:] @ emb[0]
        s_ref = max(float(sims[:len(refs)].max()), 0.0) if refs else None
        s_hist = max(float(sims[len(refs):].max()), 0.0) if hist else None
        if s_ref is None:
            out[i] = s_hist
        elif s_hist is None:
            out[i] = s_ref
        else:
            out[i] = (1 - w) * s_ref + w * s_hist
    dt = time.perf_counter() - t
    return len(items) / dt, np.clip(out, 0.0, 1.0)


def semantic_ratio(items: Sequence[ScoreInput], threads: int,
                   repeats: int) -> dict[str, dict[str, float]]:
    """``semantic`` at batch 1 and 64 vs the per-item peer, same inputs, same threads.

    Interleaved repeats, best of each: the machine is shared, so load drifts between
    runs; interleaving exposes both sides to the same drift.
    """
    import torch

    from dialog_gym.embedding import get_encoder

    torch.set_num_threads(threads)
    sem = make_scorer("semantic", **SEMANTIC_KW, device=DEVICE)
    enc = get_encoder(device=DEVICE)
    best: dict[str, tuple[float, np.ndarray]] = {}
    counts: dict[int, tuple[int, int, int]] = {}
    for _ in range(repeats):
        for key in ("peer", "b1", "b64"):
            if key == "peer":
                r = semantic_peer(items, 64)
            else:
                r = time_scorer(sem, items, 1 if key == "b1" else 64)
                counts[1 if key == "b1" else 64] = (enc.calls, enc.misses, enc.hits)
            if key not in best or r[0] > best[key][0]:
                best[key] = r
    peer_ips, peer_scores = best["peer"]
    peer_texts = sum(1 + len(x.references) + min(
        SEMANTIC_KW["history_turns"],
        sum(1 for t in x.history if t.speaker == USER and t.text.strip()))
        for x in items if x.response.strip())
    cells: dict[str, dict[str, float]] = {}
    for batch in (1, 64):
        ips, scores = best[f"b{batch}"]
        calls, misses, hits = counts[batch]
        diff = float(np.max(np.abs(scores - peer_scores)))
        cells[f"batch_{batch}"] = {
            "items": len(items), "scorer_items_per_s": ips, "peer_items_per_s": peer_ips,
            "ratio": ips / peer_ips, "max_abs_score_diff": diff, "model_calls": calls,
            "texts_encoded": misses, "cache_hits": hits, "peer_model_calls": len(items),
            "peer_texts_encoded": peer_texts,
        }
        print(f"semantic vs SentenceTransformer.encode per item, {threads} torch thread(s), "
              f"batch {batch:>2}: {ips:7.1f} vs {peer_ips:7.1f} items/s = {ips / peer_ips:5.2f}x"
              f"  (max |diff| {diff:.0e}; model calls {calls} vs {len(items)}, texts encoded "
              f"{misses} vs {peer_texts})")
    return cells


def _accelerator(device: str) -> str | None:
    """Name of the GPU behind ``device`` (None on CPU)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--episodes", type=int, default=80)
    p.add_argument("--repeats", type=int, default=3, help="best of N timings per cell")
    p.add_argument("--torch-threads", type=int, default=1,
                   help="torch intra-op threads for scorer and peer alike (0: torch's default); "
                        "1 avoids oversubscription on a shared 2-core machine")
    p.add_argument("--ratio-threads", type=lambda v: [int(t) for t in v.split(",")],
                   default=[1, 2], help="torch thread counts of the semantic-vs-peer runs")
    p.add_argument("--ratio-items", type=int, default=60,
                   help="items of the semantic-vs-peer runs at thread counts other than "
                        "--torch-threads (small calls are slow when threads oversubscribe)")
    p.add_argument("--device", default="cpu",
                   help="torch device of the neural scorers and the semantic peer, e.g. cuda")
    p.add_argument("--scorers", default=None,
                   help="comma-separated scorer names to time (default: all registered)")
    p.add_argument("--out", default="benchmarks/results/perf_scorers.json")
    args = p.parse_args()
    global DEVICE
    DEVICE = args.device
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)

    items = build_workload(args.episodes)
    n_texts = len({t for x in items for t in (x.response, *x.references,
                                              *(u.text for u in x.history))})
    print(f"workload: {len(items)} scored turns from {args.episodes} expert episodes of "
          f"{ENV_ID} ({n_texts} distinct texts in replies, references and histories)")
    from dialog_gym.embedding import get_encoder

    get_encoder(device=DEVICE).encode(["warm up"])  # model load is not timed

    names = list_scorers() if args.scorers is None else args.scorers.split(",")
    results: dict[str, dict[str, float]] = {}
    for name in names:
        kw = {**SEMANTIC_KW, "device": DEVICE} if name == "semantic" else {}
        if name == "emotion_consistency":
            kw = {"device": DEVICE}
        try:
            scorer = make_scorer(name, **kw)
            scorer.score(items[:2])  # lazy loads (models, prototypes) are not timed
        except Exception as e:  # e.g. a plugin scorer that needs a checkpoint argument
            results[name] = {"skipped": f"{type(e).__name__}: {e}"}
            print(f"{name:<22} skipped ({type(e).__name__}: {e})")
            continue
        row = {}
        for batch in (1, 64):
            row[f"batch_{batch}_items_per_s"] = max(
                time_scorer(scorer, items, batch)[0] for _ in range(args.repeats))
        results[name] = {"cost": scorer.cost, "signature": scorer.signature(), **row}
        print(f"{name:<22} {scorer.cost:<9} batch 1: {row['batch_1_items_per_s']:10.0f} items/s"
              f"   batch 64: {row['batch_64_items_per_s']:10.0f} items/s")

    ratios: dict[str, dict[str, float]] = {}
    for threads in args.ratio_threads:
        n = len(items) if threads == args.torch_threads else min(len(items), args.ratio_items)
        key = f"torch_threads_{threads}"
        cells = semantic_ratio(items[:n], threads, args.repeats)
        results[f"semantic_vs_encode_per_item_{key}"] = cells
        ratios[key] = {b: c["ratio"] for b, c in cells.items()}
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)

    report = {
        "env_id": ENV_ID,
        "dialog_gym_version": dialog_gym.__version__,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "device": DEVICE, "accelerator": _accelerator(DEVICE),
                    "torch_threads": torch.get_num_threads(),
                    "load_average_1min": os.getloadavg()[0]},
        "workload": {"episodes": args.episodes, "items": len(items), "distinct_texts": n_texts,
                     "semantic_kwargs": SEMANTIC_KW, "repeats": args.repeats},
        "scorers": results,
        "semantic_ratio_vs_encode_per_item": ratios,
    }
    atomic_write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
