"""From observations to token ids: the conversation format of the LLM policy.

An observation (``context`` + ``history``) becomes a list of chat messages: the context
is the ``system`` message, each agent line of the history an ``assistant`` message, and
the lines between two agent lines (the customer, tool results) one ``user`` message.
With a tokenizer that has a chat template the messages are rendered by it; otherwise a
plain transcript is used (``context``, blank line, the history, ``Agent:``) and a reply
ends at the first newline.

Multi-turn training needs the token sequence of an episode to be exactly what the
policy conditioned on when it sampled each reply: :class:`EpisodeTokens` grows one
sequence turn by turn (prompt, the sampled reply tokens, the template's continuation
and the next user message), so the log-probabilities recomputed for training are those
of the tokens actually sampled.

:class:`PromptFormat` is stored with a trained model (``dialog_gym_llm.json``); its
``drop_context_lines`` are context lines shared by every scenario of the training corpus
(the tool list, the rule list), which carry no information for a policy trained on that
corpus and would only lengthen every prompt.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: file in a model folder holding the prompt format and dialog-gym metadata
META_FILE = "dialog_gym_llm.json"

#: end-of-turn tokens recognised in any tokenizer (besides its EOS token)
END_OF_TURN_TOKENS = ("<|end|>", "<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|endoftext|>")

Message = dict[str, str]


@dataclass(frozen=True)
class PromptFormat:
    """How observations are turned into messages.

    Attributes:
        labels: Speaker labels of the transcript (``user``, ``agent``, ``system`` keys),
            e.g. ``{"user": "Customer", "agent": "Agent", "system": "System"}``.
        drop_context_lines: Context lines left out of the prompt (constant boilerplate).
        max_prompt_tokens: Longest prompt; older turns are dropped to fit (the context
            and the newest user message are kept).
        delexicalize: Replace values (ids, emails, numbers, dates: anything with a digit
            or an ``@``) by placeholders ``<|e1|>``, ``<|e2|>``, ... numbered by first
            appearance in the episode, and put them back in the replies (see
            :class:`EntityTable`). A small model then copies a value by writing one
            placeholder token instead of every character of it.
    """

    labels: Mapping[str, str] = field(
        default_factory=lambda: {"user": "User", "agent": "Agent", "system": "System"})
    drop_context_lines: tuple[str, ...] = ()
    max_prompt_tokens: int = 1024
    delexicalize: bool = False

    @property
    def agent_label(self) -> str:
        """The label of the agent's lines in the transcript."""
        return self.labels.get("agent", "Agent")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        d["labels"] = dict(self.labels)
        d["drop_context_lines"] = list(self.drop_context_lines)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PromptFormat:
        """Inverse of :meth:`to_dict` (unknown keys are ignored for forward compatibility)."""
        return cls(labels=dict(d.get("labels") or cls().labels),
                   drop_context_lines=tuple(d.get("drop_context_lines", ())),
                   max_prompt_tokens=int(d.get("max_prompt_tokens", 1024)),
                   delexicalize=bool(d.get("delexicalize", False)))


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


class EntityTable:
    """Values of one episode and their placeholders, numbered by first appearance.

    Delexicalisation (as in task-oriented dialogue systems) turns ``"order U4050"`` into
    ``"order <|e4|>"``; the policy writes placeholders and :meth:`relex` puts the values
    back before the env sees the reply. Numbering follows the order in which values
    first appear in the conversation, so the same transcript always gets the same
    placeholders, whether built turn by turn (rollouts) or all at once (prompts).

    Example:
        >>> t = EntityTable()
        >>> t.delex("order U4050, zip 55503.")
        'order <|e1|>, zip <|e2|>.'
        >>> t.relex("[lookup_order order=<|e1|>] <|e9|>")
        '[lookup_order order=U4050] '
    """

    def __init__(self) -> None:
        self.values: list[str] = []
        self.index: dict[str, int] = {}

    def delex(self, text: str, *, grow: bool = True) -> str:
        """Replace known values (and new ones, when ``grow``) by their placeholders."""

        def sub(m: re.Match[str]) -> str:
            value = m.group(0)
            k = self.index.get(value)
            if k is None:
                if not grow or len(self.values) >= MAX_ENTITIES:
                    return value
                self.values.append(value)
                k = self.index[value] = len(self.values)
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


