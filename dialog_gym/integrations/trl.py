"""dialog-gym environments as TRL ``GRPOTrainer(environment_factory=...)`` environments.

TRL 1.16 trains a policy on multi-turn tool use by giving each rollout its own
environment object: ``reset(**row)`` starts it (the dataset row's columns are passed as
keywords; the string it returns is appended to the last user message of the prompt),
every public method of the object is a tool the model may call (TRL reads the name,
type hints and Google-style docstring, exactly like ``transformers.utils.get_json_schema``),
and ``get_reward()`` scores the finished rollout. A turn without a tool call ends TRL's
loop.

:func:`environment_factory` builds such objects for a dialog-gym env::

    from trl import GRPOConfig, GRPOTrainer
    from dialog_gym.integrations.trl import environment_factory

    trainer = GRPOTrainer(model=..., args=GRPOConfig(...), train_dataset=dataset,
                          environment_factory=environment_factory("Dialog-CustomerService-v0"))

Mapping of tool calls onto env steps (one env step per tool call, so every call gets the
user's reaction and the reward terms of that step):

- ``respond(message)``: one ``env.step(message)``; returns what the user says next.
- an env tool (one method per tool of the env, e.g. ``verify_identity(email, zip)``):
  one ``env.step({"role": "assistant", "content": "", "tool_calls": [call]})`` (nothing
  is said to the user); returns the tool result as JSON (``ok``, ``message``, ``data``)
  with the user's reaction under ``"user"``.
- after the episode ended (the user left, a severe rule was broken, or the env's step
  limit was hit) every call returns a message saying so, and runs nothing.
- the final text turn (the one without a tool call, which ends TRL's loop) is not sent
  to the env.

``get_reward()`` is the episode's return (the sum of the env's rewards so far);
:attr:`DialogGymEnvironment.turn_rewards`, :attr:`~DialogGymEnvironment.scores` and
:attr:`~DialogGymEnvironment.infos` hold each step's reward, reward terms
(``info["scores"]``) and info.

:data:`HERMES_CHAT_TEMPLATE` and :data:`HERMES_RESPONSE_TEMPLATE` (set both with
:func:`add_hermes_templates`) give a tokenizer without a tool-calling template one that
TRL can render and parse (ChatML turns, tools in the system turn, calls as Hermes
``<tool_call>{json}</tool_call>``, results as ``tool`` turns).
"""

from __future__ import annotations

import inspect
import json
import keyword
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import gymnasium as gym

from dialog_gym.error import ConfigError
from dialog_gym.extras import require

# importing the adapter without trl names the extra to install
require("trl", "the TRL adapter")

#: Methods TRL treats specially, and the message tool: no env tool may take these names.
RESERVED = ("reset", "get_reward", "respond")

#: The text that tells the agent how to act, appended to the reset observation.
DEFAULT_INSTRUCTIONS = (
    "Speak to the user only with the respond tool (its result is the user's reply); "
    "use the other tools to act. When the conversation has ended, answer with a short "
    "closing text without a tool call."
)

ENDED = "The conversation has ended; nothing was sent or run."

#: A ChatML chat template with tool support: the tools' JSON schemas go into the system
#: turn, assistant tool calls are rendered as Hermes ``<tool_call>{json}</tool_call>``
#: blocks and tool results as ``tool`` turns. Prefix-preserving (an earlier turn renders
#: the same whatever follows), as TRL's multi-turn loop needs.
HERMES_CHAT_TEMPLATE = (
    "{% set ns = namespace(system='') %}"
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set ns.system = messages[0]['content'] %}{% set msgs = messages[1:] %}"
    "{% else %}{% set msgs = messages %}{% endif %}"
    "{% if tools %}"
    "{% set ns.system = (ns.system ~ '\\n\\n' if ns.system else '') ~ '# Tools\\n'"
    " ~ 'Call a tool with <tool_call>{\"name\": ..., \"arguments\": {...}}</tool_call>.'"
    " %}"
    "{% for t in tools %}"
    "{% set ns.system = ns.system ~ '\\n' ~ ((t['function'] if 'function' in t else t) | tojson)"
    " %}"
    "{% endfor %}"
    "{% endif %}"
    "{% if ns.system %}<|im_start|>system\n{{ ns.system }}<|im_end|>\n{% endif %}"
    "{% for m in msgs %}"
    "<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% endif %}"
    "{% if m['role'] == 'assistant' and m.get('tool_calls') %}"
    "{% for c in m['tool_calls'] %}"
    "{% set f = c['function'] if 'function' in c else c %}"
    "<tool_call>{\"name\": {{ f['name'] | tojson }}, \"arguments\":"
    "{% if f['arguments'] is string %} {{ f['arguments'] }}"
    "{% else %} {{ f['arguments'] | tojson }}{% endif %}"
    "}</tool_call>"
    "{% endfor %}"
    "{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: How transformers' ``parse_response`` reads a generation made with
