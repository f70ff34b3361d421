"""Evaluate an agent on an environment: returns, success, confidence intervals."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from dialog_gym.error import ConfigError


def bootstrap_ci(values: Sequence[float], *, level: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (deterministic by ``seed``).

    Example:
        >>> lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0])
        >>> lo < 2.5 < hi
        True
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return (math.nan, math.nan)
    if x.size == 1:
        return (float(x[0]), float(x[0]))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    return (float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha)))


def run_episode(env: gym.Env, agent: Any, *, seed: int | None = None,
                options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Play one episode; return its summary (return, turns, success, scores, transcript)."""
    obs, info = env.reset(seed=seed, options=options)
    agent.reset()
    total, turns, success = 0.0, 0, False
    sums: dict[str, float] = {}
    violations = 0
    terminated = truncated = False
    while not (terminated or truncated):
        action = agent.act(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        turns += 1
        success = bool(info.get("success", False))
        violations += len(info.get("violations", ()))
        for k, v in info.get("scores", {}).items():
            sums[k] = sums.get(k, 0.0) + float(v)
    return {
        "seed": seed,
        "scenario_id": info.get("scenario_id"),
        "return": total,
        "turns": turns,
        "success": success,
        "terminated": bool(terminated),
        "truncated": bool(truncated),
        "violations": violations,
        "scores": sums,
        "transcript": obs["history"],
    }


def evaluate(agent: Any, env_id: str, *, episodes: int = 10, seed: int = 0,
             env_kwargs: Mapping[str, Any] | None = None,
             keep_transcripts: bool = False) -> dict[str, Any]:
    """Run ``episodes`` episodes with seeds ``seed, seed+1, ...`` and aggregate.

    Returns:
        ``mean_return``, ``ci95`` (bootstrap), ``success_rate``, ``mean_turns``,
        ``mean_violations``, ``scores`` (per-scorer mean episode sums), ``episodes``
        (per-episode records; transcripts only with ``keep_transcripts``).
    """
    if episodes < 1:
        raise ConfigError(f"episodes must be >= 1, got {episodes}")
    env = gym.make(env_id, **dict(env_kwargs or {}))
    records = []
    try:
        for i in range(episodes):
            rec = run_episode(env, agent, seed=seed + i)
            if not keep_transcripts:
                rec.pop("transcript")
            records.append(rec)
    finally:
        env.close()
    returns = [r["return"] for r in records]
    names = sorted({k for r in records for k in r["scores"]})
    return {
        "env_id": env_id,
        "episodes": len(records),
        "seed": seed,
        "mean_return": float(np.mean(returns)),
        "ci95": list(bootstrap_ci(returns)),
        "success_rate": float(np.mean([r["success"] for r in records])),
        "mean_turns": float(np.mean([r["turns"] for r in records])),
        "mean_violations": float(np.mean([r["violations"] for r in records])),
        "scores": {k: float(np.mean([r["scores"].get(k, 0.0) for r in records]))
                   for k in names},
        "records": records,
    }
