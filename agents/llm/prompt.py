"""From chat messages to token ids: the conversation format of the LLM policy.

The policy reads ``obs["messages"]`` (OpenAI chat messages, see
:mod:`dialog_gym.messages`) and renders them with the tokenizer's chat template,
``apply_chat_template(messages, tools=..., add_generation_prompt=True)``: the context is
the ``system`` message, the simulated user's turns ``user`` messages, the agent's
replies ``assistant`` messages with their ``tool_calls``, tool results ``tool``
messages; the template decides how each is shown. The tools are the env's JSON schemas
(``env.unwrapped.tool_schemas``), stored with a trained model in its
:class:`PromptFormat`. A reply is sampled up to the template's end-of-turn token; its
text, with Hermes ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks for
the calls, is the action: ``env.step`` parses the blocks (the env's one parser of every
action form) and records them as the assistant message's ``tool_calls``.

Multi-turn training needs the token sequence of an episode to be exactly what the
policy conditioned on when it sampled each reply: :class:`EpisodeTokens` grows one
sequence turn by turn (prompt, the sampled reply tokens kept verbatim, then only the
*new* messages, tool results and the user's answer, rendered as the template's
continuation), so the log-probabilities recomputed for training are those of the
tokens actually sampled and earlier turns are never re-rendered.

:class:`PromptFormat` is stored with a trained model (``dialog_gym_llm.json``); its
``drop_context_lines`` are context lines shared by every scenario of the training corpus
(the rule list, the inline tool syntax), which carry no information for a policy
trained on that corpus and would only lengthen every prompt.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dialog_gym.error import ConfigError

#: file in a model folder holding the prompt format and dialog-gym metadata
META_FILE = "dialog_gym_llm.json"

#: version of the prompt format: 2 renders ``obs["messages"]`` with the chat template
#: and the env's tools (1, before: transcripts re-parsed from ``obs["history"]``)
FORMAT_VERSION = 2

#: end-of-turn tokens recognised in any tokenizer (besides its EOS token)
END_OF_TURN_TOKENS = ("<|end|>", "<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|endoftext|>")

Message = dict[str, Any]


@dataclass(frozen=True)
class PromptFormat:
    """How messages are turned into the policy's prompts.

    Attributes:
        labels: Speaker labels of the env's transcript (``user``, ``agent``, ``system``
            keys); kept as metadata.
        drop_context_lines: Lines of the system message left out (constant boilerplate).
        max_prompt_tokens: Longest prompt; older turns are dropped to fit (the system
            message and the newest user turn are kept).
        delexicalize: Replace values (ids, emails, numbers, dates: anything with a digit
            or an ``@``) by placeholders ``<|e1|>``, ``<|e2|>``, ... numbered by first
            appearance in the episode, in every message and tool-call argument, and put
            them back in the replies (see :class:`EntityTable`). A small model then
            copies a value by writing one placeholder token instead of every character.
        tools: The env's tool schemas (OpenAI Chat Completions format), passed to the
            chat template as ``tools``.
        version: :data:`FORMAT_VERSION` of the folder.
    """

    labels: Mapping[str, str] = field(
        default_factory=lambda: {"user": "User", "agent": "Agent", "system": "System"})
    drop_context_lines: tuple[str, ...] = ()
    max_prompt_tokens: int = 1024
    delexicalize: bool = False
    tools: tuple[Mapping[str, Any], ...] = ()
    version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        d["labels"] = dict(self.labels)
        d["drop_context_lines"] = list(self.drop_context_lines)
        d["tools"] = [dict(t) for t in self.tools]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PromptFormat:
        """Inverse of :meth:`to_dict` (unknown keys are ignored for forward compatibility).

        Raises:
            ConfigError: For a format written before chat messages (no ``version``).
        """
        version = int(d.get("version", 1))
        if version < FORMAT_VERSION:
            raise ConfigError(
                f"this model folder has prompt format version {version} (transcript prompts "
                f"re-parsed from obs['history'], written by an older dialog-gym); this version "
                f"renders obs['messages'] with the chat template and the env's tools "
                f"(format {FORMAT_VERSION}). Retrain it: `dialog-gym train pipeline --out DIR`")
        return cls(labels=dict(d.get("labels") or cls().labels),
                   drop_context_lines=tuple(d.get("drop_context_lines", ())),
                   max_prompt_tokens=int(d.get("max_prompt_tokens", 1024)),
                   delexicalize=bool(d.get("delexicalize", False)),
                   tools=tuple(dict(t) for t in d.get("tools", ())), version=version)


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The dialog-gym metadata of a model folder (empty when absent, e.g. a Hub model)."""
    f = os.path.join(os.fspath(path), META_FILE)
    if not os.path.isfile(f):
        return {}
    with open(f, encoding="utf-8") as fh:
        return json.load(fh)


