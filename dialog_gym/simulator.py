"""User simulation: the protocol and a reusable agenda-based simulator.

:class:`UserSimulator` is what an environment talks to. :class:`AgendaUser` is the shared
machinery of every built-in simulated user, in the tradition of agenda-based user
simulation for task-oriented dialogue (Schatzmann et al., 2007): the user has a goal and
an agenda of things to tell and to learn, a mood that reacts to the agent's politeness
and rule breaks, and patience that runs out when the agent does not make progress.

The machinery is deliberately hard to game. Each reply is analysed for the degenerate
strategies a reward-hacking policy finds first, and none of them counts as progress:

- **empty** replies and replies that only make failing tool calls;
- **echo**: a reply made mostly of the user's own last words;
- **repetition** of an earlier reply (the ``no_repetition`` rule);
- **keyword stuffing**: more distinct requests in one reply than a person would make,
  or a "word salad" with almost no function words;
- rudeness and other rule violations, which also cost mood.

A domain subclass supplies the goal logic (:meth:`AgendaUser.react`), the progress
potential (:meth:`AgendaUser.progress`) and its templates; wording is drawn from the
templates with the environment's RNG, so it varies by seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dialog_gym.consistency import contradictions
from dialog_gym.dialogue import USER, Dialogue, Turn
from dialog_gym.rules import Violation
from dialog_gym.scenario import Scenario
from dialog_gym.text import function_word_ratio, tokens
from dialog_gym.tools import ToolCall, ToolResult
from dialog_gym.understanding import Analysis, Lexicon


@dataclass(frozen=True)
class AgentReply:
    """The agent's reply as the simulator receives it.

    Attributes:
        raw: The reply as written (tool calls included).
        text: What the user hears (tool calls removed).
        calls: Parsed tool calls.
        results: Their results, in order.
        violations: Rule violations of this reply.
        analysis: The reply's :class:`~dialog_gym.understanding.Analysis` (what it
            means), computed once by the environment.
        prior: The analyses of the agent's earlier replies in the episode, oldest first.
    """

    raw: str
    text: str
    calls: tuple[ToolCall, ...] = ()
    results: tuple[ToolResult, ...] = ()
    violations: tuple[Violation, ...] = ()
    analysis: Analysis | None = None
    prior: tuple[Analysis, ...] = ()


@dataclass(frozen=True)
class Reaction:
    """The simulated user's reaction to one reply.

    Attributes:
        turn: The user's next turn (``None`` if the user says nothing).
        done: The user ends the conversation.
        success: The user's goal is met (meaningful when ``done``).
        mood: Current mood in [-1, 1].
        progress: Goal-progress potential in [0, 1] (monotone within an episode).
        reason: Why the conversation ended (``"goal_met"``, ``"patience"``,
            ``"mood"``, ``"severe_violation"``, or a domain's own reason from
            :meth:`AgendaUser.end_reason`) or ``""``.
        labels: Analysis of the reply (empty, echo, stuffed, ...), for ``info``.
    """

    turn: Turn | None
    done: bool = False
    success: bool = False
    mood: float = 0.0
    progress: float = 0.0
    reason: str = ""
    labels: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class UserSimulator(Protocol):
    """What an environment needs from a simulated user."""

    def start(self, scenario: Scenario, world: dict[str, Any],
              rng: np.random.Generator) -> Turn:
        """Begin an episode; return the user's opening turn."""
        ...

    def respond(self, dialogue: Dialogue, reply: AgentReply,
                rng: np.random.Generator) -> Reaction:
        """React to the agent's reply (``dialogue`` already contains it)."""
        ...


# ----------------------------------------------------------------------------- goal state


@dataclass(frozen=True)
class Fact:
    """Something the user must be told, and when telling it counts.

    Attributes:
        name: Fact id (e.g. ``"tracking"``).
        told: ``(reply, reply_lowercased) -> bool``: the reply states the fact.
        ready: ``(world) -> bool``: the world supports the fact (e.g. the refund was
            really made, the order was really looked up). A claim made before it is ready
            does not count, so saying the right words without doing the work earns nothing.
    """

    name: str
    told: Callable[[str, str], bool]
    ready: Callable[[Mapping[str, Any]], bool] = lambda world: True