def delex_messages(messages: Sequence[Message], fmt: PromptFormat,
                   table: EntityTable | None = None) -> list[Message]:
    """Messages with their values replaced (no-op unless ``fmt.delexicalize``)."""
    if not fmt.delexicalize:
        return [dict(m) for m in messages]
    table = table if table is not None else EntityTable()
    return [{"role": m["role"], "content": table.delex(m["content"])} for m in messages]


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


def split_history(history: str, fmt: PromptFormat) -> list[Message]:
    r"""Transcript -> alternating ``user`` / ``assistant`` messages.

    Agent lines (``"Agent: ..."``) become assistant messages without their label; every
    run of other lines (customer, tool results) becomes one user message, labels kept. A
    line that starts with no known label continues the previous turn (multi-line text).

    Example:
        >>> fmt = PromptFormat(labels={"user": "Customer", "agent": "Agent", "system": "System"})
        >>> split_history("Customer: hi\nAgent: hello\nSystem: ok\nCustomer: thanks", fmt)
        ... # doctest: +NORMALIZE_WHITESPACE
        [{'role': 'user', 'content': 'Customer: hi'}, {'role': 'assistant', 'content': 'hello'},
         {'role': 'user', 'content': 'System: ok\nCustomer: thanks'}]
    """
    agent = fmt.agent_label + ": "
    labels = tuple(v + ": " for v in fmt.labels.values())
    msgs: list[Message] = []
    for line in history.split("\n"):
        if line.startswith(agent):
            msgs.append({"role": "assistant", "content": line[len(agent):]})
        elif msgs and not line.startswith(labels) and not line.startswith("[..."):
            msgs[-1]["content"] += "\n" + line
        elif msgs and msgs[-1]["role"] == "user":
            msgs[-1]["content"] += "\n" + line
        else:
            msgs.append({"role": "user", "content": line})
    return msgs


def observation_messages(observation: Mapping[str, Any], fmt: PromptFormat,
                         table: EntityTable | None = None) -> list[Message]:
    """The messages of an observation: system (context), then the history's turns.

    With ``fmt.delexicalize`` the values are replaced, filling ``table`` (pass one to
    relexicalise the reply later).
    """
    ctx = compact_context(str(observation.get("context", "")), fmt)
    msgs = [{"role": "system", "content": ctx},
            *split_history(str(observation.get("history", "")), fmt)]
    return delex_messages(msgs, fmt, table)


_TEMPLATE_PROBE = "\x00PROBE\x00"


