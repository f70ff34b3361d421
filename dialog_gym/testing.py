"""Conformance checks for plugin authors, in the spirit of PettingZoo's ``api_test``.

Run :func:`check_agent` in your plugin's test suite::

    from dialog_gym.testing import check_agent

    def test_my_agent():
        check_agent(MyAgent(), "Dialog-CustomerService-v0")

It plays a few seeded episodes and checks the :class:`~dialog_gym.agents.Agent` contract
(DESIGN section 8): ``act`` returns a ``str`` without changing the observation, ``reset``
can be called at any time, ``act_batch`` (when present) returns one ``str`` per
observation, and ``save``/``load`` (when implemented) round-trip.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Mapping
from typing import Any

from dialog_gym.error import Error

__all__ = ["AgentCheckError", "check_agent"]


class AgentCheckError(Error, AssertionError):
    """An agent does not meet the dialog-gym agent contract."""


def _implements(agent: Any, method: str) -> bool:
    from dialog_gym.agents.base import Agent

    fn = getattr(type(agent), method, None)
    if fn is None or not callable(fn):
        return False
    return not (isinstance(agent, Agent) and fn is getattr(Agent, method))


def check_agent(agent: Any, env_id: str, *, episodes: int = 2, seed: int = 0,
                max_turns: int = 50, env_kwargs: Mapping[str, Any] | None = None,
                check_save: bool = True) -> dict[str, Any]:
    """Check that ``agent`` meets the agent contract on ``env_id``; return a short report.

    Args:
        agent: The agent (anything with ``act`` and ``reset``).
        env_id: A registered dialog-gym env id.
        episodes: Episodes to play (seeds ``seed, seed+1, ...``).
        seed: Seed of the first episode.
        max_turns: Stop an episode after this many replies (guards against endless envs).
        env_kwargs: Keyword arguments of ``gym.make``.
        check_save: Round-trip ``save``/``load`` when the agent implements them.

    Returns:
        ``{"episodes", "turns", "mean_return", "success_rate"}`` of the episodes played.

    Raises:
        AgentCheckError: what is wrong, and how to fix it.
    """
    import gymnasium as gym

    import dialog_gym  # noqa: F401  (registers ids)

    name = type(agent).__name__
    for method in ("act", "reset"):
        if not callable(getattr(agent, method, None)):
            raise AgentCheckError(f"{name} has no {method}() method; agents implement "
                                  "act(observation) -> str and reset() (subclass "
                                  "dialog_gym.agents.Agent)")
    env = gym.make(env_id, **dict(env_kwargs or {}))
    returns, successes, turns = [], [], 0
    last_obs: Any = None
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            agent.reset()
            total, done, t = 0.0, False, 0
            info: dict[str, Any] = {}
            while not done and t < max_turns:
                before = copy.deepcopy(obs)
                try:
                    reply = agent.act(obs)
                except Exception as e:
                    raise AgentCheckError(
                        f"{name}.act raised {type(e).__name__}: {e} (episode seed {seed + ep}, "
                        f"turn {t})") from e
                if not isinstance(reply, str):
                    raise AgentCheckError(
                        f"{name}.act returned {type(reply).__name__} ({reply!r:.60}); it must "
                        "return the reply as a str")
                if obs != before:
                    raise AgentCheckError(f"{name}.act changed the observation it was given; "
                                          "copy it before modifying it")
                last_obs = obs
                obs, reward, terminated, truncated, info = env.step(reply)
                total += float(reward)
                done = terminated or truncated
                t += 1
            turns += t
            returns.append(total)
            successes.append(bool(info.get("success", False)))
        agent.reset()  # must be callable between and after episodes
    finally:
        env.close()

    if last_obs is not None and _implements(agent, "act_batch"):
        replies = agent.act_batch([last_obs, last_obs])
        if not isinstance(replies, list) or len(replies) != 2 or not all(
                isinstance(r, str) for r in replies):
            raise AgentCheckError(f"{name}.act_batch([obs, obs]) returned {replies!r:.80}; "
                                  "expected a list of 2 str")

    if check_save and last_obs is not None and _implements(agent, "save") \
            and _implements(agent, "load"):
        with tempfile.TemporaryDirectory() as tmp:
            agent.save(tmp)
            loaded = agent.load(tmp)
            if loaded is None or not callable(getattr(loaded, "act", None)):
                raise AgentCheckError(f"{name}.load(path) returned {loaded!r:.60}; it must "
                                      "return the loaded agent (usually self)")
            reply = loaded.act(last_obs)
            if not isinstance(reply, str):
                raise AgentCheckError(f"after load, {name}.act returned "
                                      f"{type(reply).__name__}; expected str")

    n = len(returns)
    return {"episodes": n, "turns": turns,
            "mean_return": sum(returns) / n if n else 0.0,
            "success_rate": sum(successes) / n if n else 0.0}
