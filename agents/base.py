"""The agent protocol."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class Agent:
    """Base class of dialog-gym agents (the agent protocol).

    An agent maps an observation (the env's ``dict`` with ``context``, ``history`` and
    ``turn``) to a reply string. Required: :meth:`act` and :meth:`reset`. Optional:
    :meth:`act_batch` (vectorised envs), :meth:`learn`, :meth:`save`, :meth:`load`.
    Subclassing is optional too: any object with ``act`` and ``reset`` is accepted by
    :func:`~dialog_gym.agents.make_agent`, :func:`~dialog_gym.evaluation.evaluate` and
    :func:`~dialog_gym.testing.check_agent`.

    A plugin exposes a factory (the class itself, usually) in the entry-point group
    ``dialog_gym.agents`` of its ``pyproject.toml``::

        [project.entry-points."dialog_gym.agents"]
        my-agent = "my_package.agent:MyAgent"

    Factories may accept ``env_id`` (the env the agent will play); it is passed only to
    factories that declare it.

    Contract:
        - ``act`` must not modify the observation and must return a ``str`` (an empty
          reply is legal). Tool calls are written inline (:mod:`dialog_gym.tools`).
        - ``reset`` is called before every episode.
        - ``save(path)`` writes to a directory or file at ``path``; ``load(path)`` reads it
          into the agent and returns the agent.
    """

    #: registry name
    name: ClassVar[str] = "agent"

    def reset(self) -> None:
        """Forget the previous episode (called before each one)."""

    def act(self, observation: Mapping[str, Any]) -> str:
        """The reply to ``observation``."""
        raise NotImplementedError

    def act_batch(self, observations: Sequence[Mapping[str, Any]]) -> list[str]:
        """Replies to several observations (default: one :meth:`act` each)."""
        return [self.act(o) for o in observations]

    def learn(self, *args: Any, **kwargs: Any) -> Any:
        """Train the agent (only trainable agents implement this); returns the agent."""
        raise NotImplementedError(
            f"{type(self).__name__} is not trainable; trainable agents include sb3-ppo, "
            "sb3-a2c, sb3-dqn and sb3-maskable-ppo"
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the agent to ``path``."""
        raise NotImplementedError(f"{type(self).__name__} has nothing to save")

    def load(self, path: str | os.PathLike[str]) -> Agent:
        """Read the agent from ``path``; returns the agent."""
        raise NotImplementedError(f"{type(self).__name__} has nothing to load")

    def close(self) -> None:
        """Release resources (training envs, worker processes); safe to call twice."""

    @property
    def trainable(self) -> bool:
        """Whether this agent implements :meth:`learn`."""
        return type(self).learn is not Agent.learn

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
