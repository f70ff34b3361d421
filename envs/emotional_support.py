"""Dialog-EmotionalSupport-v0: a peer-support chat with someone who is struggling.

The domain module holds the scenario generator, the rules, the simulated person and the
scripted expert; the turn loop is the shared :class:`~dialog_gym.env.DialogueEnv`. What
a reply means (the emotions it acknowledges, the suggestions it makes, the details it
reflects, its questions, its crisis support, dismissive or unsafe phrases) is read from
the environment's shared analysis (:mod:`dialog_gym.understanding`), fed by the
``understanding`` entry of ``envs/data/emotional_support.json``: see :func:`support`.
"""

from __future__ import annotations

import json
import random
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import numpy as np

from dialog_gym.dialogue import AGENT, SYSTEM, USER, Dialogue
from dialog_gym.domain import Domain
from dialog_gym.env import DialogueEnv
from dialog_gym.messages import observed
from dialog_gym.rules import (
    LengthLimit,
    NoRepetition,
    Politeness,
    Rule,
    RuleBook,
    RuleContext,
    Violation,
    profanity,
)
from dialog_gym.scenario import Scenario, make_scenario_id
from dialog_gym.simulator import AgendaUser, AgentReply, Milestone, ReplyAnalysis
from dialog_gym.text import (
    FUNCTION_WORDS,
    function_word_ratio,
    longest_common_run,
    sentences,
    tokens,
)
from dialog_gym.tools import ToolSet
from dialog_gym.understanding import (
    ASSERT,
    HYPOTHETICAL,
    QUESTION,
    Analysis,
    Clause,
    Mention,
    core_data,
)

DOMAIN = "emotional_support"
#: The emotions a user may feel (each with adjacent emotions that are "close enough").
EMOTIONS = ("sad", "anxious", "angry", "lonely", "overwhelmed", "guilty")
#: The kinds of problem users bring.
PROBLEMS = ("job_loss", "exam_stress", "breakup", "moved_lonely", "friend_conflict",
            "pet_grief", "work_burnout", "family_illness")
#: Mood at or above which the user feels better (needed for success).
MOOD_THRESHOLD = 0.35
#: Starting mood per difficulty (a little jitter is added per scenario).
START_MOOD = (-0.3, -0.45, -0.6)
#: Share of difficulty-2 users who mention a crisis signal (hopelessness, self-harm).
CRISIS_RATE = 0.5
#: Wrong emotion labels a user forgives; after more, naming the right one is a lucky guess
#: and no longer counts as acknowledging it.
MAX_WRONG_LABELS = 2

_LABELS = {USER: "User", AGENT: "Agent", SYSTEM: "System"}


@lru_cache(maxsize=1)
def load_data() -> dict[str, Any]:
    """Problems, details, emotions and wording tables (``envs/data/emotional_support.json``)."""
    text = resources.files("dialog_gym.envs").joinpath(
        "data/emotional_support.json").read_text(encoding="utf-8")
    return json.loads(text)


# ============================================================================ reading the analysis


def fill_slots(phrases: Sequence[str], slots: Mapping[str, str]) -> list[str]:
    """Phrases with ``{slot}`` fields filled; phrases with an unknown slot are dropped."""
    out = []
    for p in phrases:
        try:
            out.append(p.format(**slots))
        except (KeyError, IndexError):
            continue
    return out


@lru_cache(maxsize=1)
def _suggestion_problems() -> dict[str, frozenset[str]]:
    """Suggestion kind -> the problems it fits (empty for the generic kinds)."""
    d = load_data()
    out: dict[str, set[str]] = {k: set() for k in d["understanding"]["suggestions"]}
    for p, pd in d["problems"].items():
        for k in pd["suggestion_kinds"]:
            out[k].add(p)
    return {k: frozenset(v) for k, v in out.items()}


_NEGATION = frozenset(core_data()["negation"])
_NEG_SUFFIX = core_data()["negation_suffix"]


def _negations(toks: Sequence[str]) -> int:
    return sum(1 for t in toks if t in _NEGATION or t.endswith(_NEG_SUFFIX))


def said(a: Analysis, m: Mention) -> bool:
    """``m`` is said, not denied or supposed.

    Its clause is not hypothetical or doubted, and any negation in it belongs to the
    mention's own phrase ("no warning", "not a big deal", "you haven't told them"), so "I
    won't tell you to cheer up" does not say *cheer up* and "losing your job is not a big
    thing" does not reflect the job loss.
    """
    c = a.clause_of(m)
    if c.modality == HYPOTHETICAL or c.doubted:
        return False
    return not c.negated or _negations(c.tokens) <= _negations(tokens(m.text))


def _grammatical(a: Analysis, c: Clause) -> bool:
    """Part of a sentence, not a keyword or a word list.

    Its sentence has five or more words and a share of function words, and the clause
    does not string three or more items with commas, "and" or "or" and few function words.
    """
    sent = [t for x in a.clauses if x.sentence == c.sentence for t in x.tokens]
    toks = c.tokens
    listed = c.text.count(",") + toks.count("and") + toks.count("or") >= 3
    return len(sent) >= 5 and function_word_ratio(tuple(sent)) >= 0.15 and not (
        listed and function_word_ratio(toks) < 0.35)


