"""Batched evaluation of an agent with ``act_batch`` (many episodes side by side).

Episode ``i`` uses env seed ``seed + i`` exactly as :func:`dialog_gym.evaluation.evaluate`
does; the difference is that up to ``batch`` episodes run at once and their replies are
generated in one batch. The summary has the same keys (``mean_return``, ``ci95``,
``success_rate``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def evaluate_batched(agent: Any, env_id: str, *, episodes: int = 200, seed: int = 0,
                     batch: int = 32, env_kwargs: Mapping[str, Any] | None = None,
                     keep_transcripts: int = 0) -> dict[str, Any]:
    """Play ``episodes`` episodes (seeds ``seed..seed+episodes-1``) and aggregate."""
    import gymnasium as gym

    import dialog_gym  # noqa: F401
    from dialog_gym.evaluation import bootstrap_ci

    records: list[dict[str, Any]] = []
    todo = list(range(episodes))
    envs = [gym.make(env_id, **dict(env_kwargs or {})) for _ in range(min(batch, episodes))]
    slots: list[dict[str, Any] | None] = [None] * len(envs)

    def start(k: int) -> None:
        if not todo:
            slots[k] = None
            return
        i = todo.pop(0)
        obs, info = envs[k].reset(seed=seed + i)
        slots[k] = {"i": i, "obs": obs, "ret": 0.0, "turns": 0, "viol": 0, "scores": {},
                    "success": False, "info": info}

    for k in range(len(envs)):
        start(k)
    try:
        while any(s is not None for s in slots):
            active = [k for k, s in enumerate(slots) if s is not None]
            replies = agent.act_batch([slots[k]["obs"] for k in active])  # type: ignore[index]
            for k, reply in zip(active, replies):
                s = slots[k]
                assert s is not None
                obs, r, term, trunc, info = envs[k].step(reply)
                s["obs"] = obs
                s["ret"] += float(r)
                s["turns"] += 1
                s["viol"] += len(info.get("violations", ()))
                s["success"] = bool(info.get("success", False))
                for name, v in info.get("scores", {}).items():
                    s["scores"][name] = s["scores"].get(name, 0.0) + float(v)
                if term or trunc:
                    rec = {"seed": seed + s["i"], "scenario_id": info.get("scenario_id"),
                           "return": s["ret"], "turns": s["turns"], "success": s["success"],
                           "terminated": bool(term), "truncated": bool(trunc),
                           "violations": s["viol"], "scores": s["scores"]}
                    if len(records) < keep_transcripts:
                        rec["transcript"] = obs["history"]
                    records.append(rec)
                    start(k)
    finally:
        for e in envs:
            e.close()
    records.sort(key=lambda r: r["seed"])
    returns = [r["return"] for r in records]
    names = sorted({k for r in records for k in r["scores"]})
    return {
        "env_id": env_id, "episodes": len(records), "seed": seed,
        "mean_return": float(np.mean(returns)), "ci95": list(bootstrap_ci(returns)),
        "std_return": float(np.std(returns)),
        "success_rate": float(np.mean([r["success"] for r in records])),
        "mean_turns": float(np.mean([r["turns"] for r in records])),
        "mean_violations": float(np.mean([r["violations"] for r in records])),
        "scores": {k: float(np.mean([r["scores"].get(k, 0.0) for r in records]))
                   for k in names},
        "records": records,
    }