def write_meta(path: str | os.PathLike[str], meta: Mapping[str, Any]) -> None:
    """Write (atomically) the dialog-gym metadata of a model folder."""
    from dialog_gym.agents.llm.checkpoint import atomic_write_text

    atomic_write_text(os.path.join(os.fspath(path), META_FILE),
                      json.dumps(dict(meta), indent=2, sort_keys=True))


#: placeholders of delexicalised values (``<|e1|>`` ... ``<|e64|>``)
MAX_ENTITIES = 64
PLACEHOLDERS = tuple(f"<|e{k}|>" for k in range(1, MAX_ENTITIES + 1))
_ENTITY = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
                     r"|[A-Za-z0-9]*\d[A-Za-z0-9]*(?:[.:/-][A-Za-z0-9]*\d[A-Za-z0-9]*)*")
_PLACEHOLDER = re.compile(r"<\|e(\d+)\|>")
_PLACEHOLDER_SPLIT = re.compile(r"(<\|e\d+\|>)")
_DECIMAL = re.compile(r"\d+\.\d+")


def _canonical_value(value: str) -> str:
    """The key of a value in :class:`EntityTable` (``27.20`` and ``27.2`` are one)."""
    if _DECIMAL.fullmatch(value):
        return value.rstrip("0").rstrip(".")
    return value


class EntityTable:
    """Values of one episode and their placeholders, numbered by first appearance.

    Delexicalisation (as in task-oriented dialogue systems) turns ``"order U4050"`` into
    ``"order <|e4|>"``; the policy writes placeholders and :meth:`relex` puts the values
    back before the env sees the reply. Numbering follows the order in which values
    first appear in the conversation, so the same conversation always gets the same
    placeholders, whether built turn by turn (rollouts) or all at once (prompts).
    Decimal numbers that differ only by trailing zeros (``27.20`` in a tool result,
    ``27.2`` in a call's JSON arguments) are one value, written back as first seen.

    Example:
        >>> t = EntityTable()
        >>> t.delex("order U4050, zip 55503.")
        'order <|e1|>, zip <|e2|>.'
        >>> t.relex("[lookup_order order=<|e1|>] <|e9|>")
        '[lookup_order order=U4050] '
        >>> t.delex('refund $27.20'), t.delex('{"amount": 27.2}')
        ('refund $<|e3|>', '{"amount": <|e3|>}')
    """

    def __init__(self) -> None:
        self.values: list[str] = []
        self.index: dict[str, int] = {}

    def delex(self, text: str, *, grow: bool = True) -> str:
        """Replace known values (and new ones, when ``grow``) by their placeholders."""

        def sub(m: re.Match[str]) -> str:
            value = m.group(0)
            key = _canonical_value(value)
            k = self.index.get(key)
            if k is None:
                if not grow or len(self.values) >= MAX_ENTITIES:
                    return value
                self.values.append(value)
                k = self.index[key] = len(self.values)
            return PLACEHOLDERS[k - 1]

        parts = _PLACEHOLDER_SPLIT.split(text)
        return "".join(part if i % 2 else _ENTITY.sub(sub, part)
                       for i, part in enumerate(parts))

    def relex(self, text: str) -> str:
        """Put the values back (unknown placeholders are dropped)."""

        def sub(m: re.Match[str]) -> str:
            k = int(m.group(1))
            return self.values[k - 1] if 1 <= k <= len(self.values) else ""

        return _PLACEHOLDER.sub(sub, text)

    def copy(self) -> EntityTable:
        """An independent copy."""
        t = EntityTable()
        t.values = list(self.values)
        t.index = dict(self.index)
        return t