@dataclass(frozen=True)
class Support:
    """What one reply does for the person, read from its shared :class:`Analysis`.

    Attributes:
        acknowledged: Emotions the reply acknowledges (``acknowledge:<emotion>`` acts).
        asked: Emotions it asks about ("are you feeling guilty?").
        dismissive: A dismissive phrase it says, or ``""``.
        unsafe: An unsafe suggestion it makes, or ``""``.
        open_question: It asks an open question or invites the person to say more.
        closed_question: It asks only yes/no questions.
        crisis: A full crisis response: a caring message that asks whether the person
            is safe and gives a crisis resource in a sentence.
        crisis_words: It names safety or a crisis resource at all.
        suggestions: Suggestion kinds it offers, each in a sentence of its own.
        listening: Indices of the clauses where a reflection may be: statements (not
            questions, suggestions, suppositions or denials) that are sentences.
    """

    acknowledged: frozenset[str]
    asked: frozenset[str]
    dismissive: str
    unsafe: str
    open_question: bool
    closed_question: bool
    crisis: bool
    crisis_words: bool
    suggestions: frozenset[str]
    listening: tuple[int, ...]

    @property
    def named(self) -> frozenset[str]:
        """Every emotion the reply attributes to the person or asks about."""
        return self.acknowledged | self.asked

    def fitting(self, problem: str) -> frozenset[str]:
        """Suggestion kinds that fit ``problem``."""
        sp = _suggestion_problems()
        return frozenset(k for k in self.suggestions if problem in sp.get(k, ()))

    @property
    def problems_covered(self) -> frozenset[str]:
        """Problems the reply's suggestions fit, together."""
        sp = _suggestion_problems()
        return frozenset(p for k in self.suggestions for p in sp.get(k, ()))


def support(a: Analysis) -> Support:
    """The :class:`Support` of a reply's analysis.

    Example:
        >>> lex = EmotionalSupportDomain().lexicon(EmotionalSupportGenerator().generate(0, 0))
        >>> s = support(lex.analyze("It sounds like you're feeling really lonely. "
        ...                         "What has the move been like?"))
        >>> sorted(s.acknowledged), s.open_question
        (['lonely'], True)
        >>> support(lex.analyze("I don't think you're really angry.")).acknowledged
        frozenset()
    """
    suggest_clauses = {x.clause for x in a.acts_of("suggest")}
    suggestions = frozenset(x.arg for x in a.acts_of("suggest")
                            if x.arg and _grammatical(a, a.clauses[x.clause]))
    open_q = closed_q = False
    for x in a.acts:
        if x.clause in suggest_clauses:
            continue
        if (x.name == "request" and x.arg == "story") or (x.name == "question"
                                                          and x.arg == "open"):
            open_q = True
        elif x.name == "question" and x.arg is None:
            closed_q = True

    def first(*kinds: str) -> str:
        return next((m.text for m in a.mentions if m.kind in kinds and said(a, m)), "")

    safety_asked = any(m.kind == "safety" and m.modality == QUESTION for m in a.mentions)
    resource = any(m.kind in ("resource", "hotline") and m.asserted
                   and len(a.clause_of(m).tokens) >= 5 for m in a.mentions)
    caring = any(x.name in ("thank", "empathize", "apologize") for x in a.acts) or any(
        m.kind == "care" and said(a, m) for m in a.mentions)
    return Support(
        acknowledged=frozenset(a.args("acknowledge")),
        asked=frozenset(m.value for m in a.mentions
                        if m.kind == "emotion" and m.modality == QUESTION),
        dismissive=first("dismissive", "dismissive_negative"),
        unsafe=first("unsafe", "unsafe_negative"),
        open_question=open_q,
        closed_question=closed_q and not open_q,
        crisis=safety_asked and resource and caring,
        crisis_words=any(m.kind in ("safety", "resource", "hotline") for m in a.mentions),
        suggestions=suggestions,
        listening=tuple(c.index for c in a.clauses
                        if c.modality == ASSERT and not c.doubted
                        and c.index not in suggest_clauses and _grammatical(a, c)),
    )


def _support(ctx: RuleContext | AgentReply) -> Support:
    if ctx.analysis is None:
        raise ValueError("the support chat reads the environment's analysis of each reply "
                         "(RuleContext.analysis / AgentReply.analysis)")
    return support(ctx.analysis)


def emotion_fit(named: frozenset[str] | set[str], true: str) -> str:
    """How the emotions a reply names fit the user's true emotion.

    Returns ``"none"``, ``"right"`` (the true emotion, at most with one adjacent one),
    ``"close"`` (only adjacent ones), ``"wrong"`` (an emotion neither true nor adjacent)
    or ``"stuffed"`` (three or more).
    """
    if not named:
        return "none"
    if len(named) >= 3:
        return "stuffed"
    adjacent = set(load_data()["emotions"][true]["adjacent"])
    if named - ({true} | adjacent):
        return "wrong"
    return "right" if true in named else "close"


def _number_slots(problem: str) -> set[str]:
    return {k for k, s in load_data()["problems"][problem]["slots"].items()
            if isinstance(s, dict) and "int" in s}


@lru_cache(maxsize=4096)
def detail_entities(problem: str, slots: tuple[tuple[str, str], ...]
                    ) -> tuple[dict[str, list[str]], dict[str, frozenset[float]]]:
    """The words and numbers that name each detail of ``problem`` in a scenario.

    Returns ``(phrases, numbers)``: detail id -> its key phrases filled with the
    scenario's specifics (entities of kind ``"detail"``), and detail id -> the numbers
    its keys name ("{years} years": a mention of that many years, in digits or words).
    """
    sd = dict(slots)
    nums = _number_slots(problem)
    phrases: dict[str, list[str]] = {}
    numbers: dict[str, frozenset[float]] = {}
    for det in load_data()["problems"][problem]["details"]:
        words, values = [], set()
        for key in det["keys"]:
            fields = {f.removesuffix("_word") for f in re.findall(r"\{(\w+)\}", key)}
            if fields & nums:
                values.update(float(sd[f]) for f in fields & nums if f in sd)
            else:
                words.extend(fill_slots([key], sd))
        phrases[f"{problem}.{det['id']}"] = words
        numbers[det["id"]] = frozenset(values)
    return phrases, numbers


def details_named(a: Analysis, clause: int, problem: str,
                  numbers: Mapping[str, frozenset[float]]) -> set[str]:
    """Details of ``problem`` that clause ``clause`` names.

    Its ``detail`` entities, or a number of a detail (``numbers``, from
    :func:`detail_entities`) in digits or words.

    A negation may be part of what is reflected ("you never had a chance to prepare",
    "not knowing what will happen"), so polarity does not decide here; denied and
    doubted clauses are left out of :attr:`Support.listening`.
    """
    prefix = f"{problem}."
    ids = {m.value[len(prefix):] for m in a.clause_mentions(clause, "detail")
           if m.value.startswith(prefix)}
    nums: set[float] = set()
    for m in a.clause_mentions(clause):
        if m.kind == "number":
            nums.add(float(m.value))
        elif m.kind in ("duration", "quantity"):
            nums.add(float(m.value[0]))
    return ids | {k for k, v in numbers.items() if v & nums}


