"""Dialog-TwentyQuestions-v0: find a hidden entity with yes/no questions.

The domain module holds the knowledge base loader, the reading of the shared reply
analysis (what a reply asks or guesses; the words are data in
``envs/data/twenty_questions.json``), the one-question rule, the simulated player and
the scripted expert; the turn loop is the shared :class:`~dialog_gym.env.DialogueEnv`.
"""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from dialog_gym.dialogue import AGENT, SYSTEM, USER
from dialog_gym.domain import Domain
from dialog_gym.env import DialogueEnv
from dialog_gym.messages import context_data, observed
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
from dialog_gym.text import tokens
from dialog_gym.tools import ToolSet
from dialog_gym.understanding import HYPOTHETICAL, QUESTION, Analysis

DOMAIN = "twenty_questions"
#: candidates per difficulty
N_CANDIDATES = (20, 30, 40)
#: wrong guesses forgiven per difficulty (the next wrong guess loses the game)
SPARE_GUESSES = (1, 1, 0)
#: weights of the goal-progress potential: narrowing the candidates, winning, winning fast
W_NARROW, W_WIN, W_SPEED = 0.3, 0.2, 0.5


def speed_turns(n: int) -> tuple[int, int]:
    """Turn range ``(lo, hi)`` of the speed bonus for ``n`` candidates.

    A win at turn ``lo`` or earlier earns all of the bonus, each later turn one equal
    share less, a win after turn ``hi`` none.
    """
    return max(1, math.ceil(math.log2(n)) - 2), 16


#: answer codes in the knowledge base
YES, NO, SOMETIMES = "yes", "no", "sometimes"


@lru_cache(maxsize=1)
def load_data() -> dict[str, Any]:
    """The domain's data (``envs/data/twenty_questions.json``).

    The knowledge base (attributes with their phrasings, entities with their yes and
    sometimes attributes) and the player's wording.
    """
    text = resources.files("dialog_gym.envs").joinpath("data/twenty_questions.json").read_text(
        encoding="utf-8")
    return json.loads(text)


def value(entity: str, attr: str) -> str:
    """The knowledge base's answer for ``attr`` of ``entity``: ``yes``, ``no`` or ``sometimes``."""
    e = load_data()["entities"][entity]
    return YES if attr in e["yes"] else SOMETIMES if attr in e["sometimes"] else NO


# ============================================================================ understanding


@dataclass(frozen=True)
class Ask:
    """What one reply asks, as the player reads it off the shared analysis.

    ``kind``: ``"attr"`` (``name``: the attribute), ``"guess"`` (``name``: the entity),
    ``"several"``, ``"unsure"`` (``name``: a property the knowledge base does not hold,
    e.g. ``"color"``, ``"count"``), ``"unclear_guess"`` (``name``: a candidate named in a
    negated question), ``"unknown"`` (a question about nothing known), ``"statement"``.
    """

    kind: str
    name: str | None = None


def understanding() -> dict[str, Any]:
    """Property phrases, contrasts, exemplars (data) and the KB's entities with aliases."""
    d = load_data()
    u = copy.deepcopy(d["understanding"])
    u.setdefault("entities", {})["entity"] = {
        name: [form for alias in e["aliases"] for form in (alias, alias + "s", alias + "es")]
        for name, e in d["entities"].items()}  # "horses", "potatoes" (stems keep the 'e')
    return u


