"""Dialog-Recommendation-v0: conversational recommendation from a seeded catalogue.

The domain module holds the catalogue generator, the rule against pushing rejected items,
the simulated user with stated and unstated preferences and the scripted expert; the turn
loop is the shared :class:`~dialog_gym.env.DialogueEnv`.
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
from dialog_gym.text import function_word_ratio, normalize, sentences, tokens
from dialog_gym.tools import ToolSet
from dialog_gym.understanding import QUESTION, Analysis, Lexicon

DOMAIN = "recommendation"
#: catalogue size per difficulty level
CATALOGUE_SIZE = (30, 36, 42)
#: near misses (violating only that constraint) per unstated constraint
NEAR_MISSES = 3
#: the user gives up on this many turned-down recommendations
MAX_REJECTIONS = 2


@lru_cache(maxsize=1)
def load_data() -> dict[str, Any]:
    """Categories, attributes and wording tables (``envs/data/recommendation.json``)."""
    text = resources.files("dialog_gym.envs").joinpath("data/recommendation.json").read_text(
        encoding="utf-8")
    return json.loads(text)


def _attrs(category: str) -> dict[str, dict[str, Any]]:
    return {a["key"]: a for a in load_data()["categories"][category]["attributes"]}


def cell(attr: Mapping[str, Any], value: Any) -> str:
    """How a catalogue cell shows ``value`` of ``attr`` (``$28``, ``118 min``, ``yes``)."""
    if attr["kind"] == "flag":
        return "yes" if value else "no"
    if attr["kind"] == "max":
        return f"${value}" if attr["unit"] == "$" else f"{value} {attr['unit']}"
    return str(value)


def fits(attr: Mapping[str, Any], item_value: Any, wanted: Any) -> bool:
    """An item's value satisfies a constraint (equal, at most, or the feature present)."""
    if attr["kind"] == "max":
        return int(item_value) <= int(wanted)
    if attr["kind"] == "flag":
        return bool(item_value)
    return item_value == wanted


