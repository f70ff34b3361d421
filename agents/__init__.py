"""Agents and their registry (installed as ``dialog_gym.agents``).

Built-ins are resolved lazily by name; third-party agents register through the
entry-point group ``dialog_gym.agents`` (``name = "pkg.module:Factory"``) and are found
by :func:`list_agents`, the CLI and the leaderboard with no change here.
"""

from __future__ import annotations

import inspect
from typing import Any

from dialog_gym.agents.base import Agent
from dialog_gym.registry import Registry

__all__ = ["Agent", "make_agent", "list_agents", "register_agent", "agent_registry"]

agent_registry: Registry[Agent] = Registry("agent", "dialog_gym.agents")

_BUILTINS = {
    "random": "dialog_gym.agents.baselines:RandomAgent",
    "expert": "dialog_gym.agents.baselines:ExpertAgent",
    "keyword-stuffing": "dialog_gym.agents.baselines:KeywordStuffingAgent",
    "echo": "dialog_gym.agents.baselines:EchoAgent",
    "repeat": "dialog_gym.agents.baselines:RepeatAgent",
}
for _name, _target in _BUILTINS.items():
    agent_registry.register(_name, _target)


def make_agent(name: str, **kwargs: Any) -> Agent:
    """Build the agent registered as ``name``.

    ``env_id`` is passed on only to factories that accept it, so env-agnostic plugins
    need not declare it.

    Raises:
        dialog_gym.error.RegistryError: unknown name (a close match is suggested).
        dialog_gym.error.PluginError: a plugin agent failed to import.
    """
    factory = agent_registry.resolve(name)
    if "env_id" in kwargs:
        try:
            params = inspect.signature(factory).parameters
        except (TypeError, ValueError):
            params = {}
        accepts = "env_id" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if not accepts:
            kwargs = {k: v for k, v in kwargs.items() if k != "env_id"}
    agent = factory(**kwargs)
    for method in ("act", "reset"):
        if not callable(getattr(agent, method, None)):
            raise TypeError(
                f"agent factory {name!r} returned {type(agent).__name__}, which has no "
                f"{method}() method; agents implement act(observation) -> str and reset()"
            )
    return agent


def list_agents(*, check: bool = False) -> list[str]:
    """Names of all registered agents (built-ins and plugins), sorted."""
    return agent_registry.names(check=check)


def register_agent(name: str):  # noqa: ANN201 - decorator
    """Class decorator: ``@register_agent("mine")`` makes it available by name."""
    return agent_registry.decorator(name)