def read_ask(a: Analysis, known_yes: Collection[str] = ()) -> Ask:
    """What the reply asks, from its analysis.

    - A **property** is asked by a question act (a question clause, or "tell me
      whether ..."), by cue phrases or by the exemplars; a property qualified by a
      number ("four legs") or one the knowledge base does not hold (colours, sizes
      other than a person's, wings) makes the player unsure, never an answer to a
      neighbour property. Properties already answered *yes* are context, not a new
      question: once it is known to be an animal, "Is it a wild animal?" asks one thing.
    - A **guess** names one candidate in a question ("Is it the frog?", "Could it be a
      frog?") or asserts it ("It's the frog!", "My guess is the frog"). A negated or
      doubted naming ("It's definitely not the frog", "I don't think it's the frog"), a
      supposition ("if it were the frog") and a comparison ("bigger than a car", "like a
      dog", "that rules out the frog") are not guesses; a candidate named in a negated
      question ("Isn't it the frog?") gets a clarification.
    - Several properties, several candidates, or a property and a candidate: ``several``.
    """
    attrs = load_data()["attributes"]
    named = {m.clause for m in a.of_kind("entity") if not m.contrasted}
    props = list(dict.fromkeys(
        "count" if act.arg in attrs and a.clause_mentions(act.clause, "number") else act.arg
        for act in a.acts_of("question")  # a semantic match never outweighs a named entity
        if act.arg is not None and not (act.source == "semantic" and act.clause in named)))
    unsupported = [p for p in props if p not in attrs]
    if unsupported:
        return Ask("unsure", unsupported[0])
    new = [p for p in props if p not in known_yes] or props
    ents = [m for m in a.of_kind("entity") if not m.contrasted and m.modality != HYPOTHETICAL]
    guesses = list(dict.fromkeys(m.value for m in ents if not m.negated))
    unclear = [m.value for m in ents if m.negated and m.modality == QUESTION]
    if len(guesses) + len(new) > 1:
        return Ask("several")
    if guesses:
        return Ask("guess", guesses[0])
    if new:
        return Ask("attr", new[0])
    if unclear:
        return Ask("unclear_guess", unclear[0])
    return Ask("unknown" if a.questions else "statement")


# ============================================================================ scenarios