class ChatCodec:
    """Renders messages to token ids with a tokenizer (chat template or plain transcript).

    Args:
        tokenizer: A Hugging Face tokenizer.
        fmt: The prompt format.
    """

    def __init__(self, tokenizer: Any, fmt: PromptFormat) -> None:
        self.tok = tokenizer
        self.fmt = fmt
        self.templated = bool(getattr(tokenizer, "chat_template", None))
        vocab = tokenizer.get_vocab()
        stop = {t for t in (tokenizer.eos_token_id,) if t is not None}
        for name in END_OF_TURN_TOKENS:
            if name in vocab:
                stop.add(vocab[name])
        self.newline_stop = not self.templated
        if self.newline_stop:
            # plain transcripts end a reply at the first newline
            for tid in range(len(tokenizer)):
                if "\n" in tokenizer.decode([tid]):
                    stop.add(tid)
        self.stop_ids = frozenset(stop)
        self.placeholder_ids = {vocab[p]: p for p in PLACEHOLDERS if p in vocab}
        self.reply_suffix = self._reply_suffix() if self.templated else "\n"

    # ------------------------------------------------------------------ rendering
    def render(self, messages: Sequence[Message], *, add_generation_prompt: bool) -> str:
        """The text of the conversation (ending with the assistant prompt if asked)."""
        if self.templated:
            return self.tok.apply_chat_template(list(messages), tokenize=False,
                                                add_generation_prompt=add_generation_prompt)
        parts = []
        for m in messages:
            if m["role"] == "system":
                parts.append(m["content"] + "\n")
            elif m["role"] == "assistant":
                parts.append(f"{self.fmt.agent_label}: {m['content']}")
            else:
                parts.append(m["content"])
        text = "\n".join(parts)
        if add_generation_prompt:
            text += f"\n{self.fmt.agent_label}:"
        return text

    def encode_text(self, text: str) -> list[int]:
        """Token ids of a piece of rendered text (no special tokens added)."""
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of the prompt for the next reply, trimmed to ``max_prompt_tokens``.

        When too long, the oldest turns after the system message are dropped (whole
        messages), then the prompt's start is cut as a last resort.
        """
        msgs = list(messages)
        ids = self.encode_text(self.render(msgs, add_generation_prompt=True))
        limit = self.fmt.max_prompt_tokens
        while len(ids) > limit and len(msgs) > 2:
            drop = 2 if msgs[1]["role"] == "user" and len(msgs) > 3 else 1
            msgs = [msgs[0], *msgs[1 + drop:]]
            ids = self.encode_text(self.render(msgs, add_generation_prompt=True))
        return ids[-limit:]

    def reply_text(self, gen_ids: Sequence[int], table: EntityTable | None = None
                   ) -> tuple[str, str]:
        r"""Decode sampled ids to the reply the env receives.

        With a delexicalising format and a ``table``, placeholders are replaced by their
        values (the text the env receives); without a table the reply stays in the
        model's own (delexicalised) form.

        Returns:
            ``(reply, stop)``: ``stop`` is the text of the end-of-turn token that ended
            sampling (``"\n"`` for plain transcripts), or ``""`` when the length limit did.
        """
        ids = list(gen_ids)
        stop = ""
        if ids and ids[-1] in self.stop_ids:
            if self.newline_stop:
                stop = "\n"
            else:
                stop = self.tok.convert_ids_to_tokens(ids[-1])
                ids = ids[:-1]
        text = self._decode(ids)
        if self.newline_stop:
            text = text.split("\n", 1)[0]
        text = text.strip()
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

    def reply_ids(self, reply: str) -> list[int]:
        """Canonical ids of a reply as the policy would sample it (end-of-turn included)."""
        if self.newline_stop:
            return self.encode_text(" " + reply + "\n")
        return [*self.encode_text(reply), self.end_id]

    @property
    def end_id(self) -> int:
        """The end-of-turn token the template closes an assistant message with."""
        vocab = self.tok.get_vocab()
        for name in END_OF_TURN_TOKENS:
            if name in vocab and self.reply_suffix.startswith(name):
                return vocab[name]
        if self.tok.eos_token_id is None:
            raise ValueError("the tokenizer has neither an end-of-turn nor an EOS token")
        return int(self.tok.eos_token_id)

    def continuation_ids(self, messages: Sequence[Message], reply: str, stop: str,
                         new_messages: Sequence[Message]) -> list[int]:
        """Ids that follow the sampled reply tokens, up to the next reply's prompt.

        ``messages`` is the conversation before the reply; ``new_messages`` what came
        after it (the user's turn). When sampling ended at an end-of-turn token (its
        text is ``stop``), that token is part of the reply already and is not repeated.
        """
        before = [*messages, {"role": "assistant", "content": reply}]
        full = self.render([*before, *new_messages], add_generation_prompt=True)
        upto = self.render(before, add_generation_prompt=False)
        if self.templated:
            # text right after the reply's content: the template's suffix onwards
            head = upto[: len(upto) - len(self.reply_suffix)] if self.reply_suffix and \
                upto.endswith(self.reply_suffix) else upto
        else:
            head = upto
        cont = full[len(head):] if full.startswith(head) else "\n" + self.render(
            list(new_messages), add_generation_prompt=True)
        if stop and cont.startswith(stop):
            cont = cont[len(stop):]
        return self.encode_text(cont)

    def _reply_suffix(self) -> str:
        """What the template writes right after an assistant message's content."""
        msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                {"role": "assistant", "content": _TEMPLATE_PROBE}]
        try:
            text = self.tok.apply_chat_template(msgs, tokenize=False)
        except Exception:  # a template that rejects the probe: no suffix known
            return ""
        i = text.rfind(_TEMPLATE_PROBE)
        return text[i + len(_TEMPLATE_PROBE):] if i >= 0 else ""