#: :data:`HERMES_CHAT_TEMPLATE` back into ``{"role", "content", "tool_calls"}``.
HERMES_RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "tool_calls": {
            "open": "<tool_call>",
            "close_pattern": r"</tool_call>\s*",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}

#: The special tokens :data:`HERMES_CHAT_TEMPLATE` uses.
HERMES_TOKENS = ("<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>")


def add_hermes_templates(tokenizer: Any) -> Any:
    """Give ``tokenizer`` the Hermes chat and response templates (TRL can then use tools).

    Adds the template's markers as special tokens when missing (resize the model's
    embeddings afterwards if the vocabulary grew) and makes ``<|im_end|>`` the EOS token,
    so generation stops at the end of a turn.

    Args:
        tokenizer: A Hugging Face tokenizer.

    Returns:
        The same tokenizer.
    """
    missing = [t for t in HERMES_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    tokenizer.chat_template = HERMES_CHAT_TEMPLATE
    tokenizer.response_template = HERMES_RESPONSE_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.eos_token = "<|im_end|>"
    return tokenizer


class DialogGymEnvironment:
    """One rollout's dialog-gym episode, driven by TRL through tool calls.

    Do not instantiate this base class: :func:`environment_factory` makes a subclass per
    env id with one method per env tool. Public *methods* of the object are tools for
    TRL, so everything else here is a property or private.

    Args:
        env_id: The env to make (``gym.make(env_id, **env_kwargs)``).
        instructions: Text appended to the reset observation (how to use the tools);
            ``""`` for none.
        **env_kwargs: Passed to ``gym.make``.
    """

    env_id: ClassVar[str] = ""
    tool_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, env_id: str | None = None, *, instructions: str = DEFAULT_INSTRUCTIONS,
                 **env_kwargs: Any) -> None:
        if not type(self).env_id:
            raise TypeError("make environments with dialog_gym.integrations.trl."
                            "environment_factory(env_id), not DialogGymEnvironment directly")
        self._env_id = env_id or type(self).env_id
        self._env_kwargs = dict(env_kwargs)
        self._instructions = instructions
        self._env = gym.make(self._env_id, **env_kwargs)
        self._check_tools(self._env_id, self._env)
        self._obs: dict[str, Any] | None = None
        self._done = True
        self._started = False
        self._turn_rewards: list[float] = []
        self._scores: list[dict[str, float]] = []
        self._infos: list[dict[str, Any]] = []
        self._calls: list[str] = []
        self._reset_info: dict[str, Any] = {}
        self._totals = {"episodes": 0, "env_steps": 0, "tool_calls": 0, "respond_calls": 0}

    # ---------------------------------------------------------------- TRL's contract
    def reset(self, **row: Any) -> str:
        """Start an episode from a dataset row; returns the context and the user's opening.

        Columns read: ``seed`` (the env's reset seed; absent or ``None``: the env's own
        random stream), ``env_id`` (must be the factory's env, or one with the same
        tools), ``difficulty`` and ``scenario_id`` (reset options). Other columns (TRL
        passes ``prompt`` and anything else the dataset has) are ignored.
        """
        env_id = row.get("env_id")
        if env_id and env_id != self._env_id:
            env = gym.make(env_id, **self._env_kwargs)
            self._check_tools(env_id, env)
            self._env.close()
            self._env, self._env_id = env, env_id
        seed = row.get("seed")
        if seed is not None:
            try:
                seed = int(seed)
            except (TypeError, ValueError):
                raise ConfigError(f"the row's seed must be an integer, got {seed!r}") from None
        options = {k: row[k] for k in ("difficulty", "scenario_id") if row.get(k) is not None}
        obs, info = self._env.reset(seed=seed, options=options or None)
        self._obs, self._reset_info = obs, info
        self._done = False
        self._started = True
        self._turn_rewards, self._scores, self._infos, self._calls = [], [], [], []
        self._totals["episodes"] += 1
        return self._render_start(obs)

    def get_reward(self) -> float:
        """The episode's return: the sum of the env's rewards so far (0.0 before any step)."""
        return float(sum(self._turn_rewards))

    def respond(self, message: str) -> str:
        """Say something to the user; the user's reply comes back.

        Args:
            message: What to say to the user.

        Returns:
            The user's reply (and a note when the conversation has ended).
        """
        if self._done:
            return ENDED if self._started else "Call reset() first."
        if not isinstance(message, str):
            message = "" if message is None else str(message)
        self._totals["respond_calls"] += 1
        reply, ended = self._step(message)
        text = reply if reply is not None else ""
        return f"{text}\n[The conversation has ended.]".strip() if ended else text

    # ---------------------------------------------------------------- state
    @property
    def env(self) -> gym.Env:
        """The wrapped Gymnasium env (``env.unwrapped`` is the dialogue env)."""
        return self._env

    @property
    def done(self) -> bool:
        """True once the episode ended (terminated or truncated), until the next reset."""
        return self._done

    @property
    def turn_rewards(self) -> list[float]:
        """The reward of each env step of this episode, in order."""
        return list(self._turn_rewards)

    @property
    def scores(self) -> list[dict[str, float]]:
        """Each step's reward terms (``info["scores"]``) before weighting."""
        return [dict(s) for s in self._scores]

    @property
    def infos(self) -> list[dict[str, Any]]:
        """Each step's ``info`` dict."""
        return list(self._infos)

    @property
    def tool_calls(self) -> list[str]:
        """Names of the env tools called in this episode (``respond`` not included)."""
        return list(self._calls)

    @property
    def observation(self) -> dict[str, Any] | None:
        """The env's latest observation (``None`` before the first reset)."""
        return self._obs

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The episode as the env's chat messages (see :mod:`dialog_gym.messages`)."""
        return self._env.unwrapped.messages

    @property
    def reset_info(self) -> dict[str, Any]:
        """The ``info`` of the last reset (``scenario_id``, ``tool_schemas``, ...)."""
        return dict(self._reset_info)

    @property
    def totals(self) -> dict[str, int]:
        """Counts over the object's life: episodes, env steps, tool and respond calls."""
        return dict(self._totals)

    # ---------------------------------------------------------------- internals
    def _render_start(self, obs: Mapping[str, Any]) -> str:
        parts = [obs["context"], obs["history"]]
        if self._instructions:
            parts.append(self._instructions)
        return "\n\n".join(p for p in parts if p)

    def _step(self, action: Any) -> tuple[str | None, bool]:
        """One env step; returns the user's reaction (``None`` if silent) and whether it ended."""
        before = len(self._env.unwrapped.messages)
        obs, reward, terminated, truncated, info = self._env.step(action)
        self._obs = obs
        self._totals["env_steps"] += 1
        self._turn_rewards.append(float(reward))
        self._scores.append(dict(info.get("scores", {})))
        self._infos.append(info)
        self._done = bool(terminated or truncated)
        new = obs["messages"][before:]
        reply = next((m["content"] for m in reversed(new) if m["role"] == "user"), None)
        return reply, self._done

    def _call_tool(self, name: str, arguments: Mapping[str, Any]) -> str:
        if self._done:
            return json.dumps({"ok": False, "message": ENDED if self._started else
                               "call reset() first", "done": True})
        self._totals["tool_calls"] += 1
        self._calls.append(name)
        args = {k: v for k, v in arguments.items() if v is not None}
        call = {"type": "function", "function": {"name": name, "arguments": args}}
        before = len(self._env.unwrapped.messages)
        reply, ended = self._step({"role": "assistant", "content": "", "tool_calls": [call]})
        new = self._obs["messages"][before:] if self._obs is not None else []
        tool_msg = next((m for m in new if m["role"] == "tool"), None)
        from dialog_gym.messages import tool_payload

        payload = tool_payload(tool_msg) if tool_msg is not None else {
            "ok": False, "message": "the call was not run"}
        if not payload.get("data"):
            payload.pop("data", None)
        payload["user"] = reply
        if ended:
            payload["done"] = True
        return json.dumps(payload, ensure_ascii=False, default=str)

    @classmethod
    def _check_tools(cls, env_id: str, env: gym.Env) -> None:
        names = tuple(env.unwrapped.tools.tools) if env.unwrapped.tools else ()
        if cls.tool_names and names != cls.tool_names:
            raise ConfigError(
                f"{env_id} has tools {list(names)}, but this environment class was made for "
                f"{cls.env_id} with tools {list(cls.tool_names)}; pass a dict environment_factory "
                "({name: environment_factory(env_id)}) with an 'environment' column to mix envs")