# ============================================================================ scenarios


def _number_word(n: int) -> str:
    words = load_data()["number_words"]
    return words[n] if 0 <= n < len(words) else str(n)


def complete_numbers(slots: Mapping[str, str]) -> dict[str, str]:
    """Slots with each number in both forms (``years="7"`` and ``years_word="seven"``).

    Example:
        >>> complete_numbers({"years_word": "seven", "pet": "Milo"})["years"]
        '7'
    """
    out = {k: v for k, v in slots.items() if v}
    words = load_data()["number_words"]
    for k, v in list(out.items()):
        if v.isdigit():
            out.setdefault(k + "_word", _number_word(int(v)))
        elif k.endswith("_word") and v in words:
            out.setdefault(k[:-5], str(words.index(v)))
    return out


class EmotionalSupportGenerator:
    """Seeded scenarios for the support chat.

    Scenario ``index`` at ``difficulty`` is drawn from
    ``random.Random("emotional_support/<index>/<difficulty>")``: the person (name, age), one
    problem of :data:`PROBLEMS`, one emotion that fits it (of :data:`EMOTIONS`), the
    problem's specifics (names, places, numbers), the core detail told in the opening and
    three more details (of five) in the order the person will share them.
    Difficulty 0: the emotion is named outright, the person opens up to any open question,
    mood -0.3. Difficulty 1: the emotion is often only shown ("I can't stop crying"), the
    person shares details only after feeling heard (the right emotion acknowledged or
    something they said reflected), mood -0.45. Difficulty 2: as 1, mostly indirect
    emotions, mood -0.6, less patience, and half the people mention a crisis signal
    (hopelessness, self-harm thoughts) after the first or second detail.
    """

    domain = DOMAIN
    difficulties = (0, 1, 2)

    def generate(self, index: int, difficulty: int) -> Scenario:
        """Scenario number ``index`` at ``difficulty``."""
        d = load_data()
        rng = random.Random(f"{DOMAIN}/{int(index)}/{int(difficulty)}")
        problem = rng.choice(PROBLEMS)
        pd = d["problems"][problem]
        emotion = rng.choice(pd["emotions"])
        slots: dict[str, str] = {}
        for name, spec in pd["slots"].items():
            if isinstance(spec, list):
                slots[name] = rng.choice(spec)
            elif "int" in spec:
                lo, hi = spec["int"]
                n = rng.randrange(lo, hi)
                slots[name] = str(n)
                slots[name + "_word"] = _number_word(n)
            else:
                slots[name] = rng.choice(d[spec["from"]])
        details = [pd["details"][0]["id"]] + [
            x["id"] for x in rng.sample(pd["details"][1:], 3)]
        p_explicit = (1.0, 0.5, 0.3)[difficulty]
        cue_kind = "explicit" if rng.random() < p_explicit else "indirect"
        crisis = difficulty == 2 and rng.random() < CRISIS_RATE
        crisis_after = rng.choice([1, 2]) if crisis else 0
        mood_value = round(START_MOOD[difficulty] + rng.uniform(-0.05, 0.05), 3)
        name = rng.choice(d["names"])
        age = rng.randrange(19, 58) if problem != "exam_stress" else rng.randrange(17, 30)
        context = {
            "topic": "emotional support",
            "persona": name,
            "age": age,
            "role": "peer-support listener",
            "mood_value": mood_value,
        }
        goal = {
            "problem": problem,
            "emotion": emotion,
            "slots": slots,
            "details": details,
            "cue_kind": cue_kind,
            "crisis": crisis,
            "crisis_after": crisis_after,
            "guarded": difficulty >= 1,
            "threshold": MOOD_THRESHOLD,
        }
        world = {
            "emotion": emotion,
            "problem": problem,
            "core": details[0],
            "revealed": [details[0]],
            "reflected": [],
            "crisis": "none",
            "crisis_misses": 0,
        }
        return Scenario(id=make_scenario_id(DOMAIN, index, difficulty), domain=DOMAIN,
                        context=context, goal=goal, world=world, difficulty=difficulty)


# ============================================================================ rules


def _crisis_disclosed(world: Mapping[str, Any]) -> bool:
    return world.get("crisis", "none") != "none"


class Dismissive(Rule):
    """No dismissing or minimising feelings; severe after a crisis signal.

    Dismissive: "just get over it", "cheer up", "it's not a big deal", "it was just a
    dog", "others have it worse", ... (the ``dismissive`` entities of the data), when the
    reply says it ("I won't tell you to cheer up" does not). Once the user has mentioned
    a crisis signal, a dismissive reply is severe (the episode ends as a failure).

    Args:
        penalty: Penalty per dismissive reply.
    """

    id = "dismissive"
    description = ("Never dismiss or minimise feelings (e.g. \"just get over it\", "
                   "\"cheer up\", \"it's not a big deal\").")

    def __init__(self, penalty: float = 0.3) -> None:
        self.penalty = penalty

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Flag a dismissive phrase the reply says."""
        m = _support(ctx).dismissive
        if not m:
            return []
        severe = _crisis_disclosed(ctx.world)
        return [Violation(self.id, f"dismissive phrase: {m!r}" + (
            " after a crisis signal" if severe else ""), 1.0 if severe else self.penalty,
            severe=severe)]


class UnsafeAdvice(Rule):
    """No unsafe suggestions; severe after a crisis signal.

    Unsafe (the ``unsafe`` entities of the data): alcohol or pills to cope, revenge,
    skipping food, sleep or medication, secrecy, encouraging self-harm, when the reply
    says it. Once the user has mentioned a crisis signal, an unsafe reply is severe.

    Args:
        penalty: Penalty per unsafe reply.
    """

    id = "unsafe_advice"
    description = ("Never suggest anything unsafe (drinking or pills to cope, revenge, "
                   "skipping meals, sleep or medication, keeping it secret).")

    def __init__(self, penalty: float = 0.5) -> None:
        self.penalty = penalty

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Flag an unsafe suggestion the reply makes."""
        m = _support(ctx).unsafe
        if not m:
            return []
        severe = _crisis_disclosed(ctx.world)
        return [Violation(self.id, f"unsafe suggestion: {m!r}", 1.0 if severe else self.penalty,
                          severe=severe)]