@dataclass(frozen=True)
class Milestone:
    """A weighted step towards the goal; ``reached()`` is evaluated on the current state."""

    name: str
    weight: float
    reached: Callable[[], bool]


# ----------------------------------------------------------------------------- analysis

#: the user's words when the agent contradicts itself and the domain has no
#: ``react_contradiction`` template
_CONTRADICTION = ("Wait, that's not what you told me before.",
                  "Hold on, earlier you said something different.")


@dataclass
class ReplyAnalysis:
    """Labels of one agent reply computed by :meth:`AgendaUser.analyze`."""

    text: str
    tokens: tuple[str, ...]
    requests: set[str]
    empty: bool = False
    echo: bool = False
    repeat: bool = False
    stuffed: bool = False
    rude: bool = False
    empathy: bool = False
    severe: bool = False
    violations: tuple[Violation, ...] = ()
    calls_ok: int = 0
    calls_failed: int = 0
    #: the environment's analysis of the reply (acts, mentions, polarity)
    meaning: Analysis | None = None
    #: what the reply asserts against the agent's own earlier replies
    contradictions: list[Any] = field(default_factory=list)

    @property
    def lower(self) -> str:
        """``text.lower()``, computed once for every check that needs it."""
        # (cached by hand: functools.cached_property takes a lock on every first access)
        low = self.__dict__.get("_lower")
        if low is None:
            low = self.__dict__["_lower"] = self.text.lower()
        return low

    @property
    def degenerate(self) -> bool:
        """True for replies that can never count as progress."""
        return self.empty or self.echo or self.repeat or self.stuffed

    def as_dict(self) -> dict[str, Any]:
        """The boolean labels and requested slots, for ``info``."""
        return {"empty": self.empty, "echo": self.echo, "repeat": self.repeat,
                "stuffed": self.stuffed, "rude": self.rude, "empathy": self.empathy,
                "requests": sorted(self.requests),
                "contradictions": [c.message for c in self.contradictions]}


def echo_score(reply_tokens: Sequence[str], user_tokens: Sequence[str]) -> float:
    """Share of the reply's content tokens that come from the user's last turn."""
    content = [t for t in reply_tokens if len(t) > 2]
    if not content:
        return 0.0
    user = set(user_tokens)
    return sum(map(user.__contains__, content)) / len(content)


