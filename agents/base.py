"""The agent protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class Agent:
    """Base class of dialog-gym agents.

    An agent maps an observation (the env's ``dict`` with ``context``, ``history`` and
    ``turn``) to a reply string. Required: :meth:`act` and :meth:`reset`. Optional:
    :meth:`act_batch` (vectorised envs), :meth:`learn`, :meth:`save`, :meth:`load`.
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
        """Train the agent (only trainable agents implement this)."""
        raise NotImplementedError(f"{type(self).__name__} is not trainable")

    def save(self, path: str) -> None:
        """Write the agent to ``path``."""
        raise NotImplementedError(f"{type(self).__name__} has nothing to save")

    def load(self, path: str) -> Agent:
        """Read the agent from ``path``."""
        raise NotImplementedError(f"{type(self).__name__} has nothing to load")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