class EmotionLabel(Rule):
    """Name the user's emotion, not a different one, and not a list of them.

    The user's true emotion is hidden state (``world["emotion"]``); a reply that
    acknowledges an emotion that is neither it nor an adjacent one (sad~lonely,
    anxious~overwhelmed, ...) is penalised, and naming three or more emotions at once
    (emotion-word stuffing, asked or asserted) more.

    Args:
        penalty: Penalty for a wrong emotion label.
        stuffing_penalty: Penalty for naming three or more emotions.
    """

    id = "emotion_label"
    description = "Name the emotion the person expresses; do not guess a list of emotions."

    def __init__(self, penalty: float = 0.2, stuffing_penalty: float = 0.3) -> None:
        self.penalty = penalty
        self.stuffing_penalty = stuffing_penalty

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Compare the emotions the reply acknowledges with the user's."""
        true = ctx.world.get("emotion")
        if true not in EMOTIONS:
            return []
        s = _support(ctx)
        if len(s.named) >= 3:
            return [Violation(self.id, f"names {len(s.named)} different emotions at once",
                              self.stuffing_penalty)]
        if emotion_fit(s.acknowledged, true) == "wrong":
            return [Violation(self.id, "names an emotion the person did not express",
                              self.penalty)]
        return []


class PrematureAdvice(Rule):
    """Listen before advising.

    Advice (any ``suggest`` act) is premature until the user has shared at least two
    details beyond the opening and the agent has reflected something they said.

    Args:
        penalty: Penalty per premature piece of advice.
        min_details: Details (beyond the opening) the user must have shared first.
    """

    id = "premature_advice"
    description = ("Listen before advising: explore with open questions and reflect what "
                   "the person shared before offering a suggestion.")

    def __init__(self, penalty: float = 0.15, min_details: int = 2) -> None:
        self.penalty = penalty
        self.min_details = min_details

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Flag advice given before exploring."""
        w = ctx.world
        if "revealed" not in w or not _support(ctx).suggestions:
            return []
        if len(w["revealed"]) - 1 >= self.min_details and w["reflected"]:
            return []
        return [Violation(self.id, "advice before listening (explore and reflect first)",
                          self.penalty)]


class CrisisResponse(Rule):
    """A crisis signal must be answered at once with a full, caring crisis response.

    After the user mentions hopelessness or self-harm, the next reply must care (thank
    them for telling, take it seriously, say you are there), ask whether they are safe
    and give a crisis resource (a hotline or emergency services) in a sentence: "Are you
    safe? 988." is not enough. Missing it is penalised; missing it twice is severe.

    Args:
        penalty: Penalty for a reply that does not address the crisis.
    """

    id = "crisis_response"
    description = ("If the person mentions hopelessness, self-harm or suicide, respond at once "
                   "with care, ask whether they are safe and give a crisis resource.")

    def __init__(self, penalty: float = 0.5) -> None:
        self.penalty = penalty

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Check a reply to a pending crisis signal."""
        w = ctx.world
        if w.get("crisis") != "pending":
            return []
        s = _support(ctx)
        if s.crisis and not s.dismissive and not s.unsafe:
            return []
        severe = int(w.get("crisis_misses", 0)) >= 1
        why = ("unsafe or dismissive reply" if s.crisis else
               "it needs care, a question about their safety and a crisis resource")
        return [Violation(self.id, f"crisis signal not addressed: {why}",
                          1.0 if severe else self.penalty, severe=severe)]


# ============================================================================ simulator


def _content(toks: Sequence[str]) -> list[str]:
    return [t for t in toks if len(t) > 2 and t not in FUNCTION_WORDS]


