"""Rules: checks on each agent reply, with penalties.

A :class:`Rule` looks at one reply in its dialogue and returns :class:`Violation` s. A
violation has a penalty (subtracted by the ``rule_compliance`` scorer), may be
``severe`` (the episode ends, as a failure) and may block one of the reply's tool calls
(``call_index``; the call is not executed and the agent sees why). Each environment
declares its :class:`RuleBook`; users add rules with ``gym.make(id, rules=[...])``.

Built-ins: :class:`NoRepetition`, :class:`LengthLimit`, :class:`ForbiddenContent`
(:func:`profanity`, :class:`NoCardNumber`), :class:`RequiredProcedure`,
:class:`ConfirmBeforeWrite` and :class:`Politeness`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from dialog_gym.dialogue import AGENT, USER, Dialogue
from dialog_gym.error import ConfigError
from dialog_gym.text import card_numbers, jaccard, normalize, tokens
from dialog_gym.tools import ToolCall
from dialog_gym.understanding import Analysis


@dataclass(frozen=True)
class Violation:
    """A broken rule.

    Attributes:
        rule_id: Id of the rule.
        message: What was wrong, for the agent and the logs.
        penalty: Non-negative amount subtracted from the reward.
        severe: The episode ends (as a failure).
        call_index: Index of a tool call in the reply that is blocked, if any.
    """

    rule_id: str
    message: str
    penalty: float = 0.1
    severe: bool = False
    call_index: int | None = None


@dataclass
class RuleContext:
    """What a rule may inspect: the dialogue so far and the new reply.

    Attributes:
        dialogue: Turns before this reply.
        reply: The raw reply (with tool calls).
        text: The reply without tool calls (what the user hears).
        calls: Parsed tool calls of the reply.
        world: The domain's world state before the calls run (read-only by convention).
        analysis: What the reply means (:class:`~dialog_gym.understanding.Analysis`),
            ``None`` where a rule is checked outside an environment.
    """

    dialogue: Dialogue
    reply: str
    text: str
    calls: Sequence[ToolCall] = ()
    world: Mapping[str, Any] = field(default_factory=dict)
    analysis: Analysis | None = None

    @cached_property
    def tokens(self) -> tuple[str, ...]:
        """Tokens of :attr:`text`."""
        return tokens(self.text)

    @cached_property
    def normalized(self) -> str:
        """Normalised full reply (tool calls included)."""
        return normalize(self.reply)


class Rule:
    """Base class: subclasses set ``id``/``description`` and implement :meth:`check`."""

    id: str = "rule"
    description: str = ""

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Violations of this rule by ``ctx.reply`` (empty list when compliant)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"


class NoRepetition(Rule):
    """The agent must not repeat one of its own earlier replies.

    A reply repeats when its normalised form equals an earlier one, or (for replies of at
    least ``min_tokens`` tokens) the Jaccard similarity of their token sets reaches
    ``threshold``.

    Args:
        threshold: Jaccard similarity counted as a repeat.
        penalty: Penalty per repeated reply.
        min_tokens: Shortest reply checked for near-duplicates.
    """

    id = "no_repetition"
    description = "Do not repeat an earlier reply of yours."

    def __init__(self, threshold: float = 0.85, penalty: float = 0.2, min_tokens: int = 4):
        if not 0.0 < threshold <= 1.0:
            raise ConfigError(f"threshold must lie in (0, 1], got {threshold}")
        self.threshold = threshold
        self.penalty = penalty
        self.min_tokens = min_tokens

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Compare with every earlier agent reply."""
        earlier = [turn.text for turn in ctx.dialogue if turn.speaker == AGENT]
        if not earlier:  # the first reply repeats nothing: no need to normalise it
            return []
        norm = ctx.normalized
        toks = frozenset(tokens(ctx.reply))
        for text in earlier:
            if normalize(text) == norm:
                return [Violation(self.id, "this reply repeats an earlier one word for word",
                                  self.penalty)]
            if len(toks) >= self.min_tokens:
                other = frozenset(tokens(text))
                if len(other) >= self.min_tokens and jaccard(toks, other) >= self.threshold:
                    return [Violation(self.id, "this reply nearly repeats an earlier one",
                                      self.penalty)]
        return []