def constant_lines(contexts: Sequence[str]) -> tuple[str, ...]:
    r"""Lines present in every context (what :attr:`PromptFormat.drop_context_lines` holds).

    Example:
        >>> constant_lines(["Shop A\nRules: be nice", "Shop B\nRules: be nice"])
        ('Rules: be nice',)
    """
    if not contexts:
        return ()
    common = set(contexts[0].split("\n"))
    for c in contexts[1:]:
        common &= set(c.split("\n"))
    first = contexts[0].split("\n")
    return tuple(line for line in first if line in common and line.strip())


def compact_context(context: str, fmt: PromptFormat) -> str:
    """The context without the format's dropped lines."""
    if not fmt.drop_context_lines:
        return context
    drop = set(fmt.drop_context_lines)
    return "\n".join(line for line in context.split("\n") if line not in drop)


def prepare_messages(messages: Sequence[Mapping[str, Any]], fmt: PromptFormat,
                     table: EntityTable | None = None) -> list[Message]:
    """Env messages as the policy sees them: plain OpenAI messages, compacted, delexicalised.

    The system message loses the format's constant lines; with ``fmt.delexicalize``
    every content and tool-call argument has its values replaced (filling ``table``, in
    the order the values appear; pass one to relexicalise the reply later). Tool-call
    arguments stay JSON text (a delexicalised number is a bare placeholder).
    """
    delex = fmt.delexicalize
    table = table if table is not None else EntityTable()
    out: list[Message] = []
    for m in messages:
        role = m.get("role")
        content = m.get("content") or ""
        if not isinstance(content, str):
            raise ConfigError(f"message content must be a string, got {type(content).__name__}")
        if role == "system":
            content = compact_context(content, fmt)
        msg: Message = {"role": role, "content": table.delex(content) if delex else content}
        if role == "assistant" and m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                fn = c.get("function", c)
                args = fn.get("arguments", {})
                text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
                calls.append({"type": "function", "function": {
                    "name": fn.get("name", ""), "arguments": table.delex(text) if delex
                    else text}})
            msg["tool_calls"] = calls
        if role == "tool":
            msg["name"] = m.get("name", "")
        out.append(msg)
    return out


def observation_messages(observation: Mapping[str, Any], fmt: PromptFormat,
                         table: EntityTable | None = None) -> list[Message]:
    """The messages of an observation (``obs["messages"]``), prepared for the policy.

    An observation without ``messages`` (a bare ``{"context", "history"}`` dict, e.g.
    from a scorer's input) becomes a system message and, when the history is not empty,
    one user message holding it: nothing is re-parsed.
    """
    msgs = observation.get("messages")
    if msgs is None:
        msgs = [{"role": "system", "content": str(observation.get("context", ""))}]
        history = str(observation.get("history", ""))
        if history:
            msgs.append({"role": "user", "content": history})
    return prepare_messages(list(msgs), fmt, table)


#: what a tokenizer without a chat template gets (turns end with its EOS token)
FALLBACK_TEMPLATE_END = "{{ eos_token }}"

_PROBE = "\x00PROBE\x00"
_PROBE_CONTEXT = ({"role": "system", "content": "s"}, {"role": "user", "content": "u"})