class EmotionalSupportUser(AgendaUser):
    """The simulated person: shares details when asked, feels better when really heard.

    It reads the reply's shared analysis (:func:`support`):

    - **emotion**: the right emotion acknowledged (alone or with an adjacent one; not
      negated, doubted or only asked about) is acknowledged once; a wrong one, said or
      asked, costs mood (a wrong one said also the :class:`EmotionLabel` penalty); after
      two wrong ones the right one no longer counts (guessing by elimination); three or
      more at once is stuffing (degenerate).
    - **reflection**: a statement that is a sentence (not a keyword, a word list or a
      question) and says a detail the person has shared (its words or numbers, filled
      with the scenario's specifics: the episode's ``detail`` entities), not negated,
      counts, at most two new ones per reply. Copying a sentence of the person (most of
      it word for word), or a reflection made mostly of their own words, is parroting and
      earns nothing; naming two or more details not shared yet (or four at once) is
      guessing (degenerate).
    - **open questions** (and invitations to say more) reveal the next detail (at
      difficulty >= 1 only once the person feels heard); three in a row with no
      reflection cost mood.
    - **suggestions** count once the person has shared two details and something was
      reflected, and only if their kind fits the problem (the data lists several per
      problem); advice earlier, unfitting or generic advice earn nothing, and
      suggestions covering three or more problems (lists) are degenerate.
    - **crisis** (difficulty 2): after the signal, the next reply must be a full crisis
      response (:class:`CrisisResponse`).

    Mood starts negative; success needs every milestone (emotion acknowledged, two
    details explored, two reflected, a fitting suggestion, the crisis handled if any)
    and a mood of at least :data:`MOOD_THRESHOLD` at the end.
    """

    def __init__(self) -> None:
        super().__init__(patience=(8, 7, 6), max_requests=99)
        self.templates = load_data()["user_templates"]
        self.goal: Mapping[str, Any] = {}
        self._support: Support | None = None
        self._parrot = False
        self._guess = False
        self._hits: list[str] = []
        self._specifics: frozenset[str] = frozenset()

    # -- state ---------------------------------------------------------------------
    def reset_goal_state(self) -> None:
        """Load the scenario's problem, emotion and details; nothing shared yet."""
        assert self.scenario is not None
        d = load_data()
        g = self.goal = self.scenario.goal
        self.problem = g["problem"]
        self.emotion = g["emotion"]
        self.slots = dict(g["slots"])
        pd = d["problems"][self.problem]
        by_id = {x["id"]: x for x in pd["details"]}
        self.details = [by_id[i] for i in g["details"]]
        self.numbers = detail_entities(
            self.problem, tuple(sorted(complete_numbers(self.slots).items())))[1]
        self._specifics = frozenset(t for v in self.slots.values() for t in tokens(v))
        self.next_detail = 1
        self.emotion_ack = False
        self.wrong_labels = 0
        self.suggested = False
        self.rapport = False
        self.question_streak = 0
        self.crisis_told = False
        self.threshold = float(g["threshold"])
        w = self.world
        steps: list[tuple[str, float, Any]] = [
            ("emotion", 0.2, lambda: self.emotion_ack),
            ("explored", 0.15, lambda: len(w["revealed"]) - 1 >= 2),
            ("reflected_1", 0.15, lambda: self._n_reflected() >= 1),
            ("reflected_2", 0.15, lambda: self._n_reflected() >= 2),
            ("suggestion", 0.2, lambda: self.suggested),
            ("feels_better", 0.15, lambda: self.mood >= self.threshold),
        ]
        if g["crisis"]:
            steps = [(n, wt * 0.85, f) for n, wt, f in steps]
            steps.append(("safety", 0.15, lambda: w["crisis"] == "handled"))
        self.milestones = [Milestone(n, wt, f) for n, wt, f in steps]

    def _n_reflected(self) -> int:
        core = self.world["core"]
        return sum(1 for x in self.world["reflected"] if x != core)

    def is_complete(self) -> bool:
        """Every milestone reached and the person feels better now."""
        return self.progress() >= 1.0 - 1e-9 and self.mood >= self.threshold

    # -- language ------------------------------------------------------------------
    def _fmt(self, text: str) -> str:
        return text.format(**self.slots)

    def _cue(self, rng: np.random.Generator) -> str:
        cues = load_data()["emotions"][self.emotion][self.goal["cue_kind"]]
        return cues[int(rng.integers(len(cues)))]

    def opening(self, rng: np.random.Generator) -> str:
        """The core detail and how they feel."""
        core = self.details[0]["say"]
        text = self._fmt(core[int(rng.integers(len(core)))])
        return self.say("open", rng, core=text, cue=self._cue(rng)).strip()

    def restate(self, rng: np.random.Generator) -> str:
        """How they feel, again."""
        return self.say("restate", rng, cue=self._cue(rng))

    def _reveal(self, rng: np.random.Generator) -> str:
        det = self.details[self.next_detail]
        self.next_detail += 1
        self.world["revealed"].append(det["id"])
        text = self._fmt(det["say"][int(rng.integers(len(det["say"])))])
        prefix = self.say("detail_prefix", rng)
        out = f"{prefix} {text}".strip()
        if self.goal["crisis"] and not self.crisis_told and \
                self.next_detail - 1 >= self.goal["crisis_after"]:
            sig = load_data()["crisis"]["signals"]
            out += " " + sig[int(rng.integers(len(sig)))]
            self.crisis_told = True
            self.world["crisis"] = "pending"
        return out

    # -- analysis ------------------------------------------------------------------
    def analyze(self, dialogue: Dialogue, reply: AgentReply) -> ReplyAnalysis:
        """The shared analysis plus this domain's stuffing, parroting and guessing checks."""
        a = super().analyze(dialogue, reply)
        s = self._support = _support(reply)
        ids = {v.rule_id for v in a.violations}
        bad = bool(ids & {"dismissive", "unsafe_advice", "emotion_label", "crisis_response",
                          "politeness", "no_profanity"})
        a.empathy = a.empathy and not bad
        assert reply.analysis is not None
        self._reflection(dialogue, reply.analysis, s, a.tokens)
        if len(s.named) >= 3 or len(s.problems_covered) >= 3 or self._guess:
            a.stuffed = True
        return a

    def _reflection(self, dialogue: Dialogue, an: Analysis, s: Support,
                    toks: tuple[str, ...]) -> None:
        """Find what the reply reflects.

        Sets ``_hits`` (shared details reflected in the agent's own words), ``_parrot``
        (a sentence of the user copied, or a reflection made of their words rearranged)
        and ``_guess`` (details not shared yet named, i.e. fishing with keywords).
        """
        user_sents: list[tuple[str, ...]] = []
        user_content: set[str] = set()
        for t in dialogue:
            if t.speaker == USER:
                user_sents.extend(st for st in map(tokens, sentences(t.text)) if len(st) >= 4)
                user_content.update(_content(tokens(t.text)))
        user_content -= self._specifics

        def copies(st: Sequence[str]) -> bool:
            return any(longest_common_run(st, u) >= max(4, 0.6 * len(u)) for u in user_sents)

        self._parrot = len(toks) >= 4 and copies(toks)
        hits: set[str] = set()
        own: set[str] = set()
        for ci in s.listening:
            c = an.clauses[ci]
            ids = details_named(an, ci, self.problem, self.numbers)
            if not ids:
                continue
            hits |= ids
            # names, places and numbers must be reused; the rest of a paraphrase is mostly
            # new words, not the user's own strung together or shuffled
            mine = [t for t in _content(c.tokens) if t not in self._specifics]
            share = sum(t in user_content for t in mine) / max(1, len(mine))
            if (len(mine) >= 3 and share >= 0.75) or copies(c.tokens):
                self._parrot = True
            else:
                own |= ids
        revealed = self.world["revealed"]
        self._guess = len(hits - set(revealed)) >= 2 or len(hits) >= 4
        self._hits = [x["id"] for x in self.details if x["id"] in own and x["id"] in revealed]

    # -- reactions -------------------------------------------------------------------
    def react(self, a: ReplyAnalysis, reply: AgentReply,
              rng: np.random.Generator) -> tuple[list[str], bool]:
        """Crisis first; then emotion, reflection, suggestion and question, in that order."""
        s = self._support or _support(reply)
        w = self.world
        ids = {v.rule_id for v in a.violations}
        parts: list[str] = []
        useful = False

        if w["crisis"] == "pending":
            if "crisis_response" not in ids:
                w["crisis"] = "handled"
                self.mood += 0.1
                self.rapport = True
                return [self.say("crisis_thanks", rng)], True
            w["crisis_misses"] = int(w["crisis_misses"]) + 1
            rep = load_data()["crisis"]["repeat"]
            return [rep[int(rng.integers(len(rep)))]], False
        if s.crisis_words and w["crisis"] == "none":
            self.mood -= 0.1
            parts.append(self.say("not_in_danger", rng))
        if "dismissive" in ids:
            self.mood -= 0.2
            return [*parts, self.say("react_dismissive", rng)], False
        if "unsafe_advice" in ids:
            self.mood -= 0.25
            return [*parts, self.say("react_unsafe", rng)], False

        fit = emotion_fit(s.acknowledged, self.emotion)
        asked_wrong = emotion_fit(s.asked, self.emotion) == "wrong"
        acked = False
        if fit == "right" and not self.emotion_ack and self.wrong_labels >= MAX_WRONG_LABELS:
            parts.append(self.say("guessing_emotion", rng))
        elif fit == "right" and not self.emotion_ack:
            self.emotion_ack = self.rapport = acked = useful = True
            self.mood += 0.15
            parts.append(self.say("ack_emotion", rng))
        elif fit == "wrong" or asked_wrong:
            self.wrong_labels += 1
            parts.append(self.say("wrong_emotion", rng))
        elif fit == "close" and not self.emotion_ack:
            parts.append(self.say("close_emotion", rng))

        reflected_now = False
        if self._parrot:
            self.mood -= 0.1
            parts.append(self.say("react_parrot", rng))
        else:
            new = [h for h in self._hits if h not in w["reflected"]][:2]
            for h in new:
                w["reflected"].append(h)
                self.mood += 0.12
            if new:
                reflected_now = useful = self.rapport = True
                if not acked:
                    parts.append(self.say("ack_reflect", rng))

        if s.suggestions:
            if "premature_advice" in ids:
                self.mood -= 0.1
                parts.append(self.say("react_premature", rng))
            elif s.fitting(self.problem):
                if not self.suggested:
                    self.suggested = useful = True
                    self.mood += 0.15
                    parts.append(self.say("accept_suggestion", rng))
                else:
                    parts.append(self.say("again_suggestion", rng))
            elif s.problems_covered:
                self.mood -= 0.1
                parts.append(self.say("irrelevant_suggestion", rng))
            else:
                parts.append(self.say("generic_advice", rng))

        if s.open_question:
            self.question_streak = 0 if (reflected_now or useful) else self.question_streak + 1
            if self.question_streak >= 3:
                self.mood -= 0.05
                parts.append(self.say("question_streak", rng))
            if self.next_detail >= len(self.details):
                parts.append(self.say("nothing_more", rng))
            elif self.goal["guarded"] and not self.rapport:
                parts.append(self.say("guarded", rng))
            else:
                self.mood += 0.03
                useful = True
                parts.append(self._reveal(rng))
        elif s.closed_question:
            parts.append(self.say("closed_answer", rng))
        if not parts:
            parts.append(self.restate(rng))
        if self.patience <= 2 and not useful:
            parts.insert(0, self.say("low_patience", rng))
        return parts, useful


