"""Stable-Baselines3 agents on dialogue envs (installed as ``dialog_gym.agents.sb3``).

Registered names: ``sb3-ppo``, ``sb3-a2c``, ``sb3-dqn`` and ``sb3-maskable-ppo`` (the last
needs sb3-contrib). Each is an :class:`~dialog_gym.agents.Agent` that owns its view of
the env (:class:`~dialog_gym.wrappers.CandidateActions` under
:class:`~dialog_gym.wrappers.EmbeddingObservation`), trains with ``learn``, saves an SB3
zip plus a JSON config with ``save``, and plays raw env observations with ``act``::

    agent = make_agent("sb3-ppo", env_id="Dialog-CustomerService-v0")
    agent.learn(50_000, progress_bar=True)
    agent.save("runs/ppo")
    agent = make_agent("sb3-ppo", path="runs/ppo")   # in evaluate / leaderboard

This package's ``__init__`` imports nothing heavy: the CLI imports
``dialog_gym.agents.sb3.cli`` at start-up. Attributes load lazily.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SB3Agent", "PPOAgent", "A2CAgent", "DQNAgent", "MaskablePPOAgent", "train"]


def __getattr__(name: str) -> Any:
    if name in ("SB3Agent", "PPOAgent", "A2CAgent", "DQNAgent", "MaskablePPOAgent", "train"):
        from dialog_gym.agents.sb3 import agent

        return getattr(agent, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