class AgendaUser:
    """Base class of agenda-based simulated users (see the module docstring).

    Subclasses set :attr:`templates` and implement :meth:`opening`, :meth:`restate` and
    :meth:`react`, which reads what the reply means from ``a.meaning`` (the env's
    :class:`~dialog_gym.understanding.Analysis`: requested slots, acts, asserted and
    denied values; the domain declares what can be understood as data, see
    :meth:`dialog_gym.domain.Domain.understanding`). No subclass parses the reply.
    Goal progress comes from :attr:`milestones` (set in :meth:`reset_goal_state`): the
    potential is the summed weight of the milestones reached so far, and a milestone once
    reached stays reached,
    so progress never decreases. :attr:`facts` lists what the user must be told;
    :meth:`check_facts` marks the ones a reply tells. Override :meth:`is_complete` to add
    conditions (e.g. no unwanted side effects).

    Args:
        patience: Turns without progress the user tolerates (per difficulty: a sequence
            indexed by difficulty, or one int).
        max_requests: Most distinct slots one reply may ask for before it reads as
            keyword stuffing.
        echo_threshold: Share of reply content words taken from the user's last turn
            above which a reply counts as an echo.
    """

    #: act name -> wording variants (``str.format`` fields filled from slots)
    templates: Mapping[str, Sequence[str]] = {}
    #: entity kinds that hold one value at a time (an order's status): two different
    #: asserted values about the same thing contradict (see :mod:`dialog_gym.consistency`)
    single_valued: tuple[str, ...] = ("status",)

    def __init__(self, patience: int | Sequence[int] = (10, 8, 6), max_requests: int = 2,
                 echo_threshold: float = 0.7) -> None:
        self.patience_levels = patience
        self.max_requests = max_requests
        self.echo_threshold = echo_threshold
        self.scenario: Scenario | None = None
        self.world: dict[str, Any] = {}
        self.mood = 0.0
        self.patience = 0
        self.acknowledged = False
        self.turns = 0
        self.milestones: list[Milestone] = []
        self.facts: list[Fact] = []
        self.told: set[str] = set()
        self.achieved: set[str] = set()
        #: labels the domain attaches to the user's next turn (``Turn.meta``), e.g. what the
        #: user just confirmed; reset before each reply and merged into the turn's meta
        self.turn_meta: dict[str, Any] = {}

    # -- episode -------------------------------------------------------------------
    def start(self, scenario: Scenario, world: dict[str, Any],
              rng: np.random.Generator) -> Turn:
        """Reset the user's state and return the opening turn."""
        self.scenario = scenario
        self.world = world
        self.mood = float(scenario.context.get("mood_value", 0.0))
        p = self.patience_levels
        self.patience = int(p if isinstance(p, int) else p[min(scenario.difficulty, len(p) - 1)])
        self.acknowledged = False
        self.turns = 0
        self.milestones, self.facts = [], []
        self.told, self.achieved = set(), set()
        self.turn_meta = {}
        self.reset_goal_state()
        return Turn(USER, self.opening(rng), {"act": "open", "mood": self.mood})

    def respond(self, dialogue: Dialogue, reply: AgentReply,
                rng: np.random.Generator) -> Reaction:
        """Analyse the reply, update mood and patience, and answer."""
        self.turns += 1
        self.turn_meta = {}
        a = self.analyze(dialogue, reply)
        before = self.progress()
        if a.severe:
            return self._end(self.say("quit_violation", rng), "severe_violation", a)

        prefix: list[str] = []
        if a.rude:
            self.mood -= 0.5
            prefix.append(self.say("react_rude", rng))
        if a.contradictions and not a.degenerate:
            # the agent contradicts what it told the user earlier ("It arrives on Friday."
            # ... "It arrives on Monday."): the user notices, and trusts it less
            self.mood -= 0.25
            prefix.append(self.say("react_contradiction", rng)
                          if "react_contradiction" in self.templates else
                          _CONTRADICTION[self.turns % len(_CONTRADICTION)])
        other = [v for v in a.violations if v.rule_id not in ("politeness", "no_profanity")]
        self.mood -= 0.15 * sum(1 for v in other if v.rule_id != "no_repetition")
        if a.empathy and self.mood < 0.2 and not self.acknowledged and not a.degenerate:
            self.mood += 0.2
            self.acknowledged = True

        if a.empty:
            parts, useful = [self.say("react_empty", rng)], False
        elif a.repeat:
            parts, useful = [self.say("react_repeat", rng), self.restate(rng)], False
        elif a.echo:
            parts, useful = [self.say("react_echo", rng), self.restate(rng)], False
        elif a.stuffed:
            parts, useful = [self.say("react_confused", rng), self.restate(rng)], False
        else:
            parts, useful = self.react(a, reply, rng)

        after = self.progress()
        progressed = after > before + 1e-9
        if progressed:
            self.mood = min(1.0, self.mood + 0.1)
        if not (useful or progressed):
            self.patience -= 1
            if a.degenerate:
                self.patience -= 1
        self.mood = max(-1.0, min(1.0, self.mood))

        if self.is_complete():
            return Reaction(Turn(USER, self.say("thanks", rng),
                                 {"act": "thanks", **self.turn_meta}), done=True,
                            success=True, mood=self.mood, progress=after, reason="goal_met",
                            labels=a.as_dict())
        reason = self.end_reason()
        if reason:
            return self._end(self.farewell(reason, rng), reason, a)
        if self.mood <= -1.0:
            return self._end(self.say("quit", rng), "mood", a)
        if self.patience <= 0:
            return self._end(self.say("quit", rng), "patience", a)
        text = " ".join(p for p in [*prefix, *parts] if p)
        return Reaction(Turn(USER, text, {"act": "respond", "mood": self.mood,
                                          **self.turn_meta}), mood=self.mood,
                        progress=after, labels=a.as_dict())

    def _end(self, text: str, reason: str, a: ReplyAnalysis) -> Reaction:
        return Reaction(Turn(USER, text, {"act": "quit", "reason": reason,
                                          **self.turn_meta}), done=True,
                        success=False, mood=self.mood, progress=self.progress(), reason=reason,
                        labels=a.as_dict())

    # -- analysis ------------------------------------------------------------------
    def analyze(self, dialogue: Dialogue, reply: AgentReply) -> ReplyAnalysis:
        """Label the reply: requests, degenerate patterns, politeness, violations."""
        toks = tokens(reply.text)
        meaning = reply.analysis
        if meaning is None:  # called outside an env: the core lexicon (no domain slots)
            meaning = Lexicon.from_data().analyze(reply.text)
        a = ReplyAnalysis(text=reply.text, tokens=toks, requests=meaning.requests,
                          violations=reply.violations, meaning=meaning)
        if reply.results:
            a.calls_ok = sum(r.ok for r in reply.results)
            a.calls_failed = len(reply.results) - a.calls_ok
        ids = {v.rule_id for v in reply.violations}
        a.severe = any(v.severe for v in reply.violations)
        a.rude = bool(ids & {"politeness", "no_profanity"})
        a.repeat = "no_repetition" in ids
        a.empty = not toks and a.calls_ok == 0
        a.empathy = meaning.has("apologize") or meaning.has("empathize")
        if reply.prior:
            a.contradictions = contradictions(meaning, reply.prior,
                                              single_valued=self.single_valued)
        last_user = None
        for t in reversed(dialogue):
            if t.speaker == USER:
                last_user = t
                break
        if last_user is not None and len(toks) >= 4:
            a.echo = echo_score(toks, tokens(last_user.text)) >= self.echo_threshold
        salad = len(toks) >= 6 and function_word_ratio(toks) < 0.15
        a.stuffed = salad or len(a.requests) > self.max_requests
        return a

    # -- language generation ------------------------------------------------------
    def say(self, act: str, rng: np.random.Generator, **slots: Any) -> str:
        """One wording of ``act`` drawn with ``rng`` (mood-specific variants preferred)."""
        variants = None
        if self.mood < -0.3:
            variants = self.templates.get(act + ".upset")
        if not variants:
            variants = self.templates.get(act)
        if not variants:
            raise KeyError(f"{type(self).__name__} has no template for act {act!r}")
        text = variants[int(rng.integers(len(variants)))]
        return text.format(**slots) if slots else text

    # -- domain hooks -----------------------------------------------------------------
    def reset_goal_state(self) -> None:
        """Reset the domain-specific part of the state (called by :meth:`start`)."""

    def opening(self, rng: np.random.Generator) -> str:
        """The user's first turn."""
        raise NotImplementedError

    def restate(self, rng: np.random.Generator) -> str:
        """What the user still needs, said again after an unhelpful reply."""
        raise NotImplementedError

    def react(self, a: ReplyAnalysis, reply: AgentReply,
              rng: np.random.Generator) -> tuple[list[str], bool]:
        """Answer a non-degenerate reply: ``(utterance parts, useful)``."""
        raise NotImplementedError

    def end_reason(self) -> str:
        """Why the user ends the talk now without success, or ``""`` to go on.

        Checked on every reply after :meth:`is_complete`. Override it where the goal can
        become unreachable before patience runs out (every question asked and some
        answered wrongly, a game's wrong guesses used up); the default never ends early.
        """
        return ""

    def farewell(self, reason: str, rng: np.random.Generator) -> str:
        """The user's last words when :meth:`end_reason` ends the talk for ``reason``.

        Default: a ``quit.<reason>`` template if the user has one, else ``quit``.
        """
        act = f"quit.{reason}"
        return self.say(act if act in self.templates else "quit", rng)

    def progress(self) -> float:
        """Summed weight of the milestones reached so far, in [0, 1] (monotone)."""
        achieved = self.achieved
        total = 0.0
        for m in self.milestones:
            if m.name in achieved:
                total += m.weight
            elif m.reached():
                achieved.add(m.name)
                total += m.weight
        return min(1.0, total)

    def all_told(self) -> bool:
        """Every fact in :attr:`facts` has been told."""
        return all(f.name in self.told for f in self.facts)

    def check_facts(self, reply: str, lower: str | None = None) -> list[str]:
        """Mark the facts ``reply`` tells (only those whose world is ready); return them.

        ``lower`` may pass ``reply.lower()`` where the caller has it already.
        """
        low = reply.lower() if lower is None else lower
        new = []
        for f in self.facts:
            if f.name not in self.told and f.ready(self.world) and f.told(reply, low):
                self.told.add(f.name)
                new.append(f.name)
        return new

    def is_complete(self) -> bool:
        """The goal is met; default: progress reached 1."""
        return self.progress() >= 1.0 - 1e-9