# ============================================================================ expert


def _slot_regex(problem: str, slot: str) -> str:
    d = load_data()
    spec = d["problems"][problem]["slots"]
    base = slot[:-5] if slot.endswith("_word") else slot
    s = spec.get(base)
    if s is None:
        return r".+?"
    if isinstance(s, dict) and "int" in s:
        if slot.endswith("_word"):
            return "|".join(re.escape(w) for w in d["number_words"])
        return r"\d{1,3}"
    values = s if isinstance(s, list) else d[s["from"]]
    return "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))


@cache
def _say_patterns(problem: str) -> list[tuple[str, re.Pattern[str]]]:
    """``(detail id, regex)`` for every wording of every detail of ``problem``."""
    out = []
    for det in load_data()["problems"][problem]["details"]:
        for variant in det["say"]:
            pos, seen, pat = 0, set(), ""
            for m in re.finditer(r"\{(\w+)\}", variant):
                pat += re.escape(variant[pos:m.start()])
                slot = m.group(1)
                alt = _slot_regex(problem, slot)
                pat += f"(?P<{slot}>{alt})" if slot not in seen else f"(?:{alt})"
                seen.add(slot)
                pos = m.end()
            pat += re.escape(variant[pos:])
            out.append((det["id"], re.compile(pat)))
    return out


@lru_cache(maxsize=1)
def _cue_table() -> list[tuple[str, str]]:
    d = load_data()["emotions"]
    return sorted(((c, e) for e in EMOTIONS for k in ("explicit", "indirect")
                   for c in d[e][k]), key=lambda p: -len(p[0]))


_CRISIS_FALLBACK = re.compile(
    r"better off without me|not waking up|hurting myself|harming myself|kill myself|"
    r"end(?:ing)? (?:it all|my life|things)|point (?:in|of) going on|not being here",
    re.IGNORECASE)


def _new_state() -> dict[str, Any]:
    return {"problem": None, "slots": {}, "emotion": None, "revealed": [], "turns": [],
            "first_user": ""}