def item_entities(names: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """Catalogue items as lexicon entities ("The Hidden Garden" also without "The")."""
    return {"item": {n: [n[4:]] if n.startswith("The ") else [] for n in names}}


@lru_cache(maxsize=1)
def _base_lexicon() -> Lexicon:
    return Lexicon.from_data(load_data()["understanding"])


def lexicon_for(names: Sequence[str]) -> Lexicon:
    """The domain's lexicon with a catalogue's items (what the expert reads turns with)."""
    return _base_lexicon().with_entities(item_entities(names))


@dataclass(frozen=True)
class Offer:
    """The items a reply recommends, lists and only asks about.

    Recommended: asserted, not negated, not contrasted. Listed: several at once ("You could
    try A, B or C", "Maybe A or B?"). Asked: only asked about ("Would A work?").
    """

    recommended: tuple[str, ...]
    listed: tuple[str, ...]
    asked: tuple[str, ...]


def offer(m: Analysis) -> Offer:
    """The :class:`Offer` of ``m`` (lists: in a clause that recommends or asks, or alone)."""
    recommended = tuple(m.args("recommend"))
    rec_clauses = {a.clause for a in m.acts_of("recommend")}
    listed: list[str] = []
    asked: list[str] = []
    for c in m.clauses:
        items = list(dict.fromkeys(x.value for x in m.clause_mentions(c.index, "item")
                                   if not x.contrasted and not x.negated))
        if len(items) > 1 and (c.index in rec_clauses or c.modality == QUESTION
                               or not recommended):
            listed += [i for i in items if i not in listed]
        elif c.modality not in ("assert", "imperative"):
            asked += [i for i in items if i not in recommended and i not in asked]
    return Offer(recommended, tuple(listed), tuple(asked))


# ============================================================================ scenarios


class RecommendationGenerator:
    """Seeded catalogues and users.

    Scenario ``index`` at ``difficulty`` is drawn from
    ``random.Random("recommendation/<index>/<difficulty>")``: a category (restaurants,
    movies or hotels), the user's constraints and a catalogue in which **exactly one item**
    satisfies all of them. Constraints are *stated* preferences (cuisine, area, budget;
    genre, language) that the user tells when asked what they are looking for, and
    *unstated* hard constraints (vegetarian options, wheelchair access; a family-friendly
    film, a streaming service, a length limit; pets, parking, breakfast) that the user
    mentions only when asked about them specifically, or when turning down an item that
    violates them. The catalogue holds the target, near misses that violate only one
    unstated constraint, near misses that violate only one stated preference, and random
    items that violate at least one constraint, in random order.

    Difficulty 0: 30 items, two stated preferences (one in the opening), at most one
    unstated constraint. Difficulty 1: 36 items, two stated, two unstated, nothing in the
    opening. Difficulty 2: 42 items, every stated preference and every unstated constraint
    of the category, pickier users with less patience.
    """

    domain = DOMAIN
    difficulties = (0, 1, 2)

    def generate(self, index: int, difficulty: int) -> Scenario:
        """Scenario number ``index`` at ``difficulty``."""
        d = load_data()
        rng = random.Random(f"{DOMAIN}/{int(index)}/{int(difficulty)}")
        category = rng.choice(sorted(d["categories"]))
        spec = d["categories"][category]
        attrs = spec["attributes"]
        stated_pool = [a for a in attrs if a["role"] == "stated"]
        hidden_pool = [a for a in attrs if a["role"] == "hidden"]
        if difficulty == 0:
            n_stated, n_hidden = 2, rng.choice([0, 1])
        elif difficulty == 1:
            n_stated, n_hidden = 2, 2
        else:
            n_stated, n_hidden = len(stated_pool), len(hidden_pool)
        stated = rng.sample(stated_pool, min(n_stated, len(stated_pool)))
        hidden = rng.sample(hidden_pool, n_hidden)
        constraints: dict[str, Any] = {}
        for a in stated + hidden:
            if a["kind"] == "cat":
                constraints[a["key"]] = rng.choice(a["values"])
            elif a["kind"] == "max":
                constraints[a["key"]] = rng.choice(a["thresholds"])
            else:
                constraints[a["key"]] = True

        def random_value(a: Mapping[str, Any]) -> Any:
            if a["kind"] == "cat":
                return rng.choice(a["values"])
            if a["kind"] == "max":
                return rng.randint(*a["range"])
            return rng.random() < 0.5

        def satisfy(item: dict[str, Any], a: Mapping[str, Any]) -> None:
            want = constraints[a["key"]]
            if a["kind"] == "max":
                item[a["key"]] = rng.randint(a["range"][0], want)
            else:
                item[a["key"]] = want

        def violate(item: dict[str, Any], a: Mapping[str, Any]) -> None:
            want = constraints[a["key"]]
            if a["kind"] == "cat":
                item[a["key"]] = rng.choice([v for v in a["values"] if v != want])
            elif a["kind"] == "max":
                item[a["key"]] = rng.randint(want + 1, a["range"][1])
            else:
                item[a["key"]] = False

        def new_item(violated: Mapping[str, Any] | None = None) -> dict[str, Any]:
            item = {a["key"]: random_value(a) for a in attrs}
            for a in stated + hidden:
                satisfy(item, a)
            if violated is not None:
                violate(item, violated)
            return item

        constrained = stated + hidden
        items = [new_item()]
        for a in hidden:
            items += [new_item(a) for _ in range(NEAR_MISSES)]
        for _ in range(3):
            items.append(new_item(rng.choice(stated)))
        size = CATALOGUE_SIZE[difficulty]
        while len(items) < size:
            item = {a["key"]: random_value(a) for a in attrs}
            if all(fits(a, item[a["key"]], constraints[a["key"]]) for a in constrained):
                violate(item, rng.choice(constrained))
            items.append(item)
        first, second = spec["names"]
        fmt = spec.get("name_format", "{0} {1}")
        names = [fmt.format(a, b) for a, b in
                 rng.sample([(a, b) for a in first for b in second], len(items))]
        for item, name in zip(items, names, strict=True):
            item["name"] = name
        target = items[0]["name"]
        rng.shuffle(items)

        picky = difficulty == 2 and rng.random() < 0.6
        mood_name = "picky" if picky else rng.choice(["relaxed", "friendly"])
        goal = {
            "category": category,
            "constraints": constraints,
            "stated": [a["key"] for a in stated],
            "hidden": [a["key"] for a in hidden],
            "opening": [stated[0]["key"]] if difficulty == 0 else [],
            "target": target,
        }
        world = {"category": category, "items": items, "names": [it["name"] for it in items]}
        context = {
            "service": rng.choice(spec["services"]),
            "persona": rng.choice(d["first_names"]),
            "noun": spec["noun"],
            "plural": spec["plural"],
            "role": "recommendation assistant",
            "mood": mood_name,
            "mood_value": {"picky": -0.2, "relaxed": 0.3, "friendly": 0.4}[mood_name],
            "columns": ["name", *(a["key"] for a in attrs)],
        }
        return Scenario(id=make_scenario_id(DOMAIN, index, difficulty), domain=DOMAIN,
                        context=context, goal=goal, world=world, difficulty=difficulty)


# ============================================================================ rules


class NoPushingRejected(Rule):
    """Do not recommend again an item the user has turned down.

    The simulated user labels each turn that turns an item down with
    ``Turn.meta["rejected"]``; a reply that recommends one of those items again, or puts it
    forward among others, is penalised (and the user counts it as one more rejection).
    Naming it otherwise ("unlike X, ...", "I would not recommend X") is not pushing it.

    Args:
        penalty: Penalty per reply that pushes a rejected item.
    """

    id = "no_pushing_rejected"
    description = "Never recommend again an item the user has turned down."

    def __init__(self, penalty: float = 0.3) -> None:
        self.penalty = penalty

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Compare the items the reply puts forward with the ones turned down."""
        rejected = {n for t in ctx.dialogue if t.speaker == USER
                    for n in t.meta.get("rejected", ())}
        o = offer(ctx.analysis)
        pushed = [n for n in dict.fromkeys((*o.recommended, *o.listed)) if n in rejected]
        if pushed:
            return [Violation(self.id, f"{', '.join(pushed)} was already turned down",
                              self.penalty)]
        return []


# ============================================================================ simulator

class RecommendationUser(AgendaUser):
    """The simulated user: wants one item that fits every preference, stated or not.

    The user answers "what are you looking for?" with their stated preferences and each
    question about an attribute (several in one reply too) with its constraint or "no
    preference"; it accepts a recommended item (:func:`offer`: "I would not recommend X"
    and "Would X work?" recommend nothing) only if it fits every constraint, including the
    unstated ones. A turned-down item is answered with the reason (revealing an unstated
    constraint if that is what it breaks) and labelled in ``Turn.meta["rejected"]`` for the
    :class:`NoPushingRejected` rule. Putting several items forward in one reply, or an
    item already turned down, also counts as a rejection; after :data:`MAX_REJECTIONS`
    the user leaves. The user refers back ("As I said: ...") only to what it said earlier
    in the episode, quoting it (:attr:`said`).

    Milestones: every stated preference known to the agent (0.2; 0.4 when the user has no
    unstated constraint), every unstated constraint known (0.2), an item accepted (0.6);
    acceptance completes them all and is success.
    """

    def __init__(self) -> None:
        super().__init__(patience=(10, 8, 6), max_requests=3)
        self.templates = load_data()["user_templates"]

    # -- state ---------------------------------------------------------------------
    def reset_goal_state(self) -> None:
        """Forget what was said, rejected and accepted."""
        assert self.scenario is not None
        g = self.scenario.goal
        self.goal = g
        self.category = g["category"]
        self.attrs = _attrs(self.category)
        self.constraints: dict[str, Any] = dict(g["constraints"])
        self.stated: list[str] = list(g["stated"])
        self.hidden: list[str] = list(g["hidden"])
        #: attribute -> what the user said about it this episode (a preference or "no
        #: preference"), the only things it may later refer back to
        self.said: dict[str, str] = {}
        self.rejected: list[str] = []
        self.rejections = 0
        self.accepted: str | None = None
        self.items = {it["name"]: it for it in self.world["items"]}
        self.facts = []
        accepted = lambda: self.accepted is not None  # noqa: E731
        stated = ("stated", lambda: accepted() or all(k in self.said for k in self.stated))
        hidden = ("hidden", lambda: accepted() or all(k in self.said for k in self.hidden))
        steps = [(stated, 0.2), (hidden, 0.2)] if self.hidden else [(stated, 0.4)]
        steps.append((("accepted", accepted), 0.6))
        self.milestones = [Milestone(name, w, pred) for (name, pred), w in steps]

    def is_complete(self) -> bool:
        """An item that fits everything was accepted."""
        return self.accepted is not None

    def end_reason(self) -> str:
        """Leave after :data:`MAX_REJECTIONS` turned-down recommendations."""
        return "rejections" if self.rejections >= MAX_REJECTIONS else ""

    # -- reading the reply ---------------------------------------------------------------
    def analyze(self, dialogue: Any, reply: AgentReply) -> ReplyAnalysis:
        """Base labels; requests of this category (a sentence naming attributes asks those)."""
        a = super().analyze(dialogue, reply)
        assert a.meaning is not None, "the user reads the env's analysis (AgentReply.analysis)"
        by_sentence: dict[int, set[str]] = {}
        for act in a.meaning.acts_of("request"):
            if act.arg == "open" or act.arg in self.attrs:
                sent = a.meaning.clauses[act.clause].sentence
                by_sentence.setdefault(sent, set()).add(act.arg)
        a.requests = set().union(*(s - {"open"} if len(s) > 1 else s
                                   for s in by_sentence.values()))
        names = {t for x in a.meaning.of_kind("item") for t in tokens(x.text)}
        words = tuple(t for t in a.tokens if t not in names)  # item names are not a salad
        salad = len(words) >= 6 and function_word_ratio(words) < 0.15
        a.stuffed = salad or len(a.requests) > self.max_requests
        return a

    # -- language --------------------------------------------------------------------
    def _want(self, key: str, rng: np.random.Generator) -> str:
        variants = self.attrs[key]["want"]
        return variants[int(rng.integers(len(variants)))].format(value=self.constraints[key])

    def opening(self, rng: np.random.Generator) -> str:
        """Ask for a recommendation (with one stated preference at difficulty 0)."""
        spec = load_data()["categories"][self.category]
        text = spec["openings"][int(rng.integers(len(spec["openings"])))]
        for key in self.goal["opening"]:
            want = self._want(key, rng)
            self.said[key] = want
            text += " " + want
        if self.mood < 0:
            text = self.say("open_prefix.upset", rng) + " " + text
        return text

    def restate(self, rng: np.random.Generator) -> str:
        """Ask again for a recommendation."""
        return self.say("restate", rng, noun=self.category)

    # -- reactions ---------------------------------------------------------------------
    def react(self, a: ReplyAnalysis, reply: AgentReply,
              rng: np.random.Generator) -> tuple[list[str], bool]:
        """Judge the recommendation (if any), then answer the questions."""
        parts: list[str] = []
        useful = False
        o = offer(a.meaning)  # type: ignore[arg-type]
        if len(o.recommended) > 1 or o.listed:
            self.rejections += 1
            self.mood -= 0.1
            parts.append(self.say("multi", rng))
        elif o.recommended:
            useful = self._judge(o.recommended[0], parts, rng)
        elif o.asked and self.accepted is None:
            parts.append(self.say("ask_pick", rng))
        if a.requests and self.accepted is None:
            useful = self._answer(a.requests, parts, rng) or useful
        if not parts:
            parts.append(self.restate(rng))
        if self.patience <= 2 and not useful:
            parts.insert(0, self.say("low_patience", rng))
        return parts, useful

    def _judge(self, name: str, parts: list[str], rng: np.random.Generator) -> bool:
        if name in self.rejected:
            self.rejections += 1
            self.mood -= 0.2
            parts.append(self.say("pushed", rng, name=name))
            return False
        item = self.items[name]
        bad = [k for k in (*self.stated, *self.hidden)
               if not fits(self.attrs[k], item[k], self.constraints[k])]
        if not bad:
            self.accepted = name
            parts.append(self.say("accept", rng, name=name))
            return True
        known = [k for k in bad if k in self.said]
        key = known[0] if known else bad[0]
        reason = self._want(key, rng)
        self.said.setdefault(key, reason)
        self.rejected.append(name)
        self.rejections += 1
        self.mood -= 0.1
        self.turn_meta["rejected"] = [name]
        act = "reject_again" if known else "reject"
        parts.append(self.say(act, rng, name=name, reason=reason))
        return False

    def _answer(self, requests: set[str], parts: list[str], rng: np.random.Generator) -> bool:
        useful = False
        order = ["open", *self.attrs]
        for slot in sorted(requests, key=order.index):
            if slot == "open":
                todo = [k for k in self.stated if k not in self.said]
                if todo:
                    cl = [self.attrs[k]["clause"].format(value=self.constraints[k]) for k in todo]
                    text = self.say("open_answer", rng, clauses=" and ".join(
                        [", ".join(cl[:-1]), cl[-1]] if len(cl) > 1 else cl))
                    self.said.update(dict.fromkeys(todo, text))
                    useful = True
                    parts.append(text)
                else:
                    parts.append(self.say("open_none", rng))
            elif slot in self.said:
                parts.append(self.say("already", rng, said=self.said[slot]))
            else:
                if slot in self.constraints:
                    text = self._want(slot, rng)
                else:
                    label = self.attrs[slot]["label"]
                    text = self.say("no_pref." + self.attrs[slot]["kind"], rng, label=label,
                                    Label=label[:1].upper() + label[1:])
                self.said[slot] = text
                useful = True
                parts.append(text)
        return useful


# ============================================================================ expert

_NEGATION = re.compile(
    r"\bno preference\b|\bdoesn't matter\b|\bdoes not matter\b|\bdon't mind\b|\bdo not mind\b|"
    r"\bdon't care\b|\bnot important\b|\beither way\b|\bdon't need\b|\bno need\b|\bnot needed\b",
    re.IGNORECASE)
_ACCEPT = re.compile(r"sounds perfect|exactly what i wanted|great choice", re.IGNORECASE)


def catalogue(messages: Sequence[Mapping[str, Any]], reader: str | None = None
              ) -> dict[str, Any]:
    """The catalogue of the system message's ``data``, ready for the expert.

    ``category``, ``noun``, ``columns`` (the attribute columns, without ``name``),
    ``rows`` (one dict per item: ``name`` and a value per column), ``names`` (the items'
    names) and ``attrs`` (the category's attribute specs from the data file). Without
    ``data``: an empty catalogue, or, ``reader`` given, a ``ConfigError`` naming it.
    """
    data = context_data(messages, reader)
    category = data.get("category")
    rows = list(data.get("rows", ()))
    return {"category": category, "noun": data.get("noun", "item"),
            "attrs": _attrs(category) if category else {},
            "columns": list(data.get("columns", ()))[1:], "rows": rows,
            "names": tuple(r["name"] for r in rows)}


def _messages(observation: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``observation["messages"]``, or an error saying the expert needs them."""
    return observed(observation, "RecommendationExpert")


def _new_state() -> dict[str, Any]:
    return {"prefs": {}, "free": set(), "asked": set(), "pending": set(), "open_asked": False,
            "rejected": set(), "recommended": 0}


class RecommendationExpert:
    """A scripted recommender that acts from observations only.

    It asks what the user is looking for, then about every attribute left open
    (:attr:`per_turn` per reply), and recommends the item that fits every constraint the
    user told, never a rejected one. Each turn it reads the catalogue from the system
    message's ``data`` (:func:`catalogue`; messages without it are a ``ConfigError``)
    and every user and assistant message of ``observation["messages"]`` with the
    domain's lexicon (:func:`lexicon_for`), as the user does.
    :meth:`plan` decides, :meth:`say` words the decision.
    """

    #: most attributes asked about in one reply
    per_turn = 2

    def __init__(self) -> None:
        self.templates = load_data()["expert_templates"]
        self._state: dict[str, Any] = _new_state()

    def reset(self) -> None:
        """Forget the episode."""
        self._state = _new_state()

    def act(self, observation: Mapping[str, Any]) -> str:
        """The expert's reply to an observation (read from ``observation["messages"]``)."""
        messages = _messages(observation)
        cat = catalogue(messages, "RecommendationExpert")
        self._state = _new_state()
        for m in messages:
            if m["role"] in ("user", "assistant"):
                self._consume(m["role"], m.get("content") or "", cat)
        return self.say(self.plan(cat), cat)

    def _consume(self, role: str, text: str, cat: Mapping[str, Any]) -> None:
        st = self._state
        m = lexicon_for(cat["names"]).analyze(text)
        if role == "assistant":
            st["open_asked"] = st["open_asked"] or "open" in m.requests
            st["asked"] |= m.requests & set(cat["columns"])
            st["pending"] |= m.requests & set(cat["columns"])
            st["recommended"] += bool(offer(m).recommended or offer(m).listed)
            return
        named = sorted(m.mentioned_values("item"))
        if named and not _ACCEPT.search(text):
            st["rejected"].update(named)
        for sent in sentences(text):
            if not _NEGATION.search(sent):
                st["prefs"].update(_prefs_in(sent, cat["attrs"], named))
        st["free"] |= st["pending"] - set(st["prefs"])
        st["pending"] = set()

    def plan(self, cat: Mapping[str, Any]) -> tuple[str, Any]:
        """The next move: ``fallback``, ``open``, ``ask`` (columns) or ``recommend`` (name)."""
        st = self._state
        if not cat["rows"]:
            return "fallback", None
        if not st["open_asked"]:
            return "open", cat["noun"]
        unknown = [c for c in cat["columns"]
                   if c not in st["prefs"] and c not in st["free"] and c not in st["asked"]]
        if unknown:
            return "ask", unknown[:self.per_turn]
        attrs = cat["attrs"]
        ok = [r for r in cat["rows"] if r["name"] not in st["rejected"]] or cat["rows"][:1]
        best = max(ok, key=lambda r: sum(fits(attrs[c], r[c], w) for c, w in st["prefs"].items()))
        return "recommend", best["name"]

    def say(self, move: tuple[str, Any], cat: Mapping[str, Any]) -> str:
        """The expert's wording of a move of :meth:`plan`."""
        kind, arg = move
        if kind in ("fallback", "open"):
            return self.templates[kind].format(noun=arg)
        if kind == "ask":
            return " ".join(cat["attrs"][c]["expert_ask"] for c in arg)
        variants = self.templates["recommend"]
        return variants[self._state["recommended"] % len(variants)].format(name=arg)


def _prefs_in(sentence: str, attrs: Mapping[str, Mapping[str, Any]],
              names: Sequence[str] = ()) -> dict[str, Any]:
    """Constraints a (non-negated) user sentence states (item ``names`` left out)."""
    text = f" {normalize(sentence)} "
    for name in names:
        text = text.replace(f" {normalize(name)} ", " ")
    out: dict[str, Any] = {}
    for key, a in attrs.items():
        if a["kind"] == "cat":
            found = [v for v in a["values"] if f" {normalize(v)} " in text]
            if found:
                out[key] = max(found, key=len)
        elif a["kind"] == "flag":
            if f" {key} " in text:
                out[key] = True
        else:
            pat = r"\$\s?(\d+)" if a["unit"] == "$" else rf"(\d+)\s*{re.escape(a['unit'])}"
            m = re.search(pat, sentence)
            if m:
                out[key] = int(m.group(1))
    return out


# ============================================================================ domain + env


class RecommendationDomain(Domain):
    """Catalogue, rules, user and expert of conversational recommendation."""

    name = DOMAIN
    labels = {USER: "User", AGENT: "Assistant", SYSTEM: "System"}
    default_reward = {"task_success": 1.0, "rule_compliance": 1.0, "bleu": 0.1}

    def generator(self) -> RecommendationGenerator:
        """Seeded catalogues and users."""
        return RecommendationGenerator()

    def tools(self) -> ToolSet:
        """No tools: the catalogue is in the context."""
        return ToolSet()

    def rulebook(self) -> RuleBook:
        """No pushing rejected items, no repetition, politeness and length."""
        return RuleBook([NoPushingRejected(), NoRepetition(), Politeness(), profanity(),
                         LengthLimit(100)])

    def make_user(self) -> RecommendationUser:
        """A fresh simulated user."""
        return RecommendationUser()

    def make_expert(self) -> RecommendationExpert:
        """A fresh scripted recommender."""
        return RecommendationExpert()

    def render_context(self, scenario: Scenario, rules: RuleBook, tools: ToolSet) -> str:
        """Role, procedure, rules and the catalogue table."""
        c = scenario.context
        attrs = _attrs(scenario.goal["category"])
        rows = [" | ".join([it["name"], *(cell(attrs[k], it[k]) for k in c["columns"][1:])])
                for it in scenario.world["items"]]
        return "\n".join([
            f"You are a {c['role']} for {c['service']}, helping {c['persona']} (sounds "
            f"{c['mood']}) choose a {c['noun']}.",
            f"Recommend one {c['noun']} at a time, by its exact name from the catalogue. The "
            "user accepts only an option that fits all their needs; some needs they mention "
            "only when asked about them. Prices are per person (restaurants) or per night "
            "(hotels); yes/no columns say whether an option has the feature.",
            "Rules:",
            rules.describe(),
            f"Catalogue of {len(rows)} {c['plural']} ({' | '.join(c['columns'])}):",
            *rows,
        ])

    def context_data(self, scenario: Scenario) -> dict[str, Any]:
        """The catalogue: category, its nouns, the columns, the units and every row.

        ``{"category", "noun", "plural", "columns", "units", "rows"}``: ``columns`` is
        the table's header (``"name"`` first), ``rows`` one dict per item in the table's
        order with a value per column (yes/no columns as booleans, prices and lengths as
        numbers in ``units[column]``: ``"$"`` or ``"min"``, the others as text).
        """
        c = scenario.context
        attrs = _attrs(scenario.world["category"])
        cols = list(c["columns"])
        return {"category": scenario.world["category"], "noun": c["noun"],
                "plural": c["plural"], "columns": cols,
                "units": {k: attrs[k]["unit"] for k in cols[1:] if attrs[k]["kind"] == "max"},
                "rows": [{k: it[k] for k in cols} for it in scenario.world["items"]]}

    def understanding(self) -> Mapping[str, Any]:
        """Slots, recommendation cues and the item kind (``understanding`` in the data)."""
        return load_data()["understanding"]

    def entities(self, scenario: Scenario) -> Mapping[str, Mapping[str, Any]]:
        """The catalogue's items, which ``recommend`` acts name."""
        return item_entities(scenario.world["names"])

    def lexicon(self, scenario: Scenario) -> Lexicon:
        """The lexicon with the catalogue's items, shared with the expert (:func:`lexicon_for`)."""
        return lexicon_for(scenario.world["names"])

    def facts(self, scenario: Scenario) -> Mapping[str, Any]:
        """The user's constraints and the one item that fits them."""
        g = scenario.goal
        return {"category": g["category"], "constraints": dict(g["constraints"]),
                "target": g["target"]}


class RecommendationEnv(DialogueEnv):
    """Dialog-Recommendation-v0: recommend one item that fits stated and unstated needs.

    ## Description
    The user wants a restaurant, a movie or a hotel. The context shows a catalogue
    (30-42 options, with attributes such as cuisine, area and price, or genre, language,
    length and streaming service) in which exactly one option fits everything the user
    needs. Some needs are *stated*: the user tells them when asked what they are looking
    for. Others are *unstated* hard constraints (vegetarian options, wheelchair access,
    watching with kids, a dog, a car): the user mentions them only when asked about them
    specifically, or when turning down an option that breaks one. The agent must elicit,
    filter and recommend one option by name. The user accepts only the option that fits
    all needs; after two turned-down recommendations they leave. Naming several options
    in one reply counts as a turned-down recommendation, and pushing an option the user
    already rejected breaks the ``no_pushing_rejected`` rule, so listing the catalogue, or
    recommending every item in turn, does not work (at most two tries in a catalogue of
    30-42).

    ## Action space
    ``UnicodeText(1000)``: the reply. There are no tools.

    ## Observation space
    ``Dict(context, history, turn, messages)``: the context states the service, the user's
    name and mood, the rules and the catalogue table; the history is the transcript
    (``User:``, ``Assistant:``); ``messages`` the same episode as chat messages (the
    context as the system message), which the expert reads. The system message's
    ``data`` (:func:`~dialog_gym.messages.context_data`) is the catalogue as data:
    ``category`` (``restaurant``, ``movie``, ``hotel``), ``noun``, ``plural``, ``columns``
    (the header, ``"name"`` first), ``units`` (``"$"`` or ``"min"`` for the price and
    length columns) and ``rows`` (one ``{"name": ..., column: value}`` per item, in the
    table's order; yes/no columns as booleans, prices and lengths as numbers).

    ## Rewards
    Default mix: ``1.0 * task_success + 1.0 * rule_compliance + 0.1 * bleu``.
    ``task_success`` is the increase of the goal-progress potential (milestones: every
    stated preference known 0.2, every unstated constraint known 0.2, option accepted 0.6;
    0.4/0.6 when the user has no unstated constraint) plus 1 when an option is accepted and
    -0.5 when the user gives up; ``rule_compliance`` is minus the penalties of broken rules
    (0.3 for recommending a rejected option again, 0.2 per repeated reply, ...); ``bleu``
    compares the reply with the scripted expert's reply in the same state. Keyword
    stuffing (including a string of preference words), echoing the user and repeating a
    reply never count as progress.

    ## Starting state
    A scenario from :class:`RecommendationGenerator` chosen by the sampler; the user asks
    for a recommendation (and states one preference at difficulty 0).

    ## Episode end
    Terminated when the user accepts an option (success), turns down two recommendations,
    or runs out of patience or mood (failure). Truncated at ``max_episode_steps=20`` agent
    turns.

    ## Arguments
    ``gym.make("Dialog-Recommendation-v0", reward=None, render_mode=None,
    sampler="uniform", rules=None, difficulty=None)``; see :class:`DialogueEnv`.

    ## Version history
    - v0: initial release.
    """

    domain_cls = RecommendationDomain