class ChatCodec:
    """Renders messages to token ids with a tokenizer's chat template.

    A tokenizer without a chat template gets the embedded model's template with its
    EOS token as the end of a turn
    (:func:`~dialog_gym.agents.llm.embedded.chat_template`).

    Args:
        tokenizer: A Hugging Face tokenizer.
        fmt: The prompt format (its ``tools`` are passed to the template).
    """

    def __init__(self, tokenizer: Any, fmt: PromptFormat) -> None:
        self.tok = tokenizer
        self.fmt = fmt
        self.tools = [dict(t) for t in fmt.tools] or None
        self.template = getattr(tokenizer, "chat_template", None)
        if not self.template:
            from dialog_gym.agents.llm.embedded import chat_template

            if tokenizer.eos_token is None:
                raise ConfigError("a tokenizer without a chat template needs an EOS token "
                                  "to end the policy's turns")
            self.template = chat_template(FALLBACK_TEMPLATE_END)
        vocab = tokenizer.get_vocab()
        stop = {t for t in (tokenizer.eos_token_id,) if t is not None}
        for name in END_OF_TURN_TOKENS:
            if name in vocab:
                stop.add(vocab[name])
        self.stop_ids = frozenset(stop)
        self.placeholder_ids = {vocab[p]: p for p in PLACEHOLDERS if p in vocab}
        self.reply_suffix = self._reply_suffix()

    # ------------------------------------------------------------------ rendering
    def render(self, messages: Sequence[Message], *, add_generation_prompt: bool) -> str:
        """The text of the conversation (ending with the assistant prompt if asked)."""
        return self.tok.apply_chat_template(list(messages), tools=self.tools, tokenize=False,
                                            chat_template=self.template,
                                            add_generation_prompt=add_generation_prompt)

    def encode_text(self, text: str) -> list[int]:
        """Token ids of a piece of rendered text (no special tokens added)."""
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of the prompt for the next reply, trimmed to ``max_prompt_tokens``.

        When too long, the oldest turns after the system message are dropped (whole
        turns: up to the next user message), then the prompt's start is cut as a last
        resort.
        """
        msgs = list(messages)
        ids = self.encode_text(self.render(msgs, add_generation_prompt=True))
        limit = self.fmt.max_prompt_tokens
        while len(ids) > limit and len(msgs) > 2:
            nxt = next((j for j in range(2, len(msgs)) if msgs[j]["role"] == "user"
                        and msgs[j - 1]["role"] != "user"), None)
            if nxt is None:
                break
            msgs = [msgs[0], *msgs[nxt:]]
            ids = self.encode_text(self.render(msgs, add_generation_prompt=True))
        return ids[-limit:]

    def reply_text(self, gen_ids: Sequence[int], table: EntityTable | None = None
                   ) -> tuple[str, str]:
        """Decode sampled ids to the reply's text (Hermes ``<tool_call>`` blocks kept).

        With a delexicalising format and a ``table``, placeholders are replaced by their
        values (the text the env receives); without a table the reply stays in the
        model's own (delexicalised) form.

        Returns:
            ``(reply, stop)``: ``stop`` is the text of the end-of-turn token that ended
            sampling, or ``""`` when the length limit did.
        """
        ids = list(gen_ids)
        stop = ""
        if ids and ids[-1] in self.stop_ids:
            stop = self.tok.convert_ids_to_tokens(ids[-1])
            ids = ids[:-1]
        text = self._decode(ids).strip()
        if table is not None and self.fmt.delexicalize:
            text = table.relex(text)
        return text, stop

    def _decode(self, ids: Sequence[int]) -> str:
        """Text of ids without control tokens, value placeholders kept."""
        if not self.placeholder_ids:
            return self.tok.decode(list(ids), skip_special_tokens=True)
        out: list[str] = []
        run: list[int] = []
        for t in ids:
            if t in self.placeholder_ids:
                if run:
                    out.append(self.tok.decode(run, skip_special_tokens=True))
                    run = []
                out.append(self.placeholder_ids[t])
            else:
                run.append(int(t))
        if run:
            out.append(self.tok.decode(run, skip_special_tokens=True))
        return "".join(out)

    def reply_piece(self, message: Message) -> str:
        """The text the template writes for an assistant message (content, tool calls).

        What follows the generation prompt, up to the end-of-turn suffix: the text the
        policy would sample for this reply.
        """
        head = self.render(list(_PROBE_CONTEXT), add_generation_prompt=True)
        full = self.render([*_PROBE_CONTEXT, message], add_generation_prompt=False)
        if not full.startswith(head):
            raise ConfigError("the chat template does not render an assistant message after "
                              "its generation prompt; its replies cannot be tokenized")
        piece = full[len(head):]
        if self.reply_suffix and piece.endswith(self.reply_suffix):
            piece = piece[: len(piece) - len(self.reply_suffix)]
        return piece

    def piece_ids(self, piece: str) -> list[int]:
        """Ids of a reply's text as the policy samples it (end-of-turn token included)."""
        return [*self.encode_text(piece), self.end_id]

    def reply_ids(self, message: Message | str) -> list[int]:
        """Canonical ids of a reply (an assistant message, or its text) with its end token."""
        piece = message if isinstance(message, str) else self.reply_piece(message)
        return self.piece_ids(piece)

    @property
    def end_id(self) -> int:
        """The end-of-turn token the template closes an assistant message with."""
        vocab = self.tok.get_vocab()
        for name in (*END_OF_TURN_TOKENS, self.tok.eos_token):
            if name and name in vocab and self.reply_suffix.startswith(name):
                return vocab[name]
        if self.tok.eos_token_id is None:
            raise ConfigError("the tokenizer has neither an end-of-turn nor an EOS token")
        return int(self.tok.eos_token_id)

    @property
    def end_token(self) -> str:
        """The text of :attr:`end_id`."""
        return self.tok.convert_ids_to_tokens(self.end_id)

    def continuation_ids(self, messages: Sequence[Message], reply: Message, stop: str,
                         new_messages: Sequence[Message]) -> list[int]:
        """Ids that follow the sampled reply tokens, up to the next reply's prompt.

        ``messages`` is the conversation before the reply, ``reply`` the env's assistant
        message for it and ``new_messages`` what came after it (tool results, the
        user's turn). The text is the difference between two renderings of the
        template, both holding the reply: the conversation up to the reply's content,
        and the whole one with the next generation prompt; the reply's own tokens are
        the sampled ones and are not re-rendered. When sampling ended at an end-of-turn
        token (its text is ``stop``), that token is part of the reply already.
        """
        before = [*messages, reply]
        upto = self.render(before, add_generation_prompt=False)
        full = self.render([*before, *new_messages], add_generation_prompt=True)
        head = upto[: len(upto) - len(self.reply_suffix)] if self.reply_suffix and \
            upto.endswith(self.reply_suffix) else upto
        if not full.startswith(head):
            raise ConfigError(
                "the chat template renders earlier turns differently once later messages "
                "follow (it is not append-only), so an episode cannot grow token by token")
        cont = full[len(head):]
        if stop and cont.startswith(stop):
            cont = cont[len(stop):]
        return self.encode_text(cont)

    def _reply_suffix(self) -> str:
        """What the template writes right after an assistant message's content."""
        msgs = [*_PROBE_CONTEXT, {"role": "assistant", "content": _PROBE}]
        try:
            text = self.render(msgs, add_generation_prompt=False)
        except Exception:  # a template that rejects the probe: no suffix known
            return ""
        i = text.rfind(_PROBE)
        return text[i + len(_PROBE):] if i >= 0 else ""