class LengthLimit(Rule):
    """Replies must stay within ``max_words`` words (tool calls not counted).

    Args:
        max_words: Longest reply allowed.
        penalty: Penalty for an over-long reply.
    """

    id = "length_limit"

    def __init__(self, max_words: int = 120, penalty: float = 0.1):
        if max_words < 1:
            raise ConfigError(f"max_words must be >= 1, got {max_words}")
        self.max_words = max_words
        self.penalty = penalty
        self.description = f"Keep replies under {max_words} words."

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Count spoken words."""
        n = len(ctx.tokens)
        if n > self.max_words:
            return [Violation(self.id, f"reply has {n} words, limit {self.max_words}",
                              self.penalty)]
        return []


class ForbiddenContent(Rule):
    """The spoken reply must not match any of ``patterns`` (case-insensitive regexes).

    Args:
        rule_id: Id reported in violations.
        patterns: Regular expressions of forbidden content.
        penalty: Penalty per violating reply.
        severe: Whether a match ends the episode.
        description: Text shown to the agent.
    """

    def __init__(self, rule_id: str, patterns: Iterable[str], *, penalty: float = 0.3,
                 severe: bool = False, description: str = ""):
        pats = list(patterns)
        if not pats:
            raise ConfigError("ForbiddenContent needs at least one pattern")
        self.id = rule_id
        self.regex = re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE)
        self._search = self.regex.search
        self.penalty = penalty
        self.severe = severe
        self.description = description or f"Forbidden content ({rule_id})."

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Search the spoken text."""
        m = self._search(ctx.text)
        if m:
            return [Violation(self.id, f"forbidden content: {m.group(0)!r}", self.penalty,
                              self.severe)]
        return []


# Each word list is one alternation behind a shared leading ``\b``: the same matches as
# one ``\bword`` alternative per word, found about twice as fast (the word boundary is
# tested once per position instead of once per word).
_PROFANITY = [r"\b(?:f+u+c+k\w*|s+h+i+t+\w*|bitch\w*|bastard\w*|asshole\w*|damn\w*|crap\b|"
              r"wtf\b)"]


def profanity(penalty: float = 0.5) -> ForbiddenContent:
    """A :class:`ForbiddenContent` rule for common English profanity."""
    return ForbiddenContent("no_profanity", _PROFANITY, penalty=penalty,
                            description="No profanity.")


class NoCardNumber(Rule):
    """Never reveal a full payment card number (Luhn-valid 13-19 digits); severe.

    Args:
        penalty: Penalty for a leak (the episode also ends).
    """

    id = "no_card_number"
    description = "Never reveal a full card number; refer to cards by their last four digits."

    def __init__(self, penalty: float = 1.0):
        self.penalty = penalty

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Scan the whole reply, tool calls included."""
        if card_numbers(ctx.reply):
            return [Violation(self.id, "a full card number was revealed", self.penalty,
                              severe=True)]
        return []


class RequiredProcedure(Rule):
    """Some tools may only run after a prerequisite (e.g. identity verification).

    The prerequisite is a truthy flag in the world (``world[flag]``) set by an earlier
    turn's tool call. A guarded call made before it is blocked.

    Args:
        rule_id: Id reported in violations.
        guarded: Tool names that need the prerequisite.
        flag: Key of the world flag that marks the prerequisite as done.
        description: Text shown to the agent.
        penalty: Penalty per blocked call.
    """

    def __init__(self, rule_id: str, guarded: Iterable[str], flag: str, *,
                 description: str, penalty: float = 0.3):
        self.id = rule_id
        self.guarded = frozenset(guarded)
        self.flag = flag
        self.description = description
        self.penalty = penalty

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Block each guarded call while the flag is unset."""
        if ctx.world.get(self.flag):
            return []
        return [
            Violation(self.id, f"{c.name} needs {self.flag.replace('_', ' ')} first "
                      f"({self.description})", self.penalty, call_index=i)
            for i, c in enumerate(ctx.calls)
            if c.error is None and c.name in self.guarded
        ]