class TwentyQuestionsGenerator:
    """Seeded games.

    Scenario ``index`` at ``difficulty`` is drawn from
    ``random.Random("twenty_questions/<index>/<difficulty>")``: a candidate set from the
    knowledge base and the hidden entity among them. Every knowledge-base entity has a
    distinct attribute vector, so every candidate can be identified by questions.

    - Difficulty 0: 20 candidates drawn from the whole knowledge base; one wrong guess
      is forgiven, the second loses.
    - Difficulty 1: 30 candidates; one wrong guess forgiven.
    - Difficulty 2: 40 candidates, two thirds of them from one group (animals, or
      man-made things), so questions split the set less evenly; the first wrong guess
      loses; less patience.

    Naming candidates in turn therefore wins with probability 2/20, 2/30 and 1/40 (6.4%
    over the mix of levels).
    """

    domain = DOMAIN
    difficulties = (0, 1, 2)

    def generate(self, index: int, difficulty: int) -> Scenario:
        """Scenario number ``index`` at ``difficulty``."""
        d = load_data()
        rng = random.Random(f"{DOMAIN}/{int(index)}/{int(difficulty)}")
        names = list(d["entities"])
        n = N_CANDIDATES[difficulty]
        if difficulty < 2:
            cands = rng.sample(names, n)
        else:
            focus = rng.choice((("animal",), ("object", "vehicle")))
            inner = [x for x in names if d["entities"][x]["group"] in focus]
            outer = [x for x in names if d["entities"][x]["group"] not in focus]
            k = min(len(inner), (2 * n) // 3)
            cands = rng.sample(inner, k) + rng.sample(outer, n - k)
            rng.shuffle(cands)
        target = rng.choice(cands)
        goal = {"target": target, "n_candidates": n, "max_wrong": SPARE_GUESSES[difficulty],
                "speed_turns": list(speed_turns(n))}
        world = {"candidates": cands, "target": target}
        context = {"topic": "twenty questions", "role": "guesser", "candidates": cands,
                   "spare_guesses": SPARE_GUESSES[difficulty], "mood_value": 0.3}
        return Scenario(id=make_scenario_id(DOMAIN, index, difficulty), domain=DOMAIN,
                        context=context, goal=goal, world=world, difficulty=difficulty)


# ============================================================================ rules


class OneQuestionAtATime(Rule):
    """One property or one guess per reply: enumerating is not playing.

    A reply that asks about several properties or names several entities gets no
    answer from the player and is penalised.

    Args:
        penalty: Penalty per reply with several questions or guesses.
    """

    id = "one_question"
    description = ("Ask about one property, or guess one candidate, per reply; several "
                   "questions or guesses in one reply get no answer.")

    def __init__(self, penalty: float = 0.1) -> None:
        self.penalty = penalty

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Read the reply's analysis like the player does (with what it already knows)."""
        if ctx.analysis is None:
            return []
        known = ctx.world.get("known", {})
        if read_ask(ctx.analysis, {p for p, v in known.items() if v == YES}).kind == "several":
            return [Violation(self.id, "several questions or guesses in one reply",
                              self.penalty)]
        return []


# ============================================================================ simulator


class TwentyQuestionsUser(AgendaUser):
    """The simulated player: knows the hidden entity and answers truthfully from the KB.

    Progress (weights sum to 1) rewards narrowing the candidates consistent with the
    answers given so far (0.3, in halvings: ``N/2``, ``N/4``, ... down to one), the win
    (0.2) and winning fast (0.5, in equal steps: all of it for a win by turn
    ``ceil(log2 N) - 2``, one step less per later turn, none after turn 16). A question
    that does not narrow the set, an unknown question, several questions at once and
    anything that is not a question cost patience; a wrong guess uses up a spare
    guess, and one more than the spares ends the game (reason ``"out_of_guesses"``).
    """

    def __init__(self) -> None:
        super().__init__(patience=(6, 6, 5), max_requests=2, echo_threshold=0.8)
        self.templates = load_data()["user_templates"]
        self.known: dict[str, str] = {}
        self.wrong: list[str] = []
        self.won_at: int | None = None
        self.last_guess = ""

    # -- state ---------------------------------------------------------------------
    def reset_goal_state(self) -> None:
        """Nothing asked, no guesses; milestones for narrowing, winning and speed."""
        assert self.scenario is not None
        g = self.scenario.goal
        self.target = g["target"]
        self.candidates = list(self.world["candidates"])
        # the answers given live in the world, where the one-question rule reads them
        self.known = self.world["known"] = {}
        self.wrong, self.won_at, self.last_guess = [], None, ""
        n = len(self.candidates)
        halvings = max(1, math.ceil(math.log2(n)))
        lo, hi = g["speed_turns"]
        self.milestones = [
            Milestone(f"narrow_{k}", W_NARROW / halvings,
                      lambda k=k: len(self.consistent()) <= max(1, n // 2 ** k))
            for k in range(1, halvings + 1)
        ] + [Milestone("won", W_WIN, lambda: self.won_at is not None)] + [
            Milestone(f"won_by_turn_{t}", W_SPEED / (hi - lo + 1),
                      lambda t=t: self.won_at is not None and self.won_at <= t)
            for t in range(lo, hi + 1)
        ]

    def consistent(self) -> list[str]:
        """Candidates that agree with every answer given and were not wrongly guessed."""
        if self.won_at is not None:
            return [self.target]
        return [c for c in self.candidates if c not in self.wrong
                and all(value(c, a) == v for a, v in self.known.items())]

    def is_complete(self) -> bool:
        """The hidden entity was guessed."""
        return self.won_at is not None

    def end_reason(self) -> str:
        """The game is lost by a wrong guess once the spare ones are used up."""
        assert self.scenario is not None
        return "out_of_guesses" if len(self.wrong) > self.scenario.goal["max_wrong"] else ""

    # -- language --------------------------------------------------------------------
    def say(self, act: str, rng: np.random.Generator, **slots: Any) -> str:
        """Like :meth:`AgendaUser.say`, with the hidden entity and last guess as slots."""
        slots.setdefault("guess", self.last_guess)
        return super().say(act, rng, target=self.target, **slots)

    def opening(self, rng: np.random.Generator) -> str:
        """Invite the first question."""
        return self.say("open", rng)

    def restate(self, rng: np.random.Generator) -> str:
        """Remind the agent how to play."""
        return self.say("restate", rng)

    # -- reactions ---------------------------------------------------------------------
    def react(self, a: ReplyAnalysis, reply: AgentReply,
              rng: np.random.Generator) -> tuple[list[str], bool]:
        """Answer one property, judge one guess, ask to rephrase, or refuse."""
        assert a.meaning is not None
        ask = read_ask(a.meaning, {p for p, v in self.known.items() if v == YES})
        if ask.kind == "attr":
            assert ask.name is not None
            attr = load_data()["attributes"][ask.name]
            before = len(self.consistent())
            again = ask.name in self.known
            v = value(self.target, ask.name)
            self.known[ask.name] = v
            parts = [self.say("again", rng)] if again else []
            parts.append(self.say(v, rng, s=attr["no" if v == NO else "yes"]))
            return parts, len(self.consistent()) < before
        if ask.kind == "guess":
            assert ask.name is not None
            self.last_guess = ask.name
            if ask.name == self.target:
                self.won_at = self.turns
                return [], True
            self.wrong.append(ask.name)
            if ask.name not in self.candidates:
                return [self.say("not_candidate", rng)], False
            return [self.say("wrong_guess", rng)], True
        if ask.kind == "unsure":
            return [self.say("unsure", rng, clarify=load_data()["clarify"][ask.name])], False
        if ask.kind == "unclear_guess":
            return [self.say("unclear_guess", rng, guess=ask.name)], False
        act = {"several": "several", "unknown": "dont_know",
               "statement": "not_a_question"}[ask.kind]
        return [self.say(act, rng)], False


# ============================================================================ expert

#: the expert's guess: an assertion, so that a negated guess names no candidate
GUESS = "My guess is the {}."
_POLARITY = {"yes": YES, "yep": YES, "no": NO, "nope": NO, "sometimes": SOMETIMES}


def board(messages: Sequence[Mapping[str, Any]], reader: str | None = None
          ) -> tuple[list[str], list[tuple[str, str]], dict[str, dict[str, str]]]:
    """Candidates, askable properties ``(name, question)`` and the table of the ``data``.

    Read from the system message's ``data`` (:meth:`TwentyQuestionsDomain.context_data`);
    without it: an empty board, or, ``reader`` given, a ``ConfigError`` naming it.
    """
    data = context_data(messages, reader)
    return (list(data.get("candidates", ())),
            [(p["name"], p["question"]) for p in data.get("properties", ())],
            dict(data.get("table", {})))


class TwentyQuestionsExpert:
    """A scripted guesser that acts from observations only.

    It reads the candidates, the askable properties and the table of what the player
    knows from the system message's ``data`` (:func:`board`; messages without it are a
    ``ConfigError``), keeps the candidates consistent with the player's
    answers (user messages) to its own moves (assistant messages), asks the property that
    splits them most evenly (fewest expected candidates left; yes, no and sometimes are
    three branches) and guesses when one candidate is left.
    """

    def reset(self) -> None:
        """Nothing to forget: every move is computed from the observation."""

    def act(self, observation: Mapping[str, Any]) -> str:
        """The next question or guess (read from ``observation["messages"]``)."""
        messages = observed(observation, "TwentyQuestionsExpert")
        cands, attrs, table = board(messages, "TwentyQuestionsExpert")
        st = self._read(messages, attrs, cands)
        known, wrong = st["known"], st["wrong"]
        left = [c for c in cands if c not in wrong and all(
            table.get(c, {}).get(a, NO) == v for a, v in known.items())]
        if len(left) == 1:
            return GUESS.format(left[0])
        best, best_cost = None, float("inf")
        for name, question in attrs:
            if name in known:
                continue
            sizes: dict[str, int] = {}
            for c in left:
                v = table.get(c, {}).get(name, NO)
                sizes[v] = sizes.get(v, 0) + 1
            if len(sizes) < 2:
                continue
            cost = sum(s * s for s in sizes.values())
            if cost < best_cost:
                best, best_cost = question, cost
        if best is None:
            return GUESS.format(left[0] if left else cands[0])
        return best

    def _read(self, messages: Sequence[Mapping[str, Any]], attrs: list[tuple[str, str]],
              cands: Sequence[str]) -> dict[str, Any]:
        """The answers (``known``) and wrong guesses (``wrong``) of its own moves so far."""
        moves = {q: ("attr", a) for a, q in attrs}
        moves.update({GUESS.format(c): ("guess", c) for c in cands})
        st: dict[str, Any] = {"known": {}, "wrong": set(), "pending": None}
        for m in messages:
            if m["role"] == "assistant":
                st["pending"] = moves.get(m.get("content") or "")
            elif m["role"] == "user" and st["pending"] is not None:
                toks = tokens(m["content"])
                polarity = _POLARITY.get(toks[0]) if toks else None
                kind, name = st["pending"]
                if kind == "attr" and polarity is not None:
                    st["known"][name] = polarity
                elif kind == "guess" and polarity == NO:
                    st["wrong"].add(name)
                st["pending"] = None
        return st


# ============================================================================ domain + env


class TwentyQuestionsDomain(Domain):
    """Knowledge base, understanding data, rule, player and expert of twenty questions."""

    name = DOMAIN
    labels = {USER: "Player", AGENT: "Agent", SYSTEM: "System"}
    default_reward = {"task_success": 1.0, "rule_compliance": 1.0}

    def generator(self) -> TwentyQuestionsGenerator:
        """Seeded games."""
        return TwentyQuestionsGenerator()

    def tools(self) -> ToolSet:
        """No tools: questions and guesses are plain text."""
        return ToolSet()

    def rulebook(self) -> RuleBook:
        """One question at a time, no repetition, politeness and length rules."""
        return RuleBook([OneQuestionAtATime(), NoRepetition(), Politeness(), profanity(),
                         LengthLimit(40)])

    def make_user(self) -> TwentyQuestionsUser:
        """A fresh simulated player."""
        return TwentyQuestionsUser()

    def make_expert(self) -> TwentyQuestionsExpert:
        """A fresh scripted guesser."""
        return TwentyQuestionsExpert()

    def understanding(self) -> Mapping[str, Any]:
        """Property phrases, exemplars and the knowledge base's entities (data)."""
        return understanding()

    def render_context(self, scenario: Scenario, rules: RuleBook, tools: ToolSet) -> str:
        """Instructions, candidates, askable properties, the table and the rules."""
        d = load_data()
        cands = scenario.context["candidates"]
        rows = []
        for c in cands:
            e = d["entities"][c]
            props = [a for a in d["attributes"] if a in e["yes"]] + [
                a + "?" for a in d["attributes"] if a in e["sometimes"]]
            rows.append(f"* {c}: {', '.join(props) or '(none)'}")
        spare = scenario.context["spare_guesses"]
        guesses = ("Your first wrong guess loses." if spare == 0 else
                   f"You may make {'one wrong guess' if spare == 1 else f'{spare} wrong guesses'}"
                   "; the next wrong guess loses.")
        return "\n".join([
            "Let's play twenty questions. The player has secretly picked one of the "
            "candidates below. Find it by asking yes/no questions about the properties "
            "listed, one property per question, then guess by naming one candidate "
            '(for example "Is it the <candidate>?").',
            f"{guesses} Winning in fewer turns scores higher.",
            f"Candidates ({len(cands)}): {', '.join(cands)}",
            "Properties you can ask about (one per question):",
            *(f"- {name}: {a['question']}" for name, a in d["attributes"].items()),
            "What the player knows about each candidate (listed properties are yes, a "
            "trailing ? means sometimes, all others are no):",
            *rows,
            "Rules:",
            rules.describe(),
        ])

    def context_data(self, scenario: Scenario) -> dict[str, Any]:
        """The candidates, the askable properties, what the player knows and the guesses.

        ``{"candidates", "properties", "table", "spare_guesses"}``: ``properties`` in the
        context's order, each ``{"name", "question"}``; ``table`` maps each candidate to
        its properties that are ``"yes"`` or ``"sometimes"`` (every other one is no, as
        the context's table says); ``spare_guesses``: wrong guesses forgiven.
        """
        d = load_data()
        cands = list(scenario.context["candidates"])
        table = {}
        for c in cands:
            e = d["entities"][c]
            table[c] = {**{a: YES for a in d["attributes"] if a in e["yes"]},
                        **{a: SOMETIMES for a in d["attributes"] if a in e["sometimes"]}}
        return {"candidates": cands,
                "properties": [{"name": n, "question": a["question"]}
                               for n, a in d["attributes"].items()],
                "table": table, "spare_guesses": scenario.context["spare_guesses"]}

    def facts(self, scenario: Scenario) -> Mapping[str, Any]:
        """The hidden entity and its knowledge-base attributes."""
        t = scenario.goal["target"]
        return {"target": t, **{a: value(t, a) for a in load_data()["attributes"]}}


class TwentyQuestionsEnv(DialogueEnv):
    """Dialog-TwentyQuestions-v0: guess the hidden entity with yes/no questions.

    ## Description
    A dialogue game. The simulated player has picked one of 20-40 candidates from a
    knowledge base shipped with dialog-gym (102 entities: animals, plants, foods,
    household objects, instruments, vehicles; 38 yes/no attributes, some "sometimes").
    The context lists the candidates, the properties one may ask about (with a
    phrasing each) and what the player knows about every candidate. The agent asks
    yes/no questions, one property per reply, and the player answers truthfully from
    the knowledge base ("Yes, it can fly.", "No, ...", "Sometimes ..."). The player
    reads the shared analysis of the reply (property phrases and exemplar questions are
    data: "Is it something humans manufacture?"); a property it does not hold ("Is it
    red?", "Does it have four legs?") gets "I'm not sure" and a hint, several properties
    or candidates in one reply get no answer (one answered yes is context: "Is it a wild
    animal?"). A guess names one candidate, asked or asserted ("Is it the frog?", "My
    guess is the frog."), never negated ("It's not the frog"). At difficulties 0 and 1
    one wrong guess is forgiven and the next one loses, at difficulty 2 the first loses, so
    naming candidates in turn rarely wins (2/20, 2/30, 1/40).

    ## Action space
    ``UnicodeText(1000)``: a question or a guess. There are no tools.

    ## Observation space
    ``Dict(context, history, turn, messages)``: the context holds the rules of the game,
    the candidates, the askable properties and the table of properties per candidate; the
    history is the transcript (``Player:``, ``Agent:``); ``messages`` the same episode as
    chat messages (the context as the system message), which the expert reads. The
    system message's ``data`` (:func:`~dialog_gym.messages.context_data`) is the board
    as data: ``candidates``, ``properties`` (each ``{"name", "question"}``), ``table``
    (candidate -> ``{property: "yes" | "sometimes"}``; a property not listed is no) and
    ``spare_guesses``. It never names the hidden entity.

    ## Rewards
    Default mix: ``1.0 * task_success + 1.0 * rule_compliance``. ``task_success`` is
    the increase of the goal-progress potential (0.3 for narrowing the consistent
    candidates in halvings down to one, 0.2 for the win, and up to 0.5 for speed: all
    of it for a win by turn ``ceil(log2 N) - 2``, one equal step less per later turn,
    nothing after turn 16) plus 1 on a win and -0.5 on a loss; so every turn saved
    earns more. ``rule_compliance`` is minus the penalties of broken rules (several
    questions at once, repetition, rudeness, over 40 words). There is no
    reference-based term by default (many different questions are good ones);
    ``reward={..., "bleu": 0.1}`` compares each reply with the scripted expert's.

    ## Starting state
    A scenario from :class:`TwentyQuestionsGenerator` chosen by the sampler; the
    player's opening turn invites the first question.

    ## Episode end
    Terminated on a correct guess (success), on a wrong guess with no spare guess
    left (``"out_of_guesses"``), or when the player's patience runs out (turns that narrow
    nothing: unknown, repeated or multiple questions, statements). Truncated at
    ``max_episode_steps=20``.

    ## Arguments
    ``gym.make("Dialog-TwentyQuestions-v0", reward=None, render_mode=None,
    sampler="uniform", rules=None, difficulty=None)``; see :class:`DialogueEnv`.

    ## Version history
    - v0: initial release.
    """

    domain_cls = TwentyQuestionsDomain
