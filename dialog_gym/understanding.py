"""One analysis of each agent reply, shared by the simulated user, the rules and the scorers.

The environment analyses every reply once per step (:meth:`Lexicon.analyze`); everything
that needs to know what the agent *meant* reads that :class:`Analysis`, and nothing
else parses the reply. An analysis has:

- **clauses**: sentences split at clause boundaries (``;``, ``but``, ``, it's ...``, an
  ``if``-clause and its main clause, a leading ``No,``), each with its **modality**
  (``assert``, ``question``, ``imperative``, ``hypothetical``) and **polarity**
  (``negated``: a negation such as *not*, *never*, *-n't* governs it; ``doubted``: *I
  don't think*, *I doubt*, *not sure*);
- **typed mentions** with their clause: money, card numbers in any separator format,
  e-mail addresses, ids of the domain's formats, dates (ISO, written, weekdays,
  relative: *tomorrow*), clock times, durations, quantities with units, plain numbers
  (digits or words: *seventy-one point six*) and the domain's named entities (items,
  statuses, emotions, properties, ...);
- **dialogue acts** per clause: ``request`` (which slot), ``question`` (which property),
  ``inform``, ``confirm``, ``decline``, ``refuse_unknown`` ("the passage does not say"),
  ``recommend`` (which item), ``suggest`` (what kind), ``acknowledge`` (which emotion),
  ``greet``, ``close``, ``apologize``, ``empathize``, ``thank``.

A value counts as **asserted** only in an asserting clause that is neither negated nor
doubted: "has not shipped", "if it had shipped" and "has it shipped?" mention
*shipped* without asserting it. Recommendations skip items in a contrast ("unlike A,
...", "... than B").

Everything language-specific is data: the core lexicon (``dialog_gym/data/
understanding.json``: negation and hedge words, act cue phrases, units) merged with
the domain's (the ``understanding`` entry of its data file: slots, entities, id formats,
extra cues, exemplar sentences) and the episode's entities (the scenario's items,
names, values). Act recognition combines cue phrases with semantic matching of a clause
against the domain's exemplar sentences (the embedded sentence encoder), for the acts a
domain declares exemplars of; its thresholds are data, calibrated by
``benchmarks/understanding.py --calibrate`` on the tuning half of the domain's labelled
set. A domain adds data and writes no parser.

Example:
    >>> lex = Lexicon.from_data({"entities": {"status": {"shipped": ["shipped"],
    ...                                                    "processing": ["processing"]}}})
    >>> a = lex.analyze("Your order has not shipped yet; it is still processing.")
    >>> sorted(a.asserted_values("status")), sorted(a.negated_values("status"))
    (['processing'], ['shipped'])
    >>> lex.analyze("Has it shipped?").asserted_values("status")
    set()
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from importlib import resources
from typing import Any

import numpy as np

from dialog_gym.error import ConfigError
from dialog_gym.text import _DMY as _DATE_DMY
from dialog_gym.text import _MDY as _DATE_MDY
from dialog_gym.text import card_spans, date_spans, time_spans

# ---------------------------------------------------------------------------- data model

ASSERT, QUESTION, IMPERATIVE, HYPOTHETICAL = "assert", "question", "imperative", "hypothetical"


@dataclass(frozen=True)
class Mention:
    """A typed value mentioned in a reply.

    Attributes:
        kind: ``"money"``, ``"card"``, ``"email"``, ``"date"``, ``"weekday"``,
            ``"time"``, ``"duration"``, ``"quantity"``, ``"number"``, an id kind of the
            domain (``"order_id"``) or an entity kind of the lexicon (``"item"``).
        value: The normalised value: a float for money and numbers, the digits of a
            card, ``(year or None, month, day)`` for dates, ``0``-``6`` for weekdays,
            ``("relative", days)`` for *today*/*tomorrow* (kind ``"date"``), ``"HH:MM"``
            for times, ``(amount, unit)`` for durations and quantities, the entity's
            canonical value for entities, the upper-cased id for ids.
        text: The words as written (after number words became digits).
        clause: Index of its clause in :attr:`Analysis.clauses`.
        start: Offset in the clause's normalised text.
        negated: The clause is negated (or doubted).
        modality: The clause's modality.
        contrasted: Inside a contrast ("unlike A", "than B", "instead of C").
    """

    kind: str
    value: Any
    text: str
    clause: int
    start: int
    negated: bool = False
    modality: str = ASSERT
    contrasted: bool = False

    @property
    def asserted(self) -> bool:
        """Stated as true: in an asserting (or imperative) clause, not negated."""
        return not self.negated and self.modality in (ASSERT, IMPERATIVE)


@dataclass(frozen=True)
class Act:
    """A dialogue act of one clause.

    Attributes:
        name: ``request``, ``question``, ``inform``, ``confirm``, ``decline``,
            ``refuse_unknown``, ``recommend``, ``suggest``, ``acknowledge``, ``greet``,
            ``close``, ``apologize``, ``empathize`` or ``thank``.
        arg: The slot, property, item, suggestion kind or emotion, where the act has one.
        clause: Index of its clause.
        source: ``"rule"`` (cue phrases) or ``"semantic"`` (exemplar similarity).
        score: Similarity of the best exemplar (1.0 for rules).
    """

    name: str
    arg: str | None
    clause: int
    source: str = "rule"
    score: float = 1.0

    @property
    def label(self) -> str:
        """``"name"`` or ``"name:arg"``: the label of labelled evaluation sets."""
        return self.name if self.arg is None else f"{self.name}:{self.arg}"


@dataclass(frozen=True)
class Clause:
    """One clause of a reply.

    Attributes:
        index: Position in the reply.
        text: The clause as written.
        norm: Lower-cased, number words as digits; mention offsets refer to it.
        tokens: Word tokens of :attr:`norm`.
        sentence: Index of its sentence.
        modality: ``assert``, ``question``, ``imperative`` or ``hypothetical``.
        negated: A negation governs the clause.
        doubted: The speaker doubts it ("I don't think", "I doubt", "not sure") or
            denies its whole sentence ("It is not true that ...": the core's ``denial``).
        hedged: Softened but still asserted ("maybe", "probably").
    """

    index: int
    text: str
    norm: str
    tokens: tuple[str, ...]
    sentence: int
    modality: str
    negated: bool
    doubted: bool
    hedged: bool


@dataclass(frozen=True)
class Analysis:
    """What one reply says: clauses, mentions and acts (see the module docstring)."""

    text: str
    clauses: tuple[Clause, ...]
    mentions: tuple[Mention, ...]
    acts: tuple[Act, ...]
    #: clauses sent to the sentence encoder (0 when rules decided everything)
    encoded: int = 0

    # -- acts ------------------------------------------------------------------------
    def has(self, name: str, arg: str | None = None) -> bool:
        """Whether the reply performs act ``name`` (with ``arg``, when given)."""
        return any(a.name == name and (arg is None or a.arg == arg) for a in self.acts)

    def args(self, name: str) -> list[str]:
        """The arguments of every ``name`` act, in order, without repeats."""
        out: list[str] = []
        for a in self.acts:
            if a.name == name and a.arg is not None and a.arg not in out:
                out.append(a.arg)
        return out

    def acts_of(self, name: str) -> list[Act]:
        """Every ``name`` act, in order."""
        return [a for a in self.acts if a.name == name]

    @property
    def requests(self) -> set[str]:
        """Slots the reply asks the user for."""
        return set(self.args("request"))

    @property
    def labels(self) -> set[str]:
        """Act labels (``name`` or ``name:arg``), as in the labelled evaluation sets."""
        return {a.label for a in self.acts}

    # -- mentions --------------------------------------------------------------------
    def of_kind(self, kind: str) -> list[Mention]:
        """Every mention of ``kind``, in order."""
        return [m for m in self.mentions if m.kind == kind]

    def asserted_values(self, kind: str) -> set[Any]:
        """Values of ``kind`` the reply asserts."""
        return {m.value for m in self.mentions if m.kind == kind and m.asserted}

    def negated_values(self, kind: str) -> set[Any]:
        """Values of ``kind`` the reply states are not so (negated, in a non-question)."""
        return {m.value for m in self.mentions
                if m.kind == kind and m.negated and m.modality != QUESTION}

    def mentioned_values(self, kind: str) -> set[Any]:
        """Values of ``kind`` mentioned in any way (asked, negated, supposed, asserted)."""
        return {m.value for m in self.mentions if m.kind == kind}

    def clause_of(self, m: Mention | Act) -> Clause:
        """The clause a mention or act belongs to."""
        return self.clauses[m.clause]

    def clause_mentions(self, index: int, kind: str | None = None) -> list[Mention]:
        """Mentions of one clause (of ``kind``, when given)."""
        return [m for m in self.mentions
                if m.clause == index and (kind is None or m.kind == kind)]

    @cached_property
    def questions(self) -> list[Clause]:
        """Clauses that ask something."""
        return [c for c in self.clauses if c.modality == QUESTION]


# ---------------------------------------------------------------------------- lexicon


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: dicts merge, lists concatenate (without repeats), scalars override."""
    out = dict(base)
    for k, v in extra.items():
        if k.startswith("_"):
            continue
        old = out.get(k)
        if isinstance(old, Mapping) and isinstance(v, Mapping):
            out[k] = _merge(old, v)
        elif isinstance(old, list) and isinstance(v, list):
            out[k] = old + [x for x in v if x not in old]
        else:
            out[k] = v
    return out


@lru_cache(maxsize=1)
def core_data() -> dict[str, Any]:
    """The core lexicon (``dialog_gym/data/understanding.json``)."""
    text = resources.files("dialog_gym").joinpath("data/understanding.json").read_text(
        encoding="utf-8")
    return json.loads(text)


_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[$€£%°#]")


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(text))


def _stem(tok: str) -> str:
    """A light stem so that phrases match plural and verb forms ("legs" -> "leg")."""
    if len(tok) > 4 and tok.endswith("ies"):
        return tok[:-3] + "y"
    if len(tok) > 3 and tok.endswith("es") and tok[-3] in "sxz":
        return tok[:-2]
    if len(tok) > 3 and tok.endswith("s") and not tok.endswith(("ss", "us", "is")):
        return tok[:-1]
    return tok


def _norm_text(text: str) -> str:
    return text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')


class PhraseIndex:
    """Longest-match lookup of multi-word phrases in a token sequence.

    Phrases are matched on light stems, so "four legs" matches the phrase "four leg".
    A ``*`` in a phrase matches up to three words ("order * number").
    """

    def __init__(self, entries: Iterable[tuple[str, Any]]) -> None:
        self._first: dict[str, list[tuple[tuple[str, ...], Any]]] = {}
        for phrase, payload in entries:
            toks = tuple(_stem(t) if t != "*" else t
                         for t in re.findall(r"\*|[^\W_]+(?:'[^\W_]+)*|[$€£%°#]",
                                             _norm_text(phrase).lower()))
            if toks:
                self._first.setdefault(toks[0], []).append((toks, payload))
        for lst in self._first.values():
            lst.sort(key=lambda e: -len(e[0]))

    def __bool__(self) -> bool:
        return bool(self._first)

    @staticmethod
    def _match(pat: tuple[str, ...], stems: Sequence[str], i: int) -> int:
        """End index of ``pat`` matched at ``i`` (0 when it does not match)."""
        j = i
        k = 0
        while k < len(pat):
            p = pat[k]
            if p == "*":
                nxt = pat[k + 1] if k + 1 < len(pat) else None
                for gap in range(0, 4):
                    if nxt is None or (j + gap < len(stems) and stems[j + gap] == nxt):
                        j += gap
                        break
                else:
                    return 0
                k += 1
                continue
            if j >= len(stems) or stems[j] != p:
                return 0
            j += 1
            k += 1
        return j

    def find(self, stems: Sequence[str], overlap: bool = False) -> list[tuple[int, int, Any]]:
        """``(start, end, payload)`` of matches; longest first, non-overlapping by default."""
        out: list[tuple[int, int, Any]] = []
        i = 0
        while i < len(stems):
            best = None
            ties: list[tuple[int, int, Any]] = []  # one phrase, several payloads ("when")
            for pat, payload in self._first.get(stems[i], ()):
                end = self._match(pat, stems, i)
                if end:
                    if best is None or end > best[1]:
                        best = (i, end, payload)
                        ties = []
                    elif end == best[1] and payload != best[2]:
                        ties.append((i, end, payload))
                    if overlap:
                        out.append((i, end, payload))
            if best is not None and not overlap:
                out.append(best)
                out.extend(ties)
                i = best[1]
            else:
                i += 1
        return out


_MONEY = re.compile(
    r"(?:(?:usd|us\$|\$|€|£|eur|gbp)\s?(\d{1,7}(?:,\d{3})*(?:\.\d{1,2})?)"
    r"|(\d{1,7}(?:,\d{3})*(?:\.\d{1,2})?)\s?(?:dollars?|bucks|usd|euros?|eur|pounds? sterling|"
    r"gbp|\$)(?:\s+and\s+(\d{1,2})\s+cents?)?)(?![\w.]\d)")
_ISO_LIKE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:st|nd|rd|th)?(?![\w])|"
                     r"(?<![\w.])-?\.\d+(?![\w])")
_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


@lru_cache(maxsize=8192)
def _digits(text: str) -> str:
    """``text`` with number words written as digits (text2num); case is kept."""
    text = _norm_text(text)
    if not re.search(r"[A-Za-z]", text):
        return text
    try:
        from text_to_num import alpha2digit
    except ImportError:  # pragma: no cover - text2num is a core dependency
        return text
    # "thirty-day": text2num reads a number word only when it stands alone
    spaced = re.sub(r"(?<=[a-z])-(?=(?:day|week|month|year|hour|minute)s?\b)", " ", text,
                    flags=re.IGNORECASE)
    # spoken years ("nineteen eighty-four", "eighteen oh five"): text2num reads two numbers
    spaced = _SPOKEN_YEAR.sub(_spoken_year, spaced)
    return alpha2digit(spaced, "en", threshold=2)


_TEENS = ("ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen "
          "nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_UNITS = "one two three four five six seven eight nine".split()
_SPOKEN_YEAR = re.compile(
    r"(?<!\bat )\b(" + "|".join(_TEENS[1:]) + r")[ -]+(?:(" + "|".join(_TENS) + r")(?:[ -]+("
    + "|".join(_UNITS) + r"))?|(" + "|".join(_TEENS) + r")|(?:oh|o)[ -]+(" + "|".join(_UNITS)
    + r"))\b(?!\s*(?:[ap]\.?\s?m\b|o'clock|hours?\b|minutes?\b))", re.IGNORECASE)


def _spoken_year(m: re.Match[str]) -> str:
    """``"nineteen eighty-four"`` -> ``"1984"`` (a match of :data:`_SPOKEN_YEAR`)."""
    g = [x.lower() if x else None for x in m.groups()]
    hi = _TEENS.index(g[0]) + 10
    if g[1]:
        lo = 10 * (_TENS.index(g[1]) + 2) + (_UNITS.index(g[2]) + 1 if g[2] else 0)
    elif g[3]:
        lo = _TEENS.index(g[3]) + 10
    else:
        lo = _UNITS.index(g[4]) + 1
    return str(hi * 100 + lo)


class Lexicon:
    r"""The understanding data of a domain (merged with the core's) and its analyser.

    Build one with :meth:`from_data` from a domain's ``understanding`` data; add an
    episode's entities (the scenario's items, names, values) with :meth:`with_entities`.
    :meth:`analyze` is cached per lexicon and text.

    Data keys (every one optional; see ``docs/authoring_envs.md``):
        ``slots``: slot -> phrases that name it in a request ("order number").
        ``entities``: kind -> value -> phrases ("status" -> "shipped" -> ["on its way"]).
        ``ids``: kind -> regular expression of an id format (``"[A-Z]\\d{4}"``).
        ``acts``: act -> ``{"cues": [...]}`` (added to the core cues).
        ``properties``: property -> phrases, for ``question`` acts.
        ``suggestions``: kind -> phrases, for ``suggest`` acts.
        ``emotions``: emotion -> words, for ``acknowledge`` acts.
        ``recommend_kind``: the entity kind that ``recommend`` acts name.
        ``exemplars``: ``"act"`` or ``"act:arg"`` -> example sentences.
        ``thresholds``: act -> cosine similarity above which an exemplar match counts.
        ``proper_names``: ``true`` to mention capitalised words the lexicon does not know
        as kind ``"name"`` (value: the lower-cased words), e.g. an invented person.
        ``not_names``: capitalised words that are never names ("According", "Mayor").
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)
        d = self.data
        self.negation = frozenset(d.get("negation", ()))
        self.neg_suffix = d.get("negation_suffix", "n't")
        self.aux = frozenset(d.get("aux", ()))
        self.wh = frozenset(d.get("wh", ()))
        self.imperative_verbs = frozenset(d.get("imperative_verbs", ()))
        self.subordinators = PhraseIndex((p, p) for p in d.get("subordinators", ()))
        self.hypothetical = PhraseIndex((p, p) for p in d.get("hypothetical", ()))
        self.non_negating = PhraseIndex((p, p) for p in d.get("non_negating", ()))
        self.doubt = PhraseIndex((p, p) for p in d.get("doubt", ()))
        self.denial = PhraseIndex((p, p) for p in d.get("denial", ()))
        self.hedge = PhraseIndex((p, p) for p in d.get("hedge", ()))
        #: words that make a request an indirect question ("tell me whether it flies")
        self.indirect = frozenset(d.get("indirect_question", ()))
        self.contrast = PhraseIndex((p, p) for p in d.get("contrast", ()))
        self.breaks = frozenset(d.get("clause_breaks", ()))
        #: tags that turn a statement into a question ("..., right?"): their own clause
        self.tag_questions = frozenset(" ".join(_tokens(t.lower()))
                                       for t in d.get("tag_questions", ()))
        self.subjects = frozenset(d.get("subjects", ()))
        acts = d.get("acts", {})
        self.cues = PhraseIndex((cue, name) for name, spec in acts.items()
                                for cue in spec.get("cues", ()))
        self.initial_acts = frozenset(n for n, s in acts.items() if s.get("initial"))
        self.slots = PhraseIndex((p, s) for s, ps in d.get("slots", {}).items() for p in ps)
        self.properties = PhraseIndex((p, s) for s, ps in d.get("properties", {}).items()
                                      for p in ps)
        self.suggestions = PhraseIndex((p, s) for s, ps in d.get("suggestions", {}).items()
                                       for p in ps)
        self.emotions = PhraseIndex((p, s) for s, ps in d.get("emotions", {}).items()
                                    for p in ps)
        self.entities = _entity_index(d.get("entities", {}))
        self.units = PhraseIndex((p, u) for u, ps in d.get("units", {}).items() for p in ps)
        self.duration_units = PhraseIndex((p, u) for u, ps in d.get("durations", {}).items()
                                          for p in ps)
        self.weekdays = {w: i for i, w in enumerate(d.get("weekdays", ()))}
        self.relative = PhraseIndex((p, v) for p, v in d.get("relative_days", {}).items())
        self.ids: list[tuple[str, re.Pattern[str]]] = []
        for kind, pat in d.get("ids", {}).items():
            try:
                self.ids.append((kind, re.compile(rf"(?<![\w@.]){pat}(?![\w@])",
                                                  re.IGNORECASE)))
            except re.error as e:
                raise ConfigError(f"id format {kind!r} is not a valid regular expression "
                                  f"({e}): {pat!r}") from e
        self.recommend_kind = d.get("recommend_kind")
        self.proper_names = bool(d.get("proper_names"))
        self.not_names = frozenset(w.lower() for w in d.get("not_names", ())) | self.subjects \
            | self.aux | self.wh | self.negation | frozenset(self.weekdays)
        self.thresholds: dict[str, float] = dict(d.get("thresholds", {}))
        self.exemplars: dict[str, list[str]] = {k: list(v) for k, v in
                                                d.get("exemplars", {}).items() if v}
        self._exemplar_matrix: tuple[list[str], np.ndarray] | None = None
        self.encoder: Any = None  # set on first semantic match (see _semantic)

    # -- construction ---------------------------------------------------------------
    @classmethod
    def from_data(cls, domain: Mapping[str, Any] | None = None) -> Lexicon:
        """The core lexicon merged with a domain's ``understanding`` data."""
        return cls(_merge(core_data(), domain or {}))

    def with_entities(self, entities: Mapping[str, Mapping[str, Sequence[str]]]) -> Lexicon:
        """A copy with more entities (kind -> value -> phrases), e.g. one episode's."""
        key = json.dumps(entities, sort_keys=True, default=str)
        return _with_entities(self, key)

    # -- analysis -------------------------------------------------------------------
    def analyze(self, text: str) -> Analysis:
        """The :class:`Analysis` of ``text`` (cached per lexicon and text)."""
        if not isinstance(text, str):
            raise TypeError(f"analyze() takes the reply as a str, got {type(text).__name__}")
        return _analyze(self, text)

    def clauses(self, text: str) -> list[tuple[str, int]]:
        """``(clause text, sentence index)`` of ``text``, in order."""
        out: list[tuple[str, int]] = []
        for si, sent in enumerate(s for s in _SENT_SPLIT.split(_norm_text(text)) if s.strip()):
            for part in self._split_sentence(sent.strip()):
                if re.search(r"\w", part):
                    out.append((part.strip(), si))
        return out

    def _split_sentence(self, sent: str) -> list[str]:
        # hard breaks: ";", ":" (not in 10:30), dashes between spaces
        parts = re.split(r";|(?<!\d):(?!\d)|\s[—–-]{1,2}\s", sent)
        out: list[str] = []
        for p in parts:
            out.extend(self._split_soft(p))
        return out

    def _split_soft(self, seg: str) -> list[str]:
        """Split at commas and conjunctions that start a new clause."""
        pieces: list[str] = []
        start = 0
        # candidate break points: a comma, or a space before a break word
        for m in re.finditer(r",\s*|\s+(?=(\w+)\b)", seg):
            pos = m.start()
            before = seg[start:pos].strip()
            after = seg[m.end():]
            if not before or (m.group(0) == "," and pos > 0 and seg[pos - 1].isdigit()
                              and after[:1].isdigit()):
                continue  # nothing before, or a thousands separator ("8,719")
            after_toks = _tokens(after.lower())[:3]
            if not after_toks:
                continue
            first = after_toks[0]
            base = first.split("'")[0]  # "it's" -> "it"
            before_toks = _tokens(before.lower())
            cut = False
            if m.group(0).strip() == ",":
                if after.rstrip().endswith("?") and " ".join(
                        _tokens(after.lower())) in self.tag_questions and len(before_toks) > 1:
                    cut = True  # "So that's Friday at 2 pm, correct?": a statement and a tag
                elif len(before_toks) == 1 and before_toks[0] not in self.subjects | self.wh:
                    cut = True  # "No, ...", "Sorry, ...", "Yes, ..."
                elif first == "not":
                    cut = True  # "it's the toad, not the frog"
                elif first in self.breaks and len(after_toks) > 1 and (
                        after_toks[1].split("'")[0] in self.subjects  # "so you're"
                        or first in ("but", "however", "whereas", "although", "though",
                                     "yet", "so")):
                    cut = True  # "A and B are too pricey, so C is your best bet"
                elif base in self.subjects and base not in ("the", "what", "which",
                                                            "who", "this", "these",
                                                            "those", "is", "are", "was",
                                                            "were", "do", "does", "did",
                                                            "has", "have", "had", "may",
                                                            "might", "can", "could",
                                                            "would", "will", "should",
                                                            "shall", "please", "let"):
                    cut = True  # ", it's ...", ", you could ..."
                elif self._starts_subordinate(before_toks):
                    cut = True  # "If it had shipped, ..."
                elif first in self.aux and len(after_toks) > 1 and \
                        after_toks[1] in self.subjects:
                    cut = True  # "..., is it big?"
            else:
                if first in ("but", "whereas", "although", "though") and len(before_toks) > 1:
                    cut = True
                elif first in ("and", "or", "so", "because") and len(after_toks) > 2 and (
                        (after_toks[1] in self.aux and after_toks[2] in self.subjects)
                        or (after_toks[1] in self.wh)
                        or (after_toks[1] in ("i", "you", "we", "they", "it", "he", "she",
                                              "it's", "i'm", "you're", "i'll", "i'd",
                                              "i've", "we'll", "we're", "that's",
                                              "there's", "your", "my"))):
                    cut = True  # "... and does it have legs?", "... and I'll send it"
                elif first == "and" and len(after_toks) > 2 and after_toks[1] in self.aux \
                        and (after_toks[2] in self.negation
                             or after_toks[1].endswith(self.neg_suffix)):
                    cut = True  # "is processing and has not shipped": own polarity
            if cut:
                pieces.append(before)
                start = m.end() if m.group(0).strip() == "," else m.start()
        pieces.append(seg[start:].strip())
        return [p for p in pieces if p]

    def _starts_subordinate(self, toks: Sequence[str]) -> bool:
        stems = [_stem(t) for t in toks]
        return any(s == 0 for s, _, _ in self.subordinators.find(stems[:3]))


def _entity_index(entities: Mapping[str, Mapping[str, Sequence[str]]]) -> PhraseIndex:
    return PhraseIndex((p, (kind, value)) for kind, values in entities.items()
                       for value, phrases in values.items() for p in [value, *phrases])


@lru_cache(maxsize=512)
def _with_entities(base: Lexicon, key: str) -> Lexicon:
    # only the entity index changes: everything else is shared with the base lexicon
    # (rebuilding every phrase index cost ~40 ms per episode)
    lex = copy.copy(base)
    lex.data = _merge(base.data, {"entities": json.loads(key)})
    lex.entities = _entity_index(lex.data.get("entities", {}))
    return lex


# ---------------------------------------------------------------------------- the analyser


def _find_all(index: PhraseIndex, stems: Sequence[str]) -> list[tuple[int, int, Any]]:
    return index.find(stems) if index else []


@lru_cache(maxsize=16384)
def _rule_pass(lex: Lexicon, text: str) -> tuple[tuple[Clause, ...], tuple[Mention, ...],
                                                 tuple[Act, ...], tuple[int, ...]]:
    """Clauses, mentions and cue-rule acts, and the clauses left for the encoder."""
    clauses: list[Clause] = []
    mentions: list[Mention] = []
    acts: list[Act] = []
    raw = lex.clauses(text)
    n_sent = max((s for _, s in raw), default=-1) + 1
    sent_question = [False] * n_sent
    for ctext, si in raw:
        if ctext.rstrip().endswith("?"):
            sent_question[si] = True
    pending_sem: list[int] = []
    asked = [False] * n_sent  # a question clause came earlier in the sentence
    denied = [False] * n_sent  # the sentence opens with a denial ("it is not true that")
    for ci, (ctext, si) in enumerate(raw):
        cased = _digits(ctext)
        norm = cased.lower() if len(cased.lower()) == len(cased) else cased
        toks = _tokens(norm)
        stems = [_stem(t) for t in toks]
        clause = _clause(lex, ci, ctext, norm, toks, stems, si, sent_question[si])
        if asked[si] and clause.modality != QUESTION and sent_question[si]:
            # "Which day: today, Friday, or another date?": the options are asked too
            clause = replace(clause, modality=QUESTION)
        asked[si] = asked[si] or clause.modality == QUESTION
        if ci == 0 or raw[ci - 1][1] != si:  # the first clause of its sentence
            denied[si] = any(s == 0 for s, _, _ in _find_all(lex.denial, stems[:6]))
        if denied[si]:  # "It is not true that ..., ...": every clause of it is denied
            clause = replace(clause, negated=True, doubted=True)
        clauses.append(clause)
        cm = _mentions(lex, clause, stems, cased)
        cacts = _rule_acts(lex, clause, stems, cm, mentions)
        acts.extend(cacts)
        mentions.extend(cm)
        if lex.exemplars and len(toks) >= 3 and not any(
                a.name in _SEMANTIC_FAMILIES and not _open_question(lex, a) for a in cacts) \
                and any(_accepts(k.split(":", 1)[0], clause) for k in lex.exemplars):
            pending_sem.append(ci)  # (not encoded when no exemplar act could stand there)
    return tuple(clauses), tuple(mentions), tuple(acts), tuple(pending_sem)


@lru_cache(maxsize=16384)
def _analyze(lex: Lexicon, text: str) -> Analysis:
    clauses, mentions, rule_acts, pending = _rule_pass(lex, text)
    acts = list(rule_acts)
    if pending:
        sem = _semantic(lex, [clauses[i] for i in pending])
        placed = {a.clause for a in sem if a.name == "question"}
        # a question the rules could not place gets the exemplars' property instead
        acts = [a for a in acts if not (a.clause in placed and _open_question(lex, a))]
        acts.extend(sem)
    # "Is it a mammal, would you say?": a tag clause of a placed question asks nothing more
    placed_sents = {clauses[a.clause].sentence for a in acts
                    if a.name == "question" and a.arg is not None}
    acts = [a for a in acts if not (_open_question(lex, a)
                                    and clauses[a.clause].sentence in placed_sents)]
    acts.sort(key=lambda a: a.clause)
    return Analysis(text=text, clauses=clauses, mentions=mentions, acts=tuple(acts),
                    encoded=len(pending))


def prefetch(items: Iterable[tuple[Lexicon, str]]) -> int:
    """Encode, in one batch, every clause that analysing ``items`` will send to the encoder.

    A vector env calls it with the replies of all its sub-envs before stepping them, so
    the sentence encoder runs once per vector step; the analyses then find the
    embeddings in the encoder's cache. Returns the number of clauses encoded.
    """
    todo: list[str] = []
    encoder = None
    for lex, text in items:
        if not lex.exemplars:
            continue
        clauses, _, _, pending = _rule_pass(lex, text)
        if pending:
            _exemplars(lex)
            encoder = lex.encoder
            todo.extend(clauses[i].text for i in pending)
    if encoder is not None and todo:
        encoder.encode(list(dict.fromkeys(todo)))
    return len(todo)


def _open_question(lex: Lexicon, act: Act) -> bool:
    """A ``question`` act about no known property, in a domain with question exemplars.

    Such a clause stays open for semantic matching ("Is it something humans manufacture?").
    """
    return act.name == "question" and act.arg is None and any(
        k.startswith("question:") for k in lex.exemplars)


#: act families the semantic matcher may add (those whose exemplars a domain declares)
_SEMANTIC_FAMILIES = frozenset({"request", "question", "suggest", "acknowledge",
                                "recommend", "refuse_unknown", "decline", "confirm"})
_LEADERS = frozenset({"so", "and", "but", "now", "then", "just", "also", "okay", "ok",
                      "well", "great", "alright", "first", "next", "finally", "lastly"})


def _clause(lex: Lexicon, ci: int, text: str, norm: str, toks: tuple[str, ...],
            stems: list[str], si: int, sent_q: bool) -> Clause:
    # modality
    lead = [t for t in toks if t not in _LEADERS]
    first = lead[0] if lead else ""
    if text.rstrip().endswith("?") or (sent_q and (first in lex.aux or first in lex.wh)):
        modality = QUESTION
    elif any(s < 2 for s, _, _ in _find_all(lex.hypothetical, stems)) or re.search(
            r"\b(?:would|could|might|should)(?: not|n't)? have\b", norm):
        modality = HYPOTHETICAL
    elif first == "please" or (first in lex.imperative_verbs and
                               (len(lead) < 2 or lead[1] not in ("you", "i", "we", "it"))):
        modality = IMPERATIVE
    else:
        modality = ASSERT
    # polarity
    skip: set[int] = set()
    for s, e, _ in _find_all(lex.non_negating, stems):
        skip.update(range(s, e))
    negated = any(
        i not in skip and (t in lex.negation or t.endswith(lex.neg_suffix))
        for i, t in enumerate(toks))
    doubted = bool(_find_all(lex.doubt, stems))
    hedged = bool(_find_all(lex.hedge, stems))
    return Clause(ci, text, norm, toks, si, modality, negated or doubted, doubted, hedged)


def _mentions(lex: Lexicon, c: Clause, stems: list[str], cased: str) -> list[Mention]:
    norm = c.norm
    out: list[tuple[int, int, str, Any]] = []  # (start, end, kind, value)
    taken: list[tuple[int, int]] = []

    def free(s: int, e: int) -> bool:
        return all(e <= a or s >= b for a, b in taken)

    def add(s: int, e: int, kind: str, value: Any) -> None:
        out.append((s, e, kind, value))
        taken.append((s, e))

    # emails and ids first (they contain digits and letters)
    for m in re.finditer(lex.data.get("ids", {}).get("email", r"(?!)"), norm):
        add(m.start(), m.end(), "email", m.group(0).rstrip(".").lower())
    for kind, pat in lex.ids:
        if kind == "email":
            continue
        for m in pat.finditer(norm):
            if free(m.start(), m.end()):
                add(m.start(), m.end(), kind, m.group(0).upper())
    for start, end, digits in card_spans(norm):
        if free(start, end):
            add(start, end, "card", digits)
    for m in _MONEY.finditer(norm):
        if not free(m.start(), m.end()):
            continue
        amount = float((m.group(1) or m.group(2)).replace(",", ""))
        if m.group(3):
            amount += int(m.group(3)) / 100
        add(m.start(), m.end(), "money", round(amount, 2))
    for start, value in date_spans(cased):  # (case tells the month May from "may")
        # the date's own extent ("13 March", not "13 March at 2:30": the time is its own)
        end = max((m.end() for pat in (_ISO_LIKE, _DATE_MDY, _DATE_DMY)
                   if (m := pat.match(cased, start))), default=start + 1)
        if free(start, start + 1):
            add(start, end, "date", value)
    for start, end, hhmm in time_spans(norm):
        if free(start, end):
            add(start, end, "time", hhmm)
    # token-level mentions need token offsets
    offsets = [m.span() for m in _TOKEN.finditer(norm)]
    for s, e, v in _find_all(lex.relative, stems):
        cs, ce = offsets[s][0], offsets[e - 1][1]
        if free(cs, ce):
            add(cs, ce, "date", ("relative", int(v)))
    for i, t in enumerate(c.tokens):
        if t in lex.weekdays and free(*offsets[i]):
            add(*offsets[i], "weekday", lex.weekdays[t])
    # numbers, then durations / quantities that they start
    for m in _NUMBER.finditer(norm):
        if not free(m.start(), m.end()):
            continue
        raw = re.sub(r"(st|nd|rd|th)$", "", m.group(0)).replace(",", "")
        try:
            num = float(raw)
        except ValueError:
            continue
        tail = norm[m.end():]
        ti = next((i for i, (a, _) in enumerate(offsets) if a >= m.end()), len(offsets))
        rest = stems[ti:ti + 3]
        # "-day", "°F", " degrees Fahrenheit"
        unit = None
        sym = re.match(r"\s*(°\s*[cf])\b", tail)
        if sym:
            unit = ("quantity", "celsius" if sym.group(1)[-1] == "c" else "fahrenheit",
                    m.end() + sym.end())
        else:
            for kind, index in (("duration", lex.duration_units), ("quantity", lex.units)):
                found = index.find(rest) if index else []
                if found and found[0][0] == 0:
                    end_tok = ti + found[0][1] - 1
                    unit = (kind, found[0][2], offsets[end_tok][1])
                    break
        if unit is not None:
            kind, u, end = unit
            add(m.start(), end, kind, (num, u))
        else:
            add(m.start(), m.end(), "number", num)
    # entities of the lexicon
    for s, e, (kind, value) in _find_all(lex.entities, stems):
        cs, ce = offsets[s][0], offsets[e - 1][1]
        if free(cs, ce):
            add(cs, ce, kind, value)
    for s, e, emo in _find_all(lex.emotions, stems):
        add(offsets[s][0], offsets[e - 1][1], "emotion", emo)
    if lex.proper_names:  # runs of unknown capitalised words (not one clause-initial word)
        run: list[int] = []
        for i in [*range(len(offsets)), -1]:
            if i >= 0:
                w = re.sub(r"'s?$", "", cased[offsets[i][0]:offsets[i][1]])
                if w[:1].isupper() and w.isalpha() and w.lower() not in lex.not_names \
                        and free(*offsets[i]):
                    run.append(i)
                    continue
            if run and run != [0]:
                cs, ce = offsets[run[0]][0], offsets[run[-1]][1]
                add(cs, ce, "name", re.sub(r"'s?$", "", norm[cs:ce]))
            run = []
    # contrast scopes: from a marker to the next comma or the clause end
    scopes: list[tuple[int, int]] = []
    for s, _e, marker in _find_all(lex.contrast, stems):
        cs = offsets[s][0]
        comma = norm.find(",", cs)
        scopes.append((cs, comma if comma >= 0 else len(norm)))
        _ = marker
    out.sort(key=lambda x: x[0])
    return [Mention(kind, value, norm[s:e], c.index, s, c.negated, c.modality,
                    any(a <= s < b for a, b in scopes))
            for s, e, kind, value in out]


def _declines(lex: Lexicon, stems: list[str]) -> bool:
    """A decline cue outside the non-negating phrases ("no worries", "can't wait")."""
    keep = [(s, e) for s, e, _ in _find_all(lex.non_negating, stems)]
    return any(name == "decline" and all(e <= a or s >= b for a, b in keep)
               for s, e, name in lex.cues.find(stems, overlap=True))


def _rule_acts(lex: Lexicon, c: Clause, stems: list[str], ms: list[Mention],
               earlier: Sequence[Mention] = ()) -> list[Act]:
    """Acts of one clause from cue phrases; ``earlier``: mentions of earlier clauses."""
    acts: list[Act] = []
    cues = {name for _, _, name in lex.cues.find(stems, overlap=True)} if lex.cues else set()
    initial = {name for s, _, name in lex.cues.find(stems[:3], overlap=True) if s == 0} \
        if lex.cues else set()
    positive = not c.negated
    q = c.modality == QUESTION
    for name in ("greet", "confirm"):
        if name in initial and (name != "confirm" or not q):
            acts.append(Act(name, None, c.index))
    for name in ("close", "apologize", "thank"):
        if name in cues and positive:
            acts.append(Act(name, None, c.index))
    if "empathize" in cues:
        acts.append(Act("empathize", None, c.index))
    if "refuse_unknown" in cues:
        acts.append(Act("refuse_unknown", None, c.index))
    elif "decline" in cues and not q and _declines(lex, stems):
        acts.append(Act("decline", None, c.index))
    # requests: a question, an imperative or a request phrase that names a slot
    slots = [s for _, _, s in _find_all(lex.slots, stems)]
    asks = q or c.modality == IMPERATIVE or "request" in cues
    if slots and asks and (positive or q):
        for s in dict.fromkeys(slots):
            acts.append(Act("request", s, c.index))
    elif q or (asks and positive and lex.indirect.intersection(c.tokens)):
        # a question, or an indirect one: "Tell me whether it lays eggs."
        props = [p for _, _, p in _find_all(lex.properties, stems)]
        if props:
            for p in dict.fromkeys(props):
                acts.append(Act("question", p, c.index))
        elif q and "suggest" not in cues:
            acts.append(Act("question", None, c.index))
    # recommend: a recommendation cue and the first item not in a contrast, or a question
    # that puts an item forward ("How about X?", "Have you considered X?")
    if lex.recommend_kind and positive and c.modality != HYPOTHETICAL and (
            ("recommend" in cues and not q) or ("propose" in cues and q)):
        items = [m for m in ms if m.kind == lex.recommend_kind and not m.contrasted]
        if not items and not any(m.kind == lex.recommend_kind for m in ms):
            # "..., so I recommend it": the latest item asserted in the sentence before
            items = [m for m in earlier if m.kind == lex.recommend_kind and m.asserted
                     and not m.contrasted][-1:]
        if items:
            acts.append(Act("recommend", items[0].value, c.index))
    # suggest: a suggestion cue (questions allowed: "have you tried ...?")
    if "suggest" in cues and positive and c.modality != HYPOTHETICAL and (
            lex.suggestions or not lex.recommend_kind):
        kinds = [k for _, _, k in _find_all(lex.suggestions, stems)]
        if kinds:
            for k in dict.fromkeys(kinds):
                acts.append(Act("suggest", k, c.index))
        elif not lex.suggestions:
            acts.append(Act("suggest", None, c.index))
    # acknowledge: an acknowledging cue and an emotion word, not negated or asked
    if "acknowledge" in cues and positive and not q and c.modality != HYPOTHETICAL:
        for emo in dict.fromkeys(m.value for m in ms if m.kind == "emotion"):
            acts.append(Act("acknowledge", emo, c.index))
    # inform: an asserted mention
    if any(m.asserted and m.kind != "emotion" for m in ms) and not any(
            a.name in ("request", "question") for a in acts):
        acts.append(Act("inform", None, c.index))
    return acts


def _exemplars(lex: Lexicon) -> tuple[list[str], np.ndarray]:
    """The lexicon's exemplar labels and their embeddings (encoded once)."""
    if lex.encoder is None:
        from dialog_gym.embedding import get_encoder

        lex.encoder = get_encoder()
    if lex._exemplar_matrix is None:
        labels = [k for k, v in lex.exemplars.items() for _ in v]
        texts = [t for v in lex.exemplars.values() for t in v]
        lex._exemplar_matrix = (labels, lex.encoder.encode(texts))
    return lex._exemplar_matrix


def _semantic(lex: Lexicon, clauses: list[Clause]) -> list[Act]:
    """Acts of clauses the rules left open, by similarity to the domain's exemplars."""
    labels, mat = _exemplars(lex)
    vecs = lex.encoder.encode([c.text for c in clauses])
    sims = vecs @ mat.T
    out: list[Act] = []
    for c, row in zip(clauses, sims, strict=True):
        order = np.argsort(-row)
        for j in order[:1]:
            label = labels[j]
            name, _, arg = label.partition(":")
            thr = float(lex.thresholds.get(label, lex.thresholds.get(name, 0.7)))
            if row[j] < thr:
                continue
            if not _accepts(name, c):
                continue
            out.append(Act(name, arg or None, c.index, "semantic", float(row[j])))
    return out


def _accepts(name: str, c: Clause) -> bool:
    """Whether a semantic ``name`` act may stand in clause ``c`` (polarity, modality)."""
    if c.negated and name not in ("refuse_unknown", "decline"):
        return False
    if name == "question" and c.modality != QUESTION:
        return False
    if name in ("recommend", "acknowledge", "suggest", "inform") and c.modality == HYPOTHETICAL:
        return False  # as for the rules: "If you feel sad, ..." acknowledges nothing
    return not (name in ("recommend", "acknowledge", "inform") and c.modality == QUESTION)


__all__ = ["ASSERT", "HYPOTHETICAL", "IMPERATIVE", "QUESTION", "Act", "Analysis", "Clause",
           "Lexicon", "Mention", "PhraseIndex", "core_data", "prefetch"]

