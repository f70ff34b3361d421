"""The ``retrieval`` baseline: nearest neighbour over expert demonstrations.

Demonstrations come from rolling out the env's scripted expert on *training* seeds
(:data:`TRAIN_SEED` onwards, disjoint from the evaluation seeds dialog-gym tools use,
which start at 0 or at 100_000). Each demonstration step is keyed by a sentence embedding
(the shared encoder of :mod:`dialog_gym.embedding`, by default the embedded
all-MiniLM-L6-v2) of the dialogue state with its values masked out: the user's opening
request with the newest lines of the history, and the newest exchange alone, with
e-mails, ids, amounts, dates and numbers replaced by their type (``<EMAIL>``, ``<ID>``,
...).

The dialogue state is read from ``observation["messages"]`` (:mod:`dialog_gym.messages`):
each user, assistant and tool message is one ``Label: text`` line of the key (the domain's
speaker labels; an assistant turn with its tool calls written inline, a tool result as
``[name] ok: message``).

At each turn the agent embeds the current state the same way, retrieves the most similar
demonstration state and says the expert's reply from it. A reply copied verbatim would
carry the *demonstration's* order ids, e-mails and amounts, so by default it is
**adapted using only what the current observation shows**: every value in the retrieved
reply is traced back to where it came from in the demonstration's own observation (a
field of a tool result's structured ``data``, e.g. ``tracking``, or an argument of an
earlier tool call; else the n-th value of its type in a given role's messages, e.g. the
first id the user gave) and replaced by the value at the same place in the current
observation. Values it cannot trace are left as they are. With ``adapt=False`` the agent
is pure retrieval (verbatim replies).

Replies the agent already said in this dialogue (its assistant messages, words and calls)
are skipped in favour of the next neighbour, as the no-repetition rule of the envs
requires.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dialog_gym.agents.base import Agent
from dialog_gym.agents.baselines import chat_messages
from dialog_gym.dialogue import AGENT, SYSTEM, USER
from dialog_gym.error import ConfigError
from dialog_gym.messages import tool_payload
from dialog_gym.tools import ToolCall, ToolResult, ToolSet

__all__ = ["RetrievalAgent", "SUPPORTED_ENVS", "TRAIN_SEED", "delexicalize", "EntityIndex"]

#: First seed of the demonstration roll-outs.
TRAIN_SEED = 1_000_000

#: Envs on which retrieval is validated to beat ``random`` (``tests/agents``, slow tests).
#: Not on the list: ``Dialog-QA-v0``, whose answers must be read from a passage that
#: changes every episode (no demonstration holds them), and
#: ``Dialog-VirtualAssistant-v0``, whose slot values (durations, units, labels) are words
#: that the typed-value adaptation does not trace, so retrieved read-backs and actions
#: carry the demonstration's values (measured: no better than random).
SUPPORTED_ENVS = (
    "Dialog-CustomerService-v0",
    "Dialog-Recommendation-v0",
    "Dialog-Corpus-v0",
    "Dialog-TwentyQuestions-v0",
    "Dialog-EmotionalSupport-v0",
)

_ADDRESS = (r"\d+ (?:[A-Z][a-z]+ )+(?:Street|Avenue|Road|Lane|Drive|Way|Court|Boulevard|Place)"
            r"(?:, (?:[A-Z][a-z]+ )*[A-Z][a-z]+)?(?: \d{5})?")
_ENTITY = re.compile(
    r"(?P<EMAIL>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    rf"|(?P<ADDRESS>{_ADDRESS})"
    r"|(?P<MONEY>\$?\d+\.\d\d\b)"
    r"|(?P<DATE>\b\d{4}-\d\d-\d\d\b)"
    r"|(?P<ID>\b(?=[A-Z0-9]*[A-Z])(?=[A-Z0-9]*\d)[A-Z0-9]{4,}\b)"
    r"|(?P<NUMBER>\b\d{1,3}(?:,\d{3})+\b|\b\d+\b)"
)
#: speaker labels of the state key when the env's are not known
_LABELS = {USER: "User", AGENT: "Agent", SYSTEM: "System"}
#: message role -> speaker of :class:`~dialog_gym.dialogue.Turn`
_SPEAKER = {"user": USER, "assistant": AGENT, "tool": SYSTEM}


def _norm(kind: str, value: str) -> str:
    return value.lstrip("$") if kind == "MONEY" else value


def _value_text(value: Any) -> str:
    """A structured value as a reply writes it (amounts with two decimals)."""
    if isinstance(value, float) and round(value, 2) == value:
        return f"{value:.2f}"
    return str(value)


def _flat(data: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(path, value)`` of every scalar in nested ``data`` (``order.items.0.price``)."""
    if isinstance(data, Mapping):
        for k, v in data.items():
            yield from _flat(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(data, list | tuple):
        for i, v in enumerate(data):
            yield from _flat(v, f"{prefix}.{i}")
    elif data is not None and prefix:
        yield prefix, _value_text(data)


def _said(text: str, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """A turn as one line: its words, then its tool calls in inline syntax."""
    rendered = [ToolCall(name, {k: _value_text(v) for k, v in args.items()}, "").render()
                for name, args in calls]
    return " ".join(x for x in (text, *rendered) if x)


def _call_args(call: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    fn = call.get("function", call)
    args = fn.get("arguments") or {}
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            args = {}
    return str(fn.get("name", "")), dict(args) if isinstance(args, Mapping) else {}


@dataclass(frozen=True)
class _Message:
    """One user, assistant or tool message as the agent reads it."""

    role: str
    text: str
    keyed: tuple[tuple[str, str], ...]


def _read(observation: Mapping[str, Any]) -> tuple[str, list[_Message]]:
    """The context (system message) and the other messages of an observation."""
    context, out = "", []
    for m in chat_messages(observation, "RetrievalAgent"):
        role = m.get("role")
        if role == "system":
            context = str(m.get("content") or "")
        elif role == "user":
            out.append(_Message(role, str(m.get("content") or ""), ()))
        elif role == "assistant":
            calls = [_call_args(c) for c in m.get("tool_calls") or ()]
            keyed = tuple((k, _value_text(v)) for _, args in calls for k, v in args.items())
            out.append(_Message(role, _said(str(m.get("content") or ""), calls), keyed))
        elif role == "tool":
            p = tool_payload(m)
            line = ToolResult(str(m.get("name", "")), bool(p["ok"]), str(p["message"])).render()
            out.append(_Message(role, line, tuple(_flat(p["data"]))))
    return context, out


def delexicalize(text: str) -> str:
    """``text`` with e-mails, addresses, amounts, dates, ids and numbers replaced by types.

    Example:
        >>> delexicalize("Order A1234: refund $12.50 to bo@x.org by 2026-01-02")
        'Order <ID>: refund <MONEY> to <EMAIL> by <DATE>'
    """
    return _ENTITY.sub(lambda m: f"<{m.lastgroup}>", text)


@dataclass
class EntityIndex:
    """Where values appear in an observation: by (type, role) in order, and by key.

    Attributes:
        ranked: ``(type, role)`` -> distinct values in order of first appearance (role
            ``"context"`` for the system message, else the message's role).
        keyed: ``key`` -> its latest value: a field of a tool result's ``data`` (nested
            fields as paths, ``order.tracking``) or an argument of a tool call.
    """

    ranked: dict[tuple[str, str], list[str]]
    keyed: dict[str, str]

    @classmethod
    def of(cls, observation: Mapping[str, Any]) -> EntityIndex:
        """Index the messages of ``observation`` (``observation["messages"]``)."""
        context, messages = _read(observation)
        ranked: dict[tuple[str, str], list[str]] = {}
        keyed: dict[str, str] = {}

        def add(text: str, role: str) -> None:
            for m in _ENTITY.finditer(text):
                kind = str(m.lastgroup)
                vals = ranked.setdefault((kind, role), [])
                v = _norm(kind, m.group(0))
                if v not in vals:
                    vals.append(v)

        add(context, "context")
        for msg in messages:
            add(msg.text, msg.role)
            keyed.update(msg.keyed)
        return cls(ranked, keyed)

    def anchor(self, kind: str, value: str) -> tuple[str, ...] | None:
        """Where ``value`` (of type ``kind``) comes from, or None."""
        for key, v in self.keyed.items():
            if _norm(kind, v) == value:
                return ("key", key)
        for in_context in (False, True):  # the dialogue first, the context last
            for (k, speaker), vals in self.ranked.items():
                if k == kind and value in vals and (speaker == "context") == in_context:
                    return ("rank", kind, speaker, str(vals.index(value)))
        return None

    def resolve(self, anchor: tuple[str, ...]) -> str | None:
        """The value at ``anchor`` in this observation, or None."""
        if anchor[0] == "key":
            return self.keyed.get(anchor[1])
        _, kind, speaker, n = anchor
        vals = self.ranked.get((kind, speaker))
        if not vals:
            return None
        return vals[min(int(n), len(vals) - 1)]


@dataclass(frozen=True)
class _Slot:
    start: int
    end: int
    kind: str
    dollar: bool
    anchor: tuple[str, ...] | None


@dataclass(frozen=True)
class Demonstration:
    """One expert step: the state key text, the reply, and where the reply's values came from."""

    key: str
    last: str
    reply: str
    slots: tuple[_Slot, ...]
    scenario_id: str


class RetrievalAgent(Agent):
    """Nearest-neighbour replies from expert demonstrations (see the module docstring).

    Args:
        env_id: The env whose expert is demonstrated and which the agent plays.
        episodes: Number of demonstration episodes.
        seed: Seed of the first demonstration episode (:data:`TRAIN_SEED`).
        history_lines: Newest messages (after the opening) in the state key.
        adapt: Replace the retrieved reply's values with the current observation's.
        model: Sentence-transformers model (default: the embedded all-MiniLM-L6-v2).
        env_kwargs: Keyword arguments of ``gym.make`` for the demonstration env (e.g. the
            corpus ``path`` of ``Dialog-Corpus-v0``), over the env's training arguments
            (:data:`dialog_gym.registration.TRAIN_ENV_KWARGS`; ``Dialog-Corpus-v0``:
            ``split="train"``, so that the index never holds evaluation dialogues).
    """

    name = "retrieval"
    #: speaker labels of the state key (the env's, set when the demonstrations are made)
    labels: Mapping[str, str] = _LABELS
    #: the env's tools, to read a reply as its assistant message would (None: no tools)
    tools: ToolSet | None = None

    def __init__(self, env_id: str, *, episodes: int = 200, seed: int = TRAIN_SEED,
                 history_lines: int = 3, adapt: bool = True, model: str | None = None,
                 env_kwargs: Mapping[str, Any] | None = None) -> None:
        if episodes < 1:
            raise ConfigError(f"episodes must be >= 1, got {episodes}")
        if history_lines < 1:
            raise ConfigError(f"history_lines must be >= 1, got {history_lines}")
        from dialog_gym.embedding import get_encoder

        if env_id not in SUPPORTED_ENVS:
            warnings.warn(f"retrieval is not validated on {env_id!r} (validated: "
                          f"{', '.join(SUPPORTED_ENVS)}); expect a weak baseline",
                          UserWarning, stacklevel=2)
        self.env_id = env_id
        self.episodes = int(episodes)
        self.seed = int(seed)
        self.history_lines = int(history_lines)
        self.adapt = bool(adapt)
        from dialog_gym.registration import TRAIN_ENV_KWARGS

        self.env_kwargs = {**TRAIN_ENV_KWARGS.get(env_id, {}), **dict(env_kwargs or {})}
        self.encoder = get_encoder(model)
        self.demos = self._collect()
        self.keys = self.encoder.encode([d.key for d in self.demos])
        self.last_keys = self.encoder.encode([d.last for d in self.demos])

    @property
    def demo_scenarios(self) -> set[str]:
        """Scenario ids of the demonstrations (to check they are disjoint from evaluation)."""
        return {d.scenario_id for d in self.demos}

    def state_key(self, observation: Mapping[str, Any]) -> tuple[str, str]:
        """The masked texts that key a dialogue state.

        Returns:
            The opening request with the newest messages as lines, and the newest exchange
            alone (the last two: usually the agent's last reply and the user's answer).
        """
        lines = [f"{self.labels[_SPEAKER[m.role]]}: {m.text}" for m in _read(observation)[1]]
        opening = lines[0] if lines else ""
        tail = lines[1:][-self.history_lines:]
        return (delexicalize(" | ".join([opening, *tail])),
                delexicalize(" | ".join(lines[-2:])))

    def _collect(self) -> list[Demonstration]:
        import gymnasium as gym

        import dialog_gym  # noqa: F401  (registers ids)

        env = gym.make(self.env_id, **self.env_kwargs)
        domain = getattr(env.unwrapped, "domain", None)
        if domain is None:
            env.close()
            raise ConfigError(f"retrieval needs a dialog-gym env with a scripted expert; "
                              f"{self.env_id!r} has none")
        expert = domain.make_expert()
        self.labels = {**_LABELS, **domain.labels}
        self.tools = env.unwrapped.tools
        demos: list[Demonstration] = []
        try:
            for i in range(self.episodes):
                obs, info = env.reset(seed=self.seed + i)
                expert.reset()
                done = False
                while not done:
                    reply = expert.act(obs)
                    demos.append(self._demonstration(obs, reply, str(info["scenario_id"])))
                    obs, _, terminated, truncated, info = env.step(reply)
                    done = terminated or truncated
        finally:
            env.close()
        return demos

    def _demonstration(self, obs: Mapping[str, Any], reply: str,
                       scenario_id: str) -> Demonstration:
        index = EntityIndex.of(obs)
        slots = []
        for m in _ENTITY.finditer(reply):
            kind = str(m.lastgroup)
            value = _norm(kind, m.group(0))
            slots.append(_Slot(m.start(), m.end(), kind, m.group(0).startswith("$"),
                               index.anchor(kind, value)))
        key, last = self.state_key(obs)
        return Demonstration(key, last, reply, tuple(slots), scenario_id)

    def fill(self, demo: Demonstration, observation: Mapping[str, Any]) -> str:
        """The demonstration's reply with its values taken from ``observation``."""
        if not self.adapt or not demo.slots:
            return demo.reply
        index = EntityIndex.of(observation)
        out, last = [], 0
        for s in demo.slots:
            out.append(demo.reply[last:s.start])
            value = index.resolve(s.anchor) if s.anchor is not None else None
            if value is None:
                out.append(demo.reply[s.start:s.end])
            else:
                out.append(("$" if s.dollar and not value.startswith("$") else "") + value)
            last = s.end
        out.append(demo.reply[last:])
        return "".join(out)

    def neighbours(self, observation: Mapping[str, Any], n: int = 5) -> list[int]:
        """Indices of the ``n`` most similar demonstration states, best first.

        Similarity: the mean of the cosine similarities of the two keys (the state, and
        the newest exchange, which decides most replies).
        """
        q_key, q_last = self.encoder.encode(list(self.state_key(observation)))
        sims = 0.5 * (self.keys @ q_key) + 0.5 * (self.last_keys @ q_last)
        n = min(n, len(sims))
        top = np.argpartition(-sims, n - 1)[:n]
        return [int(i) for i in top[np.argsort(-sims[top], kind="stable")]]

    def act(self, observation: Mapping[str, Any]) -> str:
        """The adapted reply of the nearest demonstration not said before in this dialogue."""
        said = {m.text for m in _read(observation)[1] if m.role == "assistant"}
        first = None
        for i in self.neighbours(observation):
            reply = self.fill(self.demos[i], observation)
            if first is None:
                first = reply
            if self.as_said(reply) not in said:
                return reply
        return first or ""

    def as_said(self, reply: str) -> str:
        """``reply`` as its assistant message reads back: words, then calls inline."""
        if not self.tools:
            return reply  # no tools: the env takes the whole reply as speech
        parsed = self.tools.parse(reply)
        return _said(parsed.text, [(c.name, c.args) for c in parsed.calls])

    def act_batch(self, observations: Sequence[Mapping[str, Any]]) -> list[str]:
        """Replies to several observations (keys embedded in one encoder call)."""
        self.encoder.encode([t for o in observations for t in self.state_key(o)])  # warm up
        return [self.act(o) for o in observations]

    def __repr__(self) -> str:
        return (f"RetrievalAgent(env_id={self.env_id!r}, demos={len(self.demos)}, "
                f"adapt={self.adapt})")
