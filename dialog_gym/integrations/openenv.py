"""OpenEnv adapter: any dialog-gym env as an OpenEnv ``Environment``, server and client.

`OpenEnv <https://github.com/meta-pytorch/OpenEnv>`_ (``pip install "dialog-gym[openenv]"``,
package ``openenv-core``) serves environments over HTTP and WebSocket with typed, pydantic
actions and observations. This module gives dialog-gym's envs that shape:

- :class:`DialogAction`: the agent's turn, an OpenAI assistant message (``content`` plus
  optional ``tool_calls``; Hermes ``<tool_call>`` blocks and inline ``[name key=value]``
  calls in ``content`` work too).
- :class:`DialogObservation`: ``messages`` (the whole episode as chat messages, exactly the
  env's ``obs["messages"]``), ``new_messages`` (those this reset or step added),
  ``tool_schemas``, ``turn``, ``terminated``/``truncated``, ``info`` (the env's info, JSON
  safe), plus OpenEnv's ``reward`` and ``done``.
- :class:`DialogState`: ``episode_id``, ``step_count``, ``env_id``, ``scenario_id``,
  ``seed``, ``episode_return``, ``done``.
- :class:`DialogGymEnvironment`: the OpenEnv ``Environment`` wrapping
  ``gym.make(env_id, **make_kwargs)``; one instance per session.
- :func:`create_app`: the FastAPI app (OpenEnv's ``create_app``) serving one env id, each
  WebSocket session with its own env instance.
- :class:`DialogGymClient`: the typed OpenEnv ``EnvClient`` (async; ``.sync()`` for the
  blocking wrapper).

Serve from the command line::

    python -m dialog_gym.integrations.openenv --env Dialog-CustomerService-v0 --port 8011

See ``docs/integrations/openenv.md``.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from dialog_gym.extras import require

_FEATURE = "the OpenEnv adapter"
_core = require("openenv.core", _FEATURE)
_env_client = require("openenv.core.env_client", _FEATURE)
_client_types = require("openenv.core.client_types", _FEATURE)

import gymnasium as gym  # noqa: E402
from pydantic import Field, field_validator  # noqa: E402

import dialog_gym  # noqa: E402,F401  (registers the env ids)
from dialog_gym.error import Error as DialogGymError  # noqa: E402
from dialog_gym.error import ResetNeeded  # noqa: E402
from dialog_gym.registration import check_env_id  # noqa: E402

Action = _core.Action
Observation = _core.Observation
State = _core.State
Environment = _core.Environment
EnvClient = _env_client.EnvClient
StepResult = _client_types.StepResult
EnvironmentMetadata = _core.env_server.types.EnvironmentMetadata

#: Keys of an assistant message that :meth:`DialogAction.from_message` keeps.
_MESSAGE_KEYS = ("content", "tool_calls")
#: Default number of concurrent WebSocket sessions of :func:`create_app`.
DEFAULT_MAX_SESSIONS = 64


class DialogAction(Action):
    """The agent's turn: an OpenAI assistant message.

    With ``tool_calls`` empty (or absent) the env gets ``content`` as a plain string reply,
    exactly as ``env.step("...")`` would (inline ``[name key=value]`` and Hermes
    ``<tool_call>`` calls in it are parsed); otherwise it gets the message
    ``{"role": "assistant", "content": content, "tool_calls": tool_calls}``. Tool-call
    entries are OpenAI's ``{"id", "type": "function", "function": {"name", "arguments"}}``
    (``arguments`` a JSON string or an object) or the flat ``{"name", "arguments"}``; a
    malformed entry becomes an error tool result, as in the env.
    """

    role: Literal["assistant"] = Field(
        default="assistant", description="Always 'assistant' (lets an OpenAI message validate)")
    content: str = Field(default="", description="What the agent says (may hold inline or "
                                                 "Hermes tool calls)")
    tool_calls: list[dict[str, Any]] = Field(
        default_factory=list, description="OpenAI tool calls of this turn")

    @field_validator("content", mode="before")
    @classmethod
    def _none_content(cls, value: Any) -> Any:
        # the OpenAI API returns content=None for a message made only of tool calls
        return "" if value is None else value

    @field_validator("tool_calls", mode="before")
    @classmethod
    def _none_calls(cls, value: Any) -> Any:
        return [] if value is None else value

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> DialogAction:
        """The action of an assistant message, e.g. one returned by an OpenAI client.

        Keys other than ``content`` and ``tool_calls`` (``source``, ``refusal``, ...) are
        dropped; a role other than ``assistant`` is an error.

        Example:
            >>> DialogAction.from_message({"role": "assistant", "content": None,
            ...     "tool_calls": [{"name": "lookup_order", "arguments": {"order": "A1"}}]}
            ... ).tool_calls[0]["name"]
            'lookup_order'
        """
        if not isinstance(message, Mapping):
            raise TypeError(f"expected an assistant message dict, got "
                            f"{type(message).__name__}")
        role = message.get("role", "assistant")
        if role != "assistant":
            raise ValueError(f"an action message must have role 'assistant', got {role!r}")
        return cls(**{k: message[k] for k in _MESSAGE_KEYS if k in message})

    @classmethod
    def coerce(cls, action: DialogAction | str | Mapping[str, Any]) -> DialogAction:
        """A :class:`DialogAction` from itself, a plain string or an assistant message."""
        if isinstance(action, DialogAction):
            return action
        if isinstance(action, str):
            return cls(content=action)
        if isinstance(action, Mapping):
            return cls.from_message(action)
        raise TypeError(f"action must be a DialogAction, a str or an assistant message dict, "
                        f"got {type(action).__name__}: {action!r:.80}")

    def to_gym(self) -> str | dict[str, Any]:
        """The action in the form ``env.step`` takes (see the class docstring)."""
        if not self.tool_calls:
            return self.content
        return {"role": "assistant", "content": self.content,
                "tool_calls": copy.deepcopy(self.tool_calls)}


class DialogObservation(Observation):
    """What the agent sees after a reset or a step.

    ``messages`` is the env's ``obs["messages"]``: the whole episode so far as OpenAI chat
    messages, each with its ``source`` (append-only: one observation's messages are a
    prefix of the next one's). ``new_messages`` are those this call added (at reset the
    system context and the user's opening; after a step the agent's turn as heard, its tool
    results and the user's reply). ``reward`` is ``None`` at reset.
    """

    messages: list[dict[str, Any]] = Field(
        default_factory=list, description="The episode so far as OpenAI chat messages")
    new_messages: list[dict[str, Any]] = Field(
        default_factory=list, description="The messages added by this reset or step")
    tool_schemas: list[dict[str, Any]] = Field(
        default_factory=list, description="The env's tools as OpenAI function schemas")
    turn: int = Field(default=0, ge=0, description="Agent replies so far")
    terminated: bool = Field(default=False, description="The dialogue ended")
    truncated: bool = Field(default=False, description="The step limit cut the episode")
    info: dict[str, Any] = Field(
        default_factory=dict,
        description="The env's info (scenario_id, scores, violations, success, progress, "
                    "tool_results, user, episode_summary, ...), JSON safe")


class DialogState(State):
    """The session's episode: OpenEnv's ``episode_id`` and ``step_count`` and more."""

    env_id: str = Field(default="", description="The dialog-gym env id")
    scenario_id: str | None = Field(
        default=None, description="Scenario of the episode (replay: reset(scenario_id=...))")
    difficulty: int | None = Field(default=None, description="Difficulty of the scenario")
    seed: int | None = Field(default=None, description="Seed of the last reset")
    episode_return: float = Field(default=0.0, description="Sum of the rewards so far")
    done: bool = Field(default=False, description="The episode has ended")


class DialogGymEnvironment(Environment):
    """An OpenEnv ``Environment`` playing ``gym.make(env_id, **make_kwargs)``.

    Each instance owns its gym env, so OpenEnv's server gives every WebSocket session its
    own (``SUPPORTS_CONCURRENT_SESSIONS``; the envs share only thread-safe caches).

    Args:
        env_id: A dialog-gym env id (``dialog_gym.env_ids()``).
        **make_kwargs: Keyword arguments of ``gym.make`` (``reward``, ``difficulty``, ...).

    Example:
        >>> env = DialogGymEnvironment("Dialog-CustomerService-v0")
        >>> obs = env.reset(seed=0)
        >>> [m["role"] for m in obs.messages]
        ['system', 'user']
        >>> obs = env.step(DialogAction(content="Hello, how can I help?"))
        >>> obs.messages[2]["role"], isinstance(obs.reward, float)
        ('assistant', True)
    """

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, env_id: str = "Dialog-CustomerService-v0", **make_kwargs: Any) -> None:
        super().__init__()
        self.env_id = check_env_id(env_id)
        self.make_kwargs = dict(make_kwargs)
        self.env = gym.make(self.env_id, **self.make_kwargs)
        self._state = DialogState(env_id=self.env_id)
        self._messages: list[dict[str, Any]] = []
        self._started = False

    @property
    def tool_schemas(self) -> list[dict[str, Any]]:
        """The env's tools as OpenAI Chat Completions function schemas."""
        return copy.deepcopy(self.env.unwrapped.tool_schemas)

    def reset(self, seed: int | None = None, episode_id: str | None = None,
              **kwargs: Any) -> DialogObservation:
        """Start an episode.

        Args:
            seed: Seeds the scenario choice and the user's wording (same seed, same
                episode).
            episode_id: Names the episode (a fresh UUID by default).
            **kwargs: The env's reset options: ``scenario_id`` and/or ``difficulty``;
                anything else is an error.
        """
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
        obs, info = self.env.reset(seed=seed, options=kwargs or None)
        self._started = True
        self._messages = obs["messages"]
        self._state = DialogState(
            episode_id=str(episode_id) if episode_id is not None else str(uuid.uuid4()),
            step_count=0, env_id=self.env_id, scenario_id=info.get("scenario_id"),
            difficulty=info.get("difficulty"), seed=seed, episode_return=0.0, done=False)
        return self._observation(obs, list(obs["messages"]), None, False, False, info)

    def step(self, action: DialogAction | str | Mapping[str, Any],
             timeout_s: float | None = None, **kwargs: Any) -> DialogObservation:
        """Play one agent turn (a :class:`DialogAction`, a string or an assistant message).

        Raises:
            dialog_gym.error.ResetNeeded: Before the first reset or after the episode
                ended.
        """
        action = DialogAction.coerce(action)
        if not self._started:
            raise ResetNeeded("step() called before reset(); call reset() first")
        obs, reward, terminated, truncated, info = self.env.step(action.to_gym())
        reward = float(reward)
        new = obs["messages"][len(self._messages):]
        self._messages = obs["messages"]
        self._state.step_count += 1
        self._state.episode_return += reward
        self._state.done = bool(terminated or truncated)
        return self._observation(obs, new, reward, bool(terminated), bool(truncated), info)

    @property
    def state(self) -> DialogState:
        """The current episode's :class:`DialogState` (a copy)."""
        return self._state.model_copy(deep=True)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The episode so far as chat messages (a copy)."""
        return copy.deepcopy(self._messages)

    def get_metadata(self) -> Any:
        """Name, description and version shown by the server's ``/metadata``."""
        doc = (type(self.env.unwrapped).__doc__ or "").strip().splitlines()
        return EnvironmentMetadata(
            name=f"dialog-gym {self.env_id}",
            description=doc[0] if doc else f"dialog-gym {self.env_id}",
            version=dialog_gym.__version__,
            documentation_url="docs/integrations/openenv.md",
        )

    def close(self) -> None:
        """Close the gym env (safe to call twice)."""
        self.env.close()

    def _observation(self, obs: Mapping[str, Any], new: Sequence[Mapping[str, Any]],
                     reward: float | None, terminated: bool, truncated: bool,
                     info: Mapping[str, Any]) -> DialogObservation:
        info = _jsonable({k: v for k, v in info.items() if k != "tool_schemas"})
        metadata = {"env_id": self.env_id, "episode_id": self._state.episode_id,
                    "scenario_id": self._state.scenario_id, **info}
        return DialogObservation(
            messages=copy.deepcopy(list(obs["messages"])),
            new_messages=copy.deepcopy(list(new)),
            tool_schemas=self.tool_schemas, turn=int(obs["turn"]),
            terminated=terminated, truncated=truncated, info=info,
            reward=reward, done=terminated or truncated, metadata=metadata)


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays, tuples and sets made JSON types."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "tolist"):  # numpy scalar or array
        return _jsonable(value.tolist())
    return str(value)


def create_app(env_id: str = "Dialog-CustomerService-v0", *,
               max_concurrent_envs: int = DEFAULT_MAX_SESSIONS, **make_kwargs: Any) -> Any:
    """The FastAPI app serving ``env_id`` with OpenEnv's ``create_app``.

    Every WebSocket session (``/ws``, what :class:`DialogGymClient` uses) gets its own
    :class:`DialogGymEnvironment`, up to ``max_concurrent_envs`` at once. OpenEnv's HTTP
    ``/reset`` and ``/step`` build a fresh env per request (so ``/step`` over HTTP has no
    episode); play episodes over the WebSocket.

    Args:
        env_id: The dialog-gym env id to serve.
        max_concurrent_envs: Most concurrent sessions.
        **make_kwargs: Keyword arguments of ``gym.make`` for every session's env.

    Raises:
        dialog_gym.error.RegistryError: ``env_id`` is not registered.
    """
    if not isinstance(max_concurrent_envs, int) or max_concurrent_envs < 1:
        raise ValueError(f"max_concurrent_envs must be an int >= 1, got "
                         f"{max_concurrent_envs!r}")
    DialogGymEnvironment(env_id, **make_kwargs).close()  # fail now on a bad id or kwargs
    factory = functools.partial(DialogGymEnvironment, env_id, **make_kwargs)
    return _core.create_app(factory, DialogAction, DialogObservation, env_name=env_id,
                            max_concurrent_envs=max_concurrent_envs)


class DialogGymClient(EnvClient):
    """The typed OpenEnv client of a dialog-gym server (WebSocket, one session each).

    ``step`` takes a :class:`DialogAction`, a plain string or an assistant message dict;
    results are ``StepResult[DialogObservation]`` and ``state()`` a :class:`DialogState`.

    Example (against a running server)::

        async with DialogGymClient(base_url="http://127.0.0.1:8011") as env:
            result = await env.reset(seed=0)
            result = await env.step(DialogAction(content="Hi, how can I help?"))

        with DialogGymClient(base_url="http://127.0.0.1:8011").sync() as env:
            first = env.reset(seed=0).observation.messages[1]["content"]
    """

    def _step_payload(self, action: DialogAction | str | Mapping[str, Any]) -> dict[str, Any]:
        return DialogAction.coerce(action).model_dump()

    def _parse_result(self, payload: dict[str, Any]) -> Any:
        fields = dict(payload.get("observation", {}))
        reward, done = payload.get("reward"), bool(payload.get("done", False))
        obs = DialogObservation(**fields, reward=reward, done=done)
        return StepResult(observation=obs, reward=reward, done=done)

    def _parse_state(self, payload: dict[str, Any]) -> DialogState:
        return DialogState(**payload)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve one dialog-gym env over OpenEnv's HTTP/WebSocket API with uvicorn."""
    parser = argparse.ArgumentParser(
        prog="python -m dialog_gym.integrations.openenv",
        description="Serve a dialog-gym env as an OpenEnv environment.")
    parser.add_argument("--env", default="Dialog-CustomerService-v0",
                        help="dialog-gym env id (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=8000, help="default: %(default)s")
    parser.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS,
                        help="most concurrent WebSocket sessions (default: %(default)s)")
    parser.add_argument("--make-kwargs", default="{}", metavar="JSON",
                        help='gym.make keyword arguments as a JSON object, e.g. '
                             '\'{"difficulty": 1}\'')
    parser.add_argument("--log-level", default="info", help="uvicorn log level")
    args = parser.parse_args(argv)
    try:
        make_kwargs = json.loads(args.make_kwargs)
    except json.JSONDecodeError as e:
        parser.error(f"--make-kwargs is not JSON: {e}")
    if not isinstance(make_kwargs, dict):
        parser.error("--make-kwargs must be a JSON object")
    if args.max_sessions < 1:
        parser.error("--max-sessions must be >= 1")
    uvicorn = require("uvicorn", _FEATURE)
    try:
        app = create_app(args.env, max_concurrent_envs=args.max_sessions, **make_kwargs)
    except (DialogGymError, TypeError) as e:  # unknown env id, bad gym.make kwargs
        parser.error(e.args[0] if e.args else str(e))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


__all__ = ["DialogAction", "DialogGymClient", "DialogGymEnvironment", "DialogObservation",
           "DialogState", "create_app", "main"]

if __name__ == "__main__":
    main()