@dataclass
class EpisodeTokens:
    """The growing token sequence of one episode (or of the part of it in one rollout).

    ``ids[:context_len]`` is context carried over from earlier rollouts (never trained
    on); afterwards ``agent[i]`` marks the tokens the policy sampled, and ``reward_at``
    the last token of each reply. ``messages`` are the episode's messages as rendered
    (prepared), ``seen`` how many of the env's ``obs["messages"]`` they cover.
    """

    ids: list[int] = field(default_factory=list)
    agent: list[bool] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    context_len: int = 0
    reward_at: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    table: EntityTable = field(default_factory=EntityTable)
    seen: int = 0
    _stop: str | None = None

    @classmethod
    def start(cls, codec: ChatCodec, observation: Mapping[str, Any]) -> EpisodeTokens:
        """A new episode from its first observation (``obs["messages"]``)."""
        table = EntityTable()
        msgs = observation_messages(observation, codec.fmt, table)
        ep = cls.from_messages(codec, msgs, table)
        ep.seen = len(observation.get("messages") or ())
        return ep

    @classmethod
    def from_messages(cls, codec: ChatCodec, messages: Sequence[Message],
                      table: EntityTable | None = None) -> EpisodeTokens:
        """A new episode from the (prepared) messages of its first prompt."""
        ids = codec.prompt_ids(messages)
        return cls(ids=ids, agent=[False] * len(ids), messages=list(messages),
                   table=table if table is not None else EntityTable())

    def add_reply(self, gen_ids: Sequence[int], stop: str, reward: float = 0.0) -> None:
        """Append the sampled reply tokens verbatim (the turn's reward on the last one).

        ``stop`` is the end-of-turn text that ended sampling (``""`` when cut by length).
        """
        if not gen_ids:
            raise ValueError("a reply needs at least one sampled token")
        if self._stop is not None:
            raise ValueError("add_reply twice in a row: add the observation that followed "
                             "the last reply first")
        self.ids.extend(int(t) for t in gen_ids)
        self.agent.extend([True] * len(gen_ids))
        self.reward_at.append(len(self.ids) - 1)
        self.rewards.append(float(reward))
        self._stop = stop

    def add_messages(self, codec: ChatCodec, reply: Message, new_messages: Sequence[Message]
                     ) -> None:
        """Append what followed the last reply (the template's continuation).

        ``reply`` is the (prepared) assistant message the env recorded for it,
        ``new_messages`` the prepared tool results and user turn.
        """
        if self._stop is None:
            raise ValueError("add_messages without a reply before it")
        cont = codec.continuation_ids(self.messages, reply, self._stop, new_messages)
        self.messages = [*self.messages, reply, *new_messages]
        self.ids.extend(cont)
        self.agent.extend([False] * len(cont))
        self._stop = None

    def add_observation(self, codec: ChatCodec, observation: Mapping[str, Any]) -> None:
        """Append the messages of ``observation`` that followed the last reply.

        ``obs["messages"]`` is append-only: the new ones start with the env's assistant
        message for the reply, then its tool results and the user's answer.
        """
        msgs = observation.get("messages")
        if msgs is None:
            raise ConfigError("the observation has no 'messages'; the LLM trainer needs "
                              "dialog-gym's chat messages (obs['messages'])")
        new = list(msgs[self.seen:])
        if not new or new[0].get("role") != "assistant":
            raise ValueError(f"expected the env's assistant message after message {self.seen}"
                             f", got {new[:1]!r:.120}")
        prepared = prepare_messages(new, codec.fmt, self.table)
        self.add_messages(codec, prepared[0], prepared[1:])
        self.seen = len(msgs)

    def carry_over(self) -> EpisodeTokens:
        """The same episode for the next rollout: everything so far becomes context."""
        return EpisodeTokens(ids=list(self.ids), agent=[False] * len(self.ids),
                             messages=list(self.messages), context_len=len(self.ids),
                             table=self.table.copy(), seen=self.seen, _stop=self._stop)

    @property
    def n_agent_tokens(self) -> int:
        """How many sampled tokens the sequence holds."""
        return sum(self.agent)


