r"""Demonstrations exported from the environments (``dialog-gym export-demos``).

One JSON line per episode played by an env's scripted expert::

    {"env_id": ..., "seed": 7, "scenario_id": ..., "labels": {"user": "Customer", ...},
     "context": "...", "messages": [{"role": "system", ...}, ...], "tools": [...],
     "history": "Customer: ...\\nAgent: ...\\n...", "replies": [...],
     "return": 2.31, "success": true, "turns": 3}

``messages`` is the episode as the env's chat messages (``obs["messages"]`` after the
last step: the expert's replies are its assistant messages, with their ``tool_calls``);
the state before each reply is its prefix. ``tools`` are the env's tool schemas.
``history`` and ``replies`` are the same episode as text. The file is the corpus of the
embedded tokenizer, the SFT data and the source of the reward model's chosen replies.

With ``noise > 0`` some replies are deliberately degraded copies of the expert's (a wrong
digit, a dropped tool call, ...; DART-style noise injection, Laskey et al. 2017): the
expert then shows how to recover from the states such mistakes lead to. Those replies
are marked ``false`` in ``"expert"`` and are context, never targets.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

from dialog_gym.error import ConfigError

NOISE_KINDS = ("digit", "digit", "drop_calls", "truncate", "repeat")


def play_expert(env_id: str, seeds: Sequence[int], *, env_kwargs: dict[str, Any] | None = None,
                noise: float = 0.0) -> Iterator[dict[str, Any]]:
    """Play the env's scripted expert on each seed; yield one record per episode.

    Args:
        env_id: A registered dialog-gym id.
        seeds: Env seeds, one episode each.
        env_kwargs: Extra ``gym.make`` arguments.
        noise: Probability that a turn's reply is a degraded copy of the expert's.
    """
    import gymnasium as gym
    import numpy as np

    import dialog_gym  # noqa: F401  (registers ids)
    from dialog_gym.agents import make_agent
    from dialog_gym.agents.llm.rm import degrade

    env = gym.make(env_id, **dict(env_kwargs or {}))
    expert = make_agent("expert", env_id=env_id)
    labels = dict(getattr(env.unwrapped, "domain", None).labels) if hasattr(
        env.unwrapped, "domain") else {"user": "User", "agent": "Agent", "system": "System"}
    try:
        for seed in seeds:
            obs, info = env.reset(seed=int(seed))
            expert.reset()
            context = obs["context"]
            replies: list[str] = []
            flags: list[bool] = []
            rng = np.random.default_rng([int(seed), 0xD1])
            total, done, success = 0.0, False, False
            while not done:
                reply = expert.act(obs)
                is_expert = True
                if noise > 0 and rng.random() < noise:
                    kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
                    bad = degrade(reply, kind, rng, previous=replies)
                    if bad is not None and bad.strip() and bad != reply:
                        reply, is_expert = bad, False
                obs, reward, terminated, truncated, info = env.step(reply)
                replies.append(reply)
                flags.append(is_expert)
                total += float(reward)
                success = bool(info.get("success", False))
                done = terminated or truncated
            yield {"env_id": env_id, "seed": int(seed), "scenario_id": info.get("scenario_id"),
                   "labels": labels, "context": context, "messages": obs["messages"],
                   "tools": list(getattr(env.unwrapped, "tool_schemas", None) or []),
                   "history": obs["history"],
                   "replies": replies, "expert": flags, "return": total, "success": success,
                   "turns": len(replies)}
    finally:
        env.close()


def export_demos(env_id: str, path: str | os.PathLike[str], *, episodes: int = 1000,
                 seed: int = 0, env_kwargs: dict[str, Any] | None = None,
                 noise: float = 0.0) -> dict[str, Any]:
    """Write ``episodes`` expert episodes (seeds ``seed, seed+1, ...``) to a JSONL file.

    ``noise`` is the share of degraded (non-target) replies, see the module docstring.

    Returns:
        A summary: path, episodes, mean return, success rate, turns.
    """
    from dialog_gym.agents.llm.checkpoint import atomic_write_text

    if episodes < 1:
        raise ConfigError(f"episodes must be >= 1, got {episodes}")
    if not 0.0 <= noise < 1.0:
        raise ConfigError(f"noise must be in [0, 1), got {noise}")
    records = list(play_expert(env_id, range(seed, seed + episodes), env_kwargs=env_kwargs,
                               noise=noise))
    atomic_write_text(os.fspath(path),
                      "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    n = len(records)
    return {"path": os.fspath(path), "env_id": env_id, "episodes": n, "seed": seed,
            "mean_return": sum(r["return"] for r in records) / n,
            "success_rate": sum(r["success"] for r in records) / n,
            "turns": sum(r["turns"] for r in records),
            "expert_replies": sum(sum(r["expert"]) for r in records)}


def load_demos(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a demonstrations file written by :func:`export_demos`."""
    if not os.path.isfile(path):
        raise ConfigError(
            f"no demonstrations file at {os.fspath(path)!r}; write one with "
            "`dialog-gym export-demos --env ID --out FILE`")
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{os.fspath(path)}:{n} is not JSON: {e}") from e
            for key in ("context", "messages", "replies"):
                if key not in rec:
                    raise ConfigError(
                        f"{os.fspath(path)}:{n} has no {key!r}; expected records written by "
                        "`dialog-gym export-demos` (files from before chat messages lack "
                        "'messages': export them again)")
            out.append(rec)
    if not out:
        raise ConfigError(f"{os.fspath(path)!r} holds no demonstrations")
    return out
