"""Agents and their registry (installed as ``dialog_gym.agents``).

Built-ins are resolved lazily by name; third-party agents register through the
entry-point group ``dialog_gym.agents`` (``name = "pkg.module:Factory"``) and are found
by :func:`list_agents`, the CLI and the leaderboard with no change here.
"""

from __future__ import annotations

import inspect
from typing import Any

from dialog_gym.agents.base import Agent
from dialog_gym.error import ConfigError, Error, PluginError
from dialog_gym.registry import Registry

__all__ = ["Agent", "make_agent", "list_agents", "register_agent", "agent_registry"]

agent_registry: Registry[Agent] = Registry("agent", "dialog_gym.agents")

_BUILTINS = {
    "random": "dialog_gym.agents.baselines:RandomAgent",
    "expert": "dialog_gym.agents.baselines:ExpertAgent",
    "keyword-stuffing": "dialog_gym.agents.baselines:KeywordStuffingAgent",
    "echo": "dialog_gym.agents.baselines:EchoAgent",
    "repeat": "dialog_gym.agents.baselines:RepeatAgent",
    "random-candidate": "dialog_gym.agents.baselines:RandomCandidateAgent",
    "retrieval": "dialog_gym.agents.retrieval:RetrievalAgent",
    "sb3-ppo": "dialog_gym.agents.sb3.agent:PPOAgent",
    "sb3-a2c": "dialog_gym.agents.sb3.agent:A2CAgent",
    "sb3-dqn": "dialog_gym.agents.sb3.agent:DQNAgent",
    "sb3-maskable-ppo": "dialog_gym.agents.sb3.agent:MaskablePPOAgent",
    "llm": "dialog_gym.agents.llm.policy:LLMAgent",
}
for _name, _target in _BUILTINS.items():
    agent_registry.register(_name, _target)


def make_agent(name: str, **kwargs: Any) -> Agent:
    """Build the agent registered as ``name``.

    ``env_id`` is passed on only to factories that accept it, so env-agnostic plugins
    need not declare it.

    Raises:
        dialog_gym.error.RegistryError: unknown name (a close match is suggested).
        dialog_gym.error.PluginError: a plugin agent failed to import or to start.
        dialog_gym.error.ConfigError: the factory rejected the keyword arguments.
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
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as e:
        raise ConfigError(
            f"agent {name!r} does not take the arguments {sorted(kwargs)}: {e}. Its "
            f"signature is {_signature(factory)}."
        ) from e
    except ValueError:  # no introspectable signature: let the call decide
        pass
    try:
        agent = factory(**kwargs)
    except Error:
        raise
    except Exception as e:
        origin = agent_registry.origin(name)
        if not origin.startswith("plugin"):
            raise
        raise PluginError(
            f"agent {name!r} ({origin}) failed to start: {type(e).__name__}: {e}"
        ) from e
    for method in ("act", "reset"):
        if not callable(getattr(agent, method, None)):
            raise TypeError(
                f"agent factory {name!r} returned {type(agent).__name__}, which has no "
                f"{method}() method; agents implement act(observation) -> str and reset()"
            )
    return agent


def _signature(factory: Any) -> str:
    try:
        return f"{getattr(factory, '__name__', 'factory')}{inspect.signature(factory)}"
    except (TypeError, ValueError):
        return repr(factory)


def list_agents(*, check: bool = False) -> list[str]:
    """Names of all registered agents (built-ins and plugins), sorted.

    With ``check=True`` every entry is imported; a plugin that fails to import is left
    out and named in a warning (it is re-raised, with context, by :func:`make_agent`).
    """
    return agent_registry.names(check=check)


def register_agent(name: str):  # noqa: ANN201 - decorator
    """Class decorator: ``@register_agent("mine")`` makes it available by name."""
    return agent_registry.decorator(name)