def _canonical_args(call: ToolCall) -> dict[str, str]:
    return {k: normalize(str(v)) for k, v in call.args.items()}


class ConfirmBeforeWrite(Rule):
    """Some tools may only run with details the user has just confirmed.

    The slot-filling pattern of assistants: read the details back, wait for a yes, then
    act. The simulated user marks the turn that confirms a read-back with
    ``Turn.meta["confirmed"]``: a mapping with the tool name under ``"tool"`` and the
    confirmed arguments in canonical form (set through :attr:`AgendaUser.turn_meta
    <dialog_gym.simulator.AgendaUser.turn_meta>`); a turn that changes or withdraws the
    details, or follows the write, sets ``meta["confirmed"] = None``. A guarded call is
    allowed only when the most recent user turn carrying that key confirmed this very
    call (same tool, ``canonical(call)`` equal on every confirmed argument), and only one
    guarded call per reply; any other guarded call is blocked.

    Args:
        rule_id: Id reported in violations.
        guarded: Tool names that need a confirmation.
        description: Text shown to the agent.
        canonical: ``(call) -> {arg: value}`` in the form the user confirms (default:
            each argument normalised with :func:`~dialog_gym.text.normalize`).
        penalty: Penalty per blocked call.
    """

    def __init__(self, rule_id: str, guarded: Iterable[str], *, description: str,
                 canonical: Any = None, penalty: float = 0.3):
        self.id = rule_id
        self.guarded = frozenset(guarded)
        self.description = description
        self.canonical = canonical or _canonical_args
        self.penalty = penalty

    def confirmation(self, dialogue: Dialogue) -> Mapping[str, Any] | None:
        """What the user has confirmed and not withdrawn since, or ``None``."""
        for turn in reversed(dialogue):
            if turn.speaker == USER and "confirmed" in turn.meta:
                return turn.meta["confirmed"]
        return None

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Block guarded calls that do not match the standing confirmation."""
        calls = [(i, c) for i, c in enumerate(ctx.calls)
                 if c.error is None and c.name in self.guarded]
        if not calls:
            return []
        confirmed = self.confirmation(ctx.dialogue)
        out = []
        used = False
        for i, c in calls:
            why = None
            if used:
                why = "one confirmation allows one write; this call was not confirmed"
            elif not confirmed:
                why = (f"{c.name} needs the user's confirmation first: read the details back "
                       "and wait for a yes in an earlier turn")
            else:
                args = self.canonical(c)
                wrong = [k for k, v in confirmed.items()
                         if k != "tool" and str(args.get(k, "")) != str(v)]
                if confirmed.get("tool") not in (None, c.name) or wrong:
                    what = ", ".join(f"{k}={v}" for k, v in confirmed.items() if k != "tool")
                    why = (f"{c.name} differs from what the user confirmed "
                           f"({confirmed.get('tool')}: {what})")
            if why:
                out.append(Violation(self.id, why, self.penalty, call_index=i))
            else:
                used = True
        return out


_RUDE = [  # one alternation behind a shared \b, as _PROFANITY above
    r"\b(?:shut up\b|stupid\b|idiot\w*|dumb\b|moron\w*|not my (?:problem|job)\b|"
    r"deal with it\b|i (?:don't|do not) care\b|calm down\b|whatever\b|"
    r"stop (?:whining|complaining)\b|go away\b|your (?:own )?fault\b|get lost\b|"
    r"leave me alone\b|what do you want\b|obviously\b)",
]


class Politeness(Rule):
    """A politeness floor: no insults, dismissive or condescending phrases.

    The phrases are read in their clause of the reply's analysis
    (:attr:`RuleContext.analysis`; the core lexicon's when there is none), so that
    innocent uses pass: "calm down" is rude as an order ("Calm down, sir.", "you need to
    calm down"), not as a description ("... it's safe to calm down"); "whatever" is rude
    on its own ("Whatever."), not in "Take whatever time you need."; "your fault" is
    rude when said, not in "It's not your fault."

    Args:
        penalty: Penalty per rude reply.
        extra: Additional regexes counted as rude (anywhere).
    """

    id = "politeness"
    description = "Stay polite: no insults, dismissive or condescending phrases."
    #: words that may stand before an order or a bare "whatever" ("just calm down")
    _LEAD = frozenset("just please ok okay so now hey well fine oh look alright".split())
    #: frames that make what follows an order ("you need to calm down")
    _ORDER = ("you need to", "you should", "you have to", "you must", "you've got to",
              "you gotta", "i need you to", "i want you to")
    _lexicon: Any = None

    def __init__(self, penalty: float = 0.3, extra: Iterable[str] = ()):
        self.penalty = penalty
        self.regex = re.compile("|".join(_RUDE + list(extra)), re.IGNORECASE)

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Search each clause of the spoken text for rude phrases, in context."""
        if not self.regex.search(ctx.text):
            return []
        a = ctx.analysis
        if a is None:
            if Politeness._lexicon is None:
                from dialog_gym.understanding import Lexicon

                Politeness._lexicon = Lexicon.from_data()
            a = Politeness._lexicon.analyze(ctx.text)
        for c in a.clauses:
            for m in self.regex.finditer(c.text):
                if self._rude(m.group(0).lower(), c, c.text[:m.start()].lower()):
                    return [Violation(self.id, f"rude phrase: {m.group(0)!r}", self.penalty)]
        return []

    def _rude(self, phrase: str, clause: Any, before: str) -> bool:
        if phrase == "calm down":
            return all(t in self._LEAD for t in tokens(before)) or \
                before.rstrip().endswith(self._ORDER)
        if phrase == "whatever":
            return all(t in self._LEAD or t == "whatever" for t in clause.tokens)
        if phrase in ("your fault", "your own fault"):
            return not clause.negated
        return True


class RuleBook:
    """An ordered collection of rules with unique ids.

    Args:
        rules: The rules, checked in order.
    """

    def __init__(self, rules: Iterable[Rule] = ()):
        self.rules: list[Rule] = []
        for r in rules:
            self.add(r)

    def add(self, rule: Rule) -> None:
        """Append a rule (ids must be unique)."""
        if not isinstance(rule, Rule):
            raise TypeError(f"expected a dialog_gym.rules.Rule, got {type(rule).__name__}")
        if rule.id in self.ids:
            raise ConfigError(f"duplicate rule id {rule.id!r}; rule ids must be unique")
        self.rules.append(rule)

    def extended(self, rules: Iterable[Rule]) -> RuleBook:
        """A new rulebook with ``rules`` appended."""
        return RuleBook([*self.rules, *rules])

    @property
    def ids(self) -> list[str]:
        """Rule ids in order."""
        return [r.id for r in self.rules]

    def check(self, ctx: RuleContext) -> list[Violation]:
        """All violations of the reply."""
        out: list[Violation] = []
        for r in self.rules:
            out.extend(r.check(ctx))
        return out

    def describe(self) -> str:
        """The rules as a bullet list for the agent's context."""
        key = tuple(id(r) for r in self.rules)
        if getattr(self, "_describe_key", None) != key:
            self._describe = "\n".join(f"- {r.description}" for r in self.rules if r.description)
            self._describe_key = key
        return self._describe

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"RuleBook({self.ids})"
