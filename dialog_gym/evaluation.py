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
                options: Mapping[str, Any] | None = None,
                trajectory: bool = False) -> dict[str, Any]:
    """Play one episode; return its summary (return, turns, success, scores, transcript).

    With ``trajectory=True`` the summary also holds ``"trajectory"``: the episode as
    chat messages with the env's tools and per-turn rewards (see :func:`trajectory_record`).
    """
    obs, info = env.reset(seed=seed, options=options)
    agent.reset()
    total, turns, success = 0.0, 0, False
    sums: dict[str, float] = {}
    violations = 0
    terminated = truncated = False
    per_turn: list[dict[str, Any]] = []
    while not (terminated or truncated):
        action = agent.act(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        turns += 1
        success = bool(info.get("success", False))
        violations += len(info.get("violations", ()))
        for k, v in info.get("scores", {}).items():
            sums[k] = sums.get(k, 0.0) + float(v)
        if trajectory:
            per_turn.append({"reward": float(reward),
                             "scores": {k: float(v) for k, v in info.get("scores", {}).items()},
                             "violations": list(info.get("violations", ())),
                             "success": success, "progress": info.get("progress")})
    rec = {
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
    if trajectory:
        rec["trajectory"] = trajectory_record(env, obs, per_turn, rec)
    return rec


def trajectory_record(env: gym.Env, obs: Mapping[str, Any], per_turn: Sequence[Mapping[str, Any]],
                      summary: Mapping[str, Any]) -> dict[str, Any]:
    """One episode as a JSON-ready chat trajectory, for SFT and other frameworks.

    Fields: ``env_id``, ``seed``, ``scenario_id``, ``messages`` (the final
    ``obs["messages"]``, with ``source`` on each message), ``tools`` (the env's OpenAI
    function schemas), ``turn_rewards`` (one entry per agent turn: ``reward``, ``scores``,
    ``violations``, ``success``, ``progress`` and ``message_index``, the index of that
    turn's assistant message in ``messages``), ``return``, ``success``, ``turns``,
    ``terminated``, ``truncated``.
    """
    messages = obs.get("messages")
    if messages is None:
        raise ConfigError(
            "saving trajectories needs obs['messages'], which this env's observations lack "
            "(a wrapper removed it?); evaluate the env without that wrapper")
    assistant = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if len(assistant) != len(per_turn):
        raise RuntimeError(f"{len(per_turn)} agent turns but {len(assistant)} assistant messages")
    spec = getattr(env, "spec", None)
    return {
        "env_id": spec.id if spec is not None else type(env.unwrapped).__name__,
        "seed": summary["seed"],
        "scenario_id": summary["scenario_id"],
        "messages": messages,
        "tools": list(getattr(env.unwrapped, "tool_schemas", [])),
        "turn_rewards": [{**t, "message_index": i} for t, i in zip(per_turn, assistant,
                                                                   strict=True)],
        "return": summary["return"],
        "success": summary["success"],
        "turns": summary["turns"],
        "terminated": summary["terminated"],
        "truncated": summary["truncated"],
    }


class TrajectoryWriter:
    """Appends trajectories to a JSONL file, one episode per line, flushed as written.

    Args:
        path: The ``.jsonl`` file (its folder is created; an existing file is replaced).
        metadata: Fields added to every line (e.g. ``{"agent": "expert"}``).
    """

    def __init__(self, path: str, metadata: Mapping[str, Any] | None = None) -> None:
        import os

        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        self.path = path
        self.metadata = dict(metadata or {})
        self._f = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.count = 0

    def write(self, trajectory: Mapping[str, Any]) -> None:
        """Write one trajectory line."""
        import json

        self._f.write(json.dumps({**self.metadata, **trajectory}, ensure_ascii=False) + "\n")
        self._f.flush()
        self.count += 1

    def close(self) -> None:
        """Close the file."""
        self._f.close()

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_trajectories(path: str) -> list[dict[str, Any]]:
    """The trajectories of a JSONL file written by :class:`TrajectoryWriter`."""
    import json

    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluate(agent: Any, env_id: str, *, episodes: int = 10, seed: int = 0,
             env_kwargs: Mapping[str, Any] | None = None,
             keep_transcripts: bool = False,
             save_trajectories: str | None = None,
             trajectory_metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run ``episodes`` episodes with seeds ``seed, seed+1, ...`` and aggregate.

    ``save_trajectories`` names a JSONL file that receives every episode as a chat
    trajectory (:func:`trajectory_record`), each line with ``trajectory_metadata`` added.

    Returns:
        ``mean_return``, ``ci95`` (bootstrap), ``success_rate``, ``mean_turns``,
        ``mean_violations``, ``scores`` (per-scorer mean episode sums), ``episodes``
        (per-episode records; transcripts only with ``keep_transcripts``).
    """
    if episodes < 1:
        raise ConfigError(f"episodes must be >= 1, got {episodes}")
    env = gym.make(env_id, **dict(env_kwargs or {}))
    records = []
    writer = (TrajectoryWriter(save_trajectories, trajectory_metadata)
              if save_trajectories else None)
    try:
        for i in range(episodes):
            rec = run_episode(env, agent, seed=seed + i, trajectory=writer is not None)
            if writer is not None:
                writer.write(rec.pop("trajectory"))
            if not keep_transcripts:
                rec.pop("transcript")
            records.append(rec)
    finally:
        env.close()
        if writer is not None:
            writer.close()
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