def _tool_method(tool: Any) -> Callable[..., str]:
    """A method with ``tool``'s signature, annotations and Google-style docstring."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    arg_lines = []
    # required arguments first: Python signatures cannot have a default before a non-default
    ordered = sorted(tool.params.items(), key=lambda kv: not kv[1].required)
    # an env argument that is not a Python identifier (e.g. convert's "from") gets a
    # trailing underscore in the method, and its own name back when the env is called
    py_name = {k: (k + "_" if keyword.iskeyword(k) or not k.isidentifier() else k)
               for k, _ in ordered}
    env_name = {v: k for k, v in py_name.items()}
    for env_key, p in ordered:
        typ = p.type if p.required else p.type | None
        key = py_name[env_key]
        params.append(inspect.Parameter(
            key, inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=inspect.Parameter.empty if p.required else None, annotation=typ))
        annotations[key] = typ
        desc = " ".join(p.doc.split()) if p.doc else f"The {env_key.replace('_', ' ')}."
        if not p.required:
            desc += " Optional."
        arg_lines.append(f"    {key}: {desc}")
    annotations["return"] = str
    name = tool.name

    def method(self: DialogGymEnvironment, *args: Any, **kwargs: Any) -> str:
        if args:
            kwargs.update(zip([py_name[k] for k, _ in ordered], args, strict=False))
        return self._call_tool(name, {env_name.get(k, k): v for k, v in kwargs.items()})

    summary = " ".join(tool.doc.split()) if tool.doc else f"Call the {name} tool."
    summary = summary[0].upper() + summary[1:]
    if not summary.endswith("."):
        summary += "."
    doc = [summary, ""]
    if arg_lines:
        doc += ["Args:", *arg_lines, ""]
    doc += ["Returns:",
            "    The result as JSON: ok, message, data (when the tool returns data) and user "
            "(what the user said next)."]
    method.__name__ = method.__qualname__ = name
    method.__doc__ = "\n".join(doc)
    method.__annotations__ = annotations
    method.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    return method


def _class_name(env_id: str) -> str:
    words = re.split(r"[^0-9A-Za-z]+", env_id)
    return "".join(w[:1].upper() + w[1:] for w in words if w) + "Environment"


class EnvironmentFactory:
    """The zero-argument callable TRL calls once per concurrent rollout.

    Attributes:
        env_id: The env every object makes.
        env_class: The generated :class:`DialogGymEnvironment` subclass (its name is
            the reward's column name in TRL's logs, e.g. ``rewards/<name>/mean``).
        instances: Every object made so far (TRL pools and reuses them).
    """

    def __init__(self, env_id: str, env_class: type[DialogGymEnvironment],
                 instructions: str, env_kwargs: Mapping[str, Any]) -> None:
        self.env_id = env_id
        self.env_class = env_class
        self._instructions = instructions
        self._env_kwargs = dict(env_kwargs)
        self.instances: list[DialogGymEnvironment] = []

    def __call__(self) -> DialogGymEnvironment:
        """A new environment object (call ``reset(**row)`` before its tools)."""
        obj = self.env_class(self.env_id, instructions=self._instructions, **self._env_kwargs)
        self.instances.append(obj)
        return obj

    def __repr__(self) -> str:
        return f"environment_factory({self.env_id!r})"


def environment_factory(env_id: str, *, instructions: str = DEFAULT_INSTRUCTIONS,
                        **env_kwargs: Any) -> EnvironmentFactory:
    """The ``environment_factory`` to pass to ``trl.GRPOTrainer`` for a dialog-gym env.

    Args:
        env_id: A registered env id (``dialog_gym.env_ids()``).
        instructions: Text appended to each reset observation, telling the model how
            to use the tools (``""`` for none).
        **env_kwargs: Passed to ``gym.make`` (e.g. ``reward=``, ``difficulty=``).

    Returns:
        A zero-argument callable returning a fresh environment object whose tools are
        ``respond(message)`` and one method per tool of the env.

    Raises:
        ConfigError: ``env_id`` is unknown, or a tool name clashes with ``reset``,
            ``get_reward`` or ``respond``.
    """
    if env_id not in gym.registry:
        import dialog_gym

        raise ConfigError(f"unknown env id {env_id!r}; registered: {dialog_gym.env_ids()}")
    probe = gym.make(env_id, **env_kwargs)
    tools = probe.unwrapped.tools.tools if probe.unwrapped.tools else {}
    probe.close()
    namespace: dict[str, Any] = {"env_id": env_id, "tool_names": tuple(tools),
                                 "__module__": __name__}
    for name, tool in tools.items():
        if name in RESERVED or name.startswith("_"):
            raise ConfigError(f"{env_id} has a tool named {name!r}, which the TRL adapter "
                              f"cannot expose (reserved: {', '.join(RESERVED)})")
        namespace[name] = _tool_method(tool)
    cls_name = _class_name(env_id)
    namespace["__doc__"] = (f"{env_id} as a TRL environment: respond(message) and its "
                            f"tools {', '.join(tools) or '(none)'}.")
    env_class = type(cls_name, (DialogGymEnvironment,), namespace)
    return EnvironmentFactory(env_id, env_class, instructions, env_kwargs)


__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "HERMES_CHAT_TEMPLATE",
    "HERMES_RESPONSE_TEMPLATE",
    "DialogGymEnvironment",
    "EnvironmentFactory",
    "add_hermes_templates",
    "environment_factory",
]