def episode_from_messages(codec: ChatCodec, messages: Sequence[Mapping[str, Any]],
                          targets: Sequence[bool] | None = None) -> EpisodeTokens:
    """Token sequence of a finished episode's messages, replies tokenized canonically.

    Used for demonstrations (SFT), reward-model states and KL estimates: the layout is
    the one :class:`EpisodeTokens` builds during rollouts, each reply being the
    template's rendering of its assistant message. ``targets`` (one flag per agent
    turn) marks replies that are not targets (their tokens become context).
    """
    table = EntityTable()
    msgs = prepare_messages(messages, codec.fmt, table)
    first = next((i for i, m in enumerate(msgs) if m["role"] == "assistant"), len(msgs))
    ep = EpisodeTokens.from_messages(codec, msgs[:first], table)
    i, turn = first, 0
    while i < len(msgs):
        ids = codec.reply_ids(msgs[i])
        ep.add_reply(ids, codec.end_token)
        if targets is not None and turn < len(targets) and not targets[turn]:
            ep.agent[-len(ids):] = [False] * len(ids)
        turn += 1
        j = i + 1
        while j < len(msgs) and msgs[j]["role"] != "assistant":
            j += 1
        if j > i + 1 or j < len(msgs):
            ep.add_messages(codec, msgs[i], msgs[i + 1:j])
        i = j
    return ep


_WS = re.compile(r"\s+")


def squash(text: str) -> str:
    """Collapse whitespace (used when comparing replies)."""
    return _WS.sub(" ", text).strip()