@dataclass
class EpisodeTokens:
    """The growing token sequence of one episode (or of the part of it in one rollout).

    ``ids[:context_len]`` is context carried over from earlier rollouts (never trained
    on); afterwards ``agent[i]`` marks the tokens the policy sampled, and ``reward_at``
    the last token of each reply.
    """

    ids: list[int] = field(default_factory=list)
    agent: list[bool] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    context_len: int = 0
    reward_at: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    table: EntityTable = field(default_factory=EntityTable)
    _last: tuple[str, str] = ("", "")

    @classmethod
    def start(cls, codec: ChatCodec, observation: Mapping[str, Any]) -> EpisodeTokens:
        """A new episode from its first observation."""
        table = EntityTable()
        msgs = observation_messages(observation, codec.fmt, table)
        return cls.from_messages(codec, msgs, table)

    @classmethod
    def from_messages(cls, codec: ChatCodec, messages: Sequence[Message],
                      table: EntityTable | None = None) -> EpisodeTokens:
        """A new episode from the (delexicalised) messages of its first prompt."""
        ids = codec.prompt_ids(messages)
        return cls(ids=ids, agent=[False] * len(ids), messages=list(messages),
                   table=table if table is not None else EntityTable())

    def add_reply(self, gen_ids: Sequence[int], reply: str, stop: str,
                  reward: float = 0.0) -> None:
        """Append the sampled reply tokens (the turn's reward lands on the last one).

        ``reply`` is the text the env received (values in place); new values in it are
        numbered now, as a prompt built from the transcript would number them.
        """
        if not gen_ids:
            raise ValueError("a reply needs at least one sampled token")
        self.ids.extend(int(t) for t in gen_ids)
        self.agent.extend([True] * len(gen_ids))
        self.reward_at.append(len(self.ids) - 1)
        self.rewards.append(float(reward))
        self._last = (self.table.delex(reply), stop)

    def add_user(self, codec: ChatCodec, new_messages: Sequence[Message]) -> None:
        """Append what followed the last reply (``new_messages``), up to the next prompt."""
        reply, stop = self._last
        new = delex_messages(list(new_messages) or [{"role": "user", "content": ""}],
                             codec.fmt, self.table)
        cont = codec.continuation_ids(self.messages, reply, stop, new)
        self.messages = [*self.messages, {"role": "assistant", "content": reply}, *new]
        self.ids.extend(cont)
        self.agent.extend([False] * len(cont))

    def add_observation(self, codec: ChatCodec, observation: Mapping[str, Any]) -> None:
        """Append the observation that followed the last reply."""
        self.add_user(codec, new_user_messages(observation, codec.fmt))

    def carry_over(self) -> EpisodeTokens:
        """The same episode for the next rollout: everything so far becomes context."""
        return EpisodeTokens(ids=list(self.ids), agent=[False] * len(self.ids),
                             messages=list(self.messages), context_len=len(self.ids),
                             table=self.table.copy(), _last=self._last)

    @property
    def n_agent_tokens(self) -> int:
        """How many sampled tokens the sequence holds."""
        return sum(self.agent)


def new_user_messages(observation: Mapping[str, Any], fmt: PromptFormat) -> list[Message]:
    """The messages of an observation after its last agent turn."""
    msgs = split_history(str(observation.get("history", "")), fmt)
    last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=-1)
    return [m for m in msgs[last + 1:] if m["role"] == "user"]


def episode_from_transcript(codec: ChatCodec, context: str, history: str,
                            targets: Sequence[bool] | None = None) -> EpisodeTokens:
    """Token sequence of a finished transcript, replies tokenized canonically.

    Used for demonstrations (SFT) and reward-model pairs: the layout is the one
    :class:`EpisodeTokens` builds during rollouts. ``targets`` (one flag per agent
    turn) marks replies that are not targets (their tokens become context).
    """
    table = EntityTable()
    msgs = observation_messages({"context": context, "history": history}, codec.fmt, table)
    first = next((i for i, m in enumerate(msgs) if m["role"] == "assistant"), len(msgs))
    ep = EpisodeTokens.from_messages(codec, msgs[:first], table)
    i = first
    turn = 0
    while i < len(msgs):
        reply = msgs[i]["content"]
        stop = "\n" if codec.newline_stop else codec.tok.convert_ids_to_tokens(codec.end_id)
        ep.add_reply(codec.reply_ids(reply), reply, stop)
        if targets is not None and turn < len(targets) and not targets[turn]:
            n = len(codec.reply_ids(reply))
            ep.agent[-n:] = [False] * n
        turn += 1
        j = i + 1
        while j < len(msgs) and msgs[j]["role"] != "assistant":
            j += 1
        if j < len(msgs):
            ep.add_user(codec, msgs[i + 1:j])
        i = j
    return ep


_WS = re.compile(r"\s+")


def squash(text: str) -> str:
    """Collapse whitespace (used when comparing replies)."""
    return _WS.sub(" ", text).strip()