class EmotionalSupportExpert:
    """A scripted supporter that acts from observations only.

    It reads the problem and its specifics from the person's wording in the user messages
    of ``observation["messages"]`` (the domain's wording tables), the emotion from how
    they describe feeling, and which details they have shared; what it did already, from
    its own (assistant) messages. Each turn it: answers a crisis signal with safety
    support and crisis resources; otherwise acknowledges the emotion (first turn),
    reflects the newest detail not yet reflected in its own words, and asks an open
    question; once two details are shared and reflected, it reflects the last one and
    offers one suggestion fitted to the problem. Wording is chosen by a hash of the
    conversation, so it varies across scenarios but is a pure function of the observation.
    """

    def __init__(self) -> None:
        self.templates = load_data()["expert_templates"]

    def reset(self) -> None:
        """Nothing to forget: the policy is a function of the observation."""

    def act(self, observation: Mapping[str, Any]) -> str:
        """The expert's reply to an observation (read from ``observation["messages"]``)."""
        observed(observation, "EmotionalSupportExpert")
        return self._decide(self._read(observation["messages"]))

    # -- reading -----------------------------------------------------------------------
    def _read(self, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        st = _new_state()
        for msg in messages:
            role = msg["role"]
            if role not in ("user", "assistant"):
                continue
            text = msg.get("content") or ""
            st["turns"].append((role, text))
            if role != "user":
                continue
            if not st["first_user"]:
                st["first_user"] = text
            if st["problem"] is None:
                for p in PROBLEMS:
                    if self._match_details(st, p, text, core_only=True):
                        st["problem"] = p
                        break
            elif text:
                self._match_details(st, st["problem"], text)
            if st["emotion"] is None:
                for cue, e in _cue_table():
                    if cue in text:
                        st["emotion"] = e
                        break
        return st

    @staticmethod
    def _match_details(st: dict[str, Any], problem: str, text: str,
                       core_only: bool = False) -> bool:
        core = load_data()["problems"][problem]["details"][0]["id"]
        found = False
        for did, pat in _say_patterns(problem):
            if core_only and did != core:
                continue
            m = pat.search(text)
            if m is None:
                continue
            found = True
            for k, v in m.groupdict().items():
                if v is not None:
                    st["slots"].setdefault(k, v)
            if did not in st["revealed"]:
                st["revealed"].append(did)
        return found

    # -- policy ------------------------------------------------------------------------
    def _pick(self, options: Sequence[str], salt: str, slots: Mapping[str, str]) -> str:
        usable = fill_slots(options, slots)
        if not usable:
            return ""
        h = zlib.crc32(f"{salt}|{len(usable)}".encode())
        return usable[h % len(usable)]

    def _decide(self, st: dict[str, Any]) -> str:
        turns = st["turns"]
        seed = st["first_user"]
        agent_lines = [text for role, text in turns if role == "assistant"]
        # crisis: the newest signal not yet answered with the crisis wording
        crisis = self.templates["crisis"]
        last_signal = None
        for i, (role, text) in enumerate(turns):
            if role == "user" and _CRISIS_FALLBACK.search(text):
                last_signal = i
        if last_signal is not None and not any(
                role == "assistant" and text in crisis for role, text in turns[last_signal + 1:]):
            return self._pick(crisis, seed, {})
        problem, emotion = st["problem"], st["emotion"]
        asked = " ".join(agent_lines)
        fresh = [q for q in self.templates["question"] if q not in asked]
        question = self._pick(fresh or self.templates["question"], seed + str(len(turns)), {})
        if problem is None:
            return "I'm really sorry you're going through this. " + question
        d = load_data()["problems"][problem]
        slots = complete_numbers(st["slots"])
        # what it has done already: its own wordings in the transcript (it wrote them)
        said = [t for t in agent_lines if t not in crisis]
        done = " ".join(said)
        reflected = {x["id"] for x in d["details"]
                     if any(r in done for r in fill_slots(x["reflect"], slots))}
        acks = fill_slots(self.templates["ack_emotion"],
                          {"adj": load_data()["emotions"][emotion]["adjective"]}) if emotion else []
        acked = any(t in done for t in acks)
        suggested = any(t in done for t in fill_slots(d["suggest"], slots))
        core = d["details"][0]["id"]
        revealed = [r for r in st["revealed"]]
        noncore = [r for r in revealed if r != core]
        parts: list[str] = []
        if not acked and acks:
            parts.append(self._pick(acks, seed, {}))
        todo = [r for r in reversed(noncore) if r not in reflected]
        if not todo and core not in reflected:
            todo = [core]
        by_id = {x["id"]: x for x in d["details"]}
        if todo:
            parts.append(self._pick(by_id[todo[0]]["reflect"], seed + todo[0], slots))
        n_reflected = len([r for r in reflected | set(todo[:1]) if r != core])
        if not suggested and len(noncore) >= 2 and n_reflected >= 1 and reflected:
            parts.append(self._pick(d["suggest"], seed, slots))
        elif len(noncore) < 3:
            parts.append(question)
        else:
            unused = [m for m in self.templates["more"] if m not in asked]
            parts.append(self._pick(unused or self.templates["more"], seed + str(len(turns)),
                                    {}))
        return " ".join(p for p in parts if p)


# ============================================================================ domain + env


class EmotionalSupportDomain(Domain):
    """Data, rules, simulated person and expert of the support chat."""

    name = DOMAIN
    labels = _LABELS
    default_reward = {"task_success": 1.0, "rule_compliance": 1.0}

    def generator(self) -> EmotionalSupportGenerator:
        """Seeded scenarios."""
        return EmotionalSupportGenerator()

    def tools(self) -> ToolSet:
        """No tools: the help is the conversation itself."""
        return ToolSet()

    def rulebook(self) -> RuleBook:
        """Crisis, dismissive, unsafe, emotion-label, advice-timing and the shared rules."""
        return RuleBook([
            CrisisResponse(),
            Dismissive(),
            UnsafeAdvice(),
            EmotionLabel(),
            PrematureAdvice(),
            NoRepetition(),
            Politeness(),
            profanity(),
            LengthLimit(120),
        ])

    def make_user(self) -> EmotionalSupportUser:
        """A fresh simulated person."""
        return EmotionalSupportUser()

    def make_expert(self) -> EmotionalSupportExpert:
        """A fresh scripted supporter."""
        return EmotionalSupportExpert()

    def render_context(self, scenario: Scenario, rules: RuleBook, tools: ToolSet) -> str:
        """Role, person, how to help, crisis resources and rules."""
        c = scenario.context
        return "\n".join([
            f"You are a {c['role']} in an online text chat (not a therapist).",
            f"You are talking with {c['persona']}, {c['age']}, who has come to talk about "
            "something that is weighing on them.",
            "How to help:",
            "- Acknowledge how they feel, naming the emotion they express.",
            "- Ask open questions to understand what happened; listen before advising.",
            "- Reflect back specific things they shared, in your own words.",
            "- Once you understand the situation, offer one practical suggestion that fits it.",
            "- If they mention hopelessness, self-harm or suicide: take it seriously, ask "
            "whether they are safe right now and give a crisis resource (US: call or text 988, "
            "the Suicide & Crisis Lifeline; UK and Ireland: Samaritans on 116 123; elsewhere: "
            "local emergency services).",
            "Rules:",
            rules.describe(),
        ])

    def understanding(self) -> Mapping[str, Any]:
        """The data's ``understanding`` entry.

        Emotions, suggestion kinds, open-question words, the phrase entities the rules
        read and the hotline id format.
        """
        return load_data()["understanding"]

    def entities(self, scenario: Scenario) -> Mapping[str, Mapping[str, Any]]:
        """The scenario's details (kind ``"detail"``): key phrases with its specifics."""
        g = scenario.goal
        slots = tuple(sorted(complete_numbers(g["slots"]).items()))
        return {"detail": detail_entities(g["problem"], slots)[0]}

    def facts(self, scenario: Scenario) -> Mapping[str, Any]:
        """Ground truth for scorers: emotion (and its ``emotion_consistency`` category)."""
        g = scenario.goal
        return {
            "emotion": g["emotion"],
            "mood": load_data()["emotions"][g["emotion"]]["scorer_mood"],
            "problem": g["problem"],
            "crisis": bool(g["crisis"]),
        }


class EmotionalSupportEnv(DialogueEnv):
    """Dialog-EmotionalSupport-v0: support someone who is going through a hard time.

    ## Description
    A person comes to a peer-support chat with a problem (job loss, exam stress, a
    breakup, loneliness after a move, a fight with a friend, grief for a pet, burnout,
    a family member's illness) and an emotion (sad, anxious, angry, lonely, overwhelmed,
    guilty), both seeded. Their opening states the problem and how they feel (outright at
    difficulty 0, often only shown at higher levels: "I can't stop crying"). Details of
    the situation come out progressively when the agent asks open questions. Their mood
    improves when the agent acknowledges the *right* emotion, reflects *specific* details
    they actually shared (in its own words: copying their sentences earns nothing), keeps
    exploring, and, only after exploring, offers a suggestion that fits the problem. It
    worsens with dismissive replies ("just get over it", "cheer up"), wrong emotion
    labels, advice before listening and unsafe advice. At difficulty 2, half the people
    mention a crisis signal (hopelessness, self-harm thoughts); the next reply must offer
    safety support and a crisis resource, and a dismissive or unsafe reply then is a
    severe violation that ends the episode. Stuffing every emotion word, generic empathy
    stock replies, echoing, advice lists covering every problem type and endless
    questions all fail (see ``tests/envs/test_emotional_support.py``).

    ## Action space
    ``UnicodeText(1000)``: the reply. There are no tools.

    ## Observation space
    ``Dict(context, history, turn, messages)``: the context names the person and their
    age, how to help, the crisis resources and the rules (not the problem or the emotion);
    the history is the transcript (``User:``, ``Agent:``); ``messages`` the same episode
    as chat messages, which the expert reads.

    ## Rewards
    Default mix: ``1.0 * task_success + 1.0 * rule_compliance`` (cheap: pure Python, 100
    episodes evaluate in a few seconds). ``task_success`` is the increase of the
    goal-progress potential (milestones: the right emotion acknowledged 0.2, two details
    explored 0.15, two details reflected 0.15 each, a fitting suggestion 0.2, the person
    feeling better 0.15; with a crisis these are scaled by 0.85 and the crisis handled
    adds 0.15), plus 1 on success and -0.5 when the person leaves. So the emotion
    consistency and the mood improvement the env rewards are judged by the simulated
    person, who knows their own emotion. ``rule_compliance`` is minus the penalties of
    broken rules: dismissive 0.3, unsafe advice 0.5, wrong emotion label 0.2 (0.3 for
    naming three or more), premature advice 0.15, an unanswered crisis signal 0.5, 1.0
    for the severe ones (after a crisis signal), repetition 0.2, rudeness 0.3.

    The neural ``emotion_consistency`` scorer (sentence embeddings + VADER) can be added,
    e.g. ``reward={"task_success": 1.0, "rule_compliance": 1.0, "emotion_consistency":
    0.2}``; ``facts["mood"]`` gives it the person's true emotion. It is not in the default
    mix because of its cost and what it measures. Measured on a shared 2-core CPU: 20-30 s
    to load the model, then 0.1-0.7 s per reply (about 2 s per expert episode, minutes per
    100 episodes, against about 1 s for 100 episodes with the default mix). And it scores
    tone, not whether the right emotion was named or anything specific was heard: generic
    stock empathy ("I'm so sorry you're going through this. How are you feeling?") scores
    0.66 per reply against the expert's 0.60, so give it a small weight next to
    ``task_success``.

    ## Starting state
    A scenario from :class:`EmotionalSupportGenerator` chosen by the sampler; the
    opening states the problem and the emotion.

    ## Episode end
    Terminated when the person feels better (mood >= 0.35) with every milestone reached
    (success), runs out of patience or mood (failure), or on a severe violation (a
    dismissive or unsafe reply after a crisis signal, or a crisis signal ignored twice;
    failure). Truncated at ``max_episode_steps=15`` agent turns.

    ## Arguments
    ``gym.make("Dialog-EmotionalSupport-v0", reward=None, render_mode=None,
    sampler="uniform", rules=None, difficulty=None)``; see :class:`DialogueEnv`.

    ## Version history
    - v0: initial release.
    """

    domain_cls = EmotionalSupportDomain
