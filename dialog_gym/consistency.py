"""Self-contradictions across turns: does a reply conflict with the agent's earlier replies?

:func:`contradictions` compares the values a reply *asserts* (or explicitly denies) with
the values the agent's earlier replies asserted or denied about the same thing. It reads
only :class:`~dialog_gym.understanding.Analysis` objects (the environment's analysis of
each reply) and the core data (the ``consistency`` key of ``dialog_gym/data/
understanding.json``); it has no words of its own.

A **claim** is a mention of a compared kind (by default weekdays, dates, clock times,
money, durations and quantities; a caller adds single-valued entity kinds such as an
order status) in a clause that

- asserts (modality ``assert``; a question, a hypothetical, an imperative or a doubted
  clause claims nothing),
- is not inside a contrast ("rather than Friday"),

and it is **positive** (the clause is not negated: "it arrives on Friday") or
**negative** (the clause is negated: "it does not arrive on Friday").

The **subject** of a claim is the set of content-word roots of its part of the clause
(the clause split at commas and at *and*, *or*, *but*, *then*, *while*, *whereas*): the
tokens that are not stop words, not number or value words, not parts of other typed
mentions, reduced to a root (a light suffix strip, a doubled final consonant undone and
a prefix of five letters, so *arrives*, *arrival* and *arrived* share ``arriv``) and
mapped through the data's synonym lists (*delivered* counts as ``arriv``). Ids in the
clause count as subject words, and claims naming different ids are never about the
same thing (order A1 is not order B2). Two claims are about the same
thing when their subjects overlap by a Jaccard index of at least 1/2, or one subject
contains the other, or both share the content word nearest to their values ("a refund
of $45" ... "the refund of $54 will reach your card"); claims of the entity kinds the
caller calls single-valued (states: an order status, a carrier) are about the same thing
unless they name different ids, and a prospective one ("will be delivered", data
``prospective``) claims nothing. A claim with an empty subject inherits the
subject of the clause before it in its sentence ("It arrives on Friday, not Monday"), and
an empty-subject correction ("Sorry, I meant Monday") the subject of the latest earlier
claim of the same kind.

Values compare per kind group: weekdays and dates are one group (a dated day with a year
is compared with a weekday by its weekday; a date without a year with another date by
month and day; relative days such as *tomorrow* only with relative days, or with dates
and weekdays when ``today`` is given), money to the cent, durations and quantities only
in the same unit; entity kinds are equal when their values are (the caller may pass its
own ``compatible`` test, e.g. an order-status lifecycle where *shipped* is still true
of a delivered order).

A current claim contradicts the latest earlier turn that made a positive claim about the
same thing (earlier turns count only up to the most recent one: a later statement
supersedes, and was itself judged when it was made), and the negative claims of the turns
since:

- a positive value that differs from every positive value of that turn, or equals a
  value denied since ("It does not arrive on Friday." ... "It arrives on Friday."),
- a negative value that equals a positive one ("It arrives on Friday." ... "It does not
  arrive on Friday.").

An **explicit correction** is never a contradiction: a clause with a correction cue
("correction:", "sorry, I meant", "my mistake", "actually"), the clauses after a cue in
its sentence, and the sentence after a sentence that has a cue and no claim ("My mistake.
It arrives on Monday."). A correction does supersede what it corrects.

Only earlier *turns* are compared; two values in one reply are not.

Example:
    >>> from dialog_gym.understanding import Lexicon
    >>> lex = Lexicon.from_data()
    >>> said = [lex.analyze("It arrives on Friday.")]
    >>> [c.message for c in contradictions(lex.analyze("Yes, it arrives on Monday."), said)]
    ["weekday Monday contradicts the earlier weekday Friday ('It arrives on Friday.')"]
    >>> contradictions(lex.analyze("Sorry, I meant Monday."), said)
    []
    >>> contradictions(lex.analyze("It ships Monday and arrives Friday."), said)
    []
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from dialog_gym.understanding import (
    ASSERT,
    Analysis,
    Clause,
    Mention,
    PhraseIndex,
    _stem,
    core_data,
)

#: kinds compared as one group (a day named as a weekday, a date or a relative day)
_DAY_KINDS = frozenset({"weekday", "date"})
#: mention kinds that are values, never subject words
_VALUE_KINDS = frozenset({"weekday", "date", "time", "money", "duration", "quantity",
                          "number", "card", "email", "emotion"})
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                  "Sunday")
_SEGMENT = re.compile(r",|;|\b(?:and|or|but|then|while|whereas)\b")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_WORD_OR_NEG = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

#: ``compatible(kind, new_value, old_value)``: True, False, or None (unknown)
Compatible = Callable[[str, Any, Any], "bool | None"]


@dataclass(frozen=True)
class Claim:
    """One value a reply asserts or denies.

    Attributes:
        kind: The mention kind (``"weekday"``, ``"date"``, ``"money"``, ...).
        value: The mention's normalised value.
        positive: Asserted (True) or denied (False, a negated clause).
        subject: Content-word roots of its part of the clause.
        turn: Index of the reply (in ``prior``; ``len(prior)`` for the current reply).
        clause: Index of its clause in the reply's analysis.
        text: The clause as written.
        correction: An explicit correction.
        near: The subject root nearest to the value, if any.
    """

    kind: str
    value: Any
    positive: bool
    subject: frozenset[str]
    turn: int
    clause: int
    text: str
    correction: bool = False
    near: str | None = None

    @property
    def group(self) -> str:
        """Kinds compared with each other: ``"day"`` for weekdays and dates."""
        return "day" if self.kind in _DAY_KINDS else self.kind


@dataclass(frozen=True)
class Contradiction:
    """A value of the current reply that conflicts with an earlier reply.

    Attributes:
        kind: Mention kind of the current claim.
        said: Its value.
        negated: The current claim denies its value.
        earlier: The conflicting earlier claim.
        message: A readable explanation.
    """

    kind: str
    said: Any
    negated: bool
    earlier: Claim
    message: str

    @property
    def turn(self) -> int:
        """Index (in ``prior``) of the reply contradicted."""
        return self.earlier.turn


# ---------------------------------------------------------------------------- data


@lru_cache(maxsize=1)
def _data() -> tuple[PhraseIndex, frozenset[str], dict[str, str], tuple[str, ...], PhraseIndex]:
    d = core_data().get("consistency", {})
    cues = PhraseIndex((p, p) for p in d.get("corrections", ()))
    stop = frozenset(w.lower() for w in d.get("stopwords", ()))
    syn = {w.lower(): root for root, words in d.get("synonyms", {}).items() for w in words}
    prospective = PhraseIndex((p, p) for p in d.get("prospective", ()))
    return cues, stop, syn, tuple(d.get("kinds", ())), prospective


def prospective(a: Analysis, m: Mention) -> bool:
    """Whether a prospective word (*will*, *could*, *once*, ...) stands just before ``m``.

    The words are data (``consistency.prospective``), looked for among the three words
    before the mention: "will be delivered" predicts a state, it does not claim it.

    Example:
        >>> from dialog_gym.understanding import Lexicon
        >>> lex = Lexicon.from_data({"entities": {"status": {"delivered": []}}})
        >>> a = lex.analyze("It has shipped and will be delivered soon.")
        >>> prospective(a, a.of_kind("status")[0])
        True
    """
    c = a.clauses[m.clause]
    before = [_stem(t) for t in _WORD_OR_NEG.findall(c.norm[:m.start])][-3:]
    index = _data()[4]
    return bool(index.find(before)) if index else False


def default_kinds() -> tuple[str, ...]:
    """The mention kinds compared by default (the data's ``consistency.kinds``)."""
    return _data()[3]


def root(word: str) -> str:
    """The root two words must share to count as the same subject word.

    A light suffix strip, a doubled final consonant undone, a prefix of five letters;
    the data's synonyms map to their root first.

    Example:
        >>> root("arrives"), root("arrival"), root("delivered"), root("shipping")
        ('arriv', 'arriv', 'arriv', 'ship')
    """
    w = word.lower().replace("’", "'")
    syn = _data()[2]
    if w in syn:
        return syn[w]
    for suf in ("ations", "ation", "ments", "ment", "ings", "ing", "ied", "ies", "ed",
                "es", "al", "s", "e", "y"):
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            w = w[: -len(suf)]
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiou":
        w = w[:-1]
    return syn.get(w, w[:5])


# ---------------------------------------------------------------------------- claims


def _is_cue_clause(c: Clause) -> bool:
    cues = _data()[0]
    return bool(cues.find([_stem(t) for t in c.tokens])) if cues else False


def _subjects(a: Analysis, c: Clause,
              stop: frozenset[str]) -> list[tuple[int, tuple[tuple[str, str | None, int], ...]]]:
    """The subject words of each segment of a clause, in order.

    Each segment is ``(start offset, ((root, kind of the entity it names or None,
    offset), ...))``. Value words (numbers, dates, money, ...) are left
    out; words of an entity mention are kept with its kind (a claim of that kind drops
    them: "processing" is the value, not the subject, of a status claim); ids count as
    ``#ID``.
    """
    ms = a.clause_mentions(c.index)
    # (a date's text may run on past it: months, digits and ordinals are stop words)
    values = [(m.start, m.start + len(m.text)) for m in ms
              if m.kind in _VALUE_KINDS and m.kind != "date"]
    named = [(m.start, m.start + len(m.text), m.kind) for m in ms if m.kind not in _VALUE_KINDS]
    ids = [(m.start, m.value, m.kind) for m in ms if m.kind not in _VALUE_KINDS and
           isinstance(m.value, str) and any(ch.isdigit() for ch in m.value)]
    bounds = [0] + [m.end() for m in _SEGMENT.finditer(c.norm)] + [len(c.norm) + 1]
    out = []
    for s, e in zip(bounds, bounds[1:], strict=False):
        roots: dict[tuple[str, str | None], int] = {}
        for w in _WORD.finditer(c.norm, s, min(e, len(c.norm))):
            tok, at = w.group(0), w.start()
            if tok in stop or len(tok) < 3 or any(a0 <= at < b0 for a0, b0 in values):
                continue
            r = root(tok)
            if r not in stop:
                kind = next((k for a0, b0, k in named if a0 <= at < b0), None)
                roots.setdefault((r, kind), at)
        for p, v, k in ids:
            if s <= p < e:
                roots.setdefault((f"#{v}", k), p)
        out.append((s, tuple((r, k, at) for (r, k), at in roots.items())))
    return out


def _subject_for(seg: tuple[tuple[str, str | None, int], ...], kind: str) -> frozenset[str]:
    return frozenset(r for r, k, _ in seg if k != kind)


def _nearest(seg: tuple[tuple[str, str | None, int], ...], kind: str, m: Mention) -> str | None:
    """The subject root nearest to ``m`` (a following word counts double the distance)."""
    end = m.start + len(m.text)
    best = None
    for r, k, at in seg:
        if k == kind or r.startswith("#"):
            continue
        d = m.start - at if at < m.start else 2 * (at - end)
        if best is None or d < best[0]:
            best = (d, r)
    return best[1] if best else None


def claims(a: Analysis, turn: int = 0, kinds: Collection[str] | None = None,
           states: Collection[str] = ()) -> list[Claim]:
    """The claims of one reply (see the module docstring), in order.

    ``states``: kinds whose :func:`prospective` mentions ("will be delivered") claim
    nothing.

    Example:
        >>> from dialog_gym.understanding import Lexicon
        >>> lex = Lexicon.from_data()
        >>> [(c.kind, c.value, c.positive, sorted(c.subject))
        ...  for c in claims(lex.analyze("It does not arrive on Friday; is it Monday?"))]
        [('weekday', 4, False, ['arriv'])]
    """
    kinds = frozenset(default_kinds() if kinds is None else kinds)
    stop = _data()[1]
    out: list[Claim] = []
    cue_clause = [_is_cue_clause(c) for c in a.clauses]
    seen_cue: dict[int, bool] = {}  # sentence -> a cue came earlier in it
    prev_subject: dict[int, frozenset[str]] = {}  # sentence -> last non-empty subject
    has_claim_in: set[int] = set()
    for m in a.mentions:
        if m.kind in kinds:
            has_claim_in.add(a.clauses[m.clause].sentence)
    cue_only_sentences = {c.sentence for c in a.clauses if cue_clause[c.index]} - has_claim_in
    for c in a.clauses:
        correction = cue_clause[c.index] or seen_cue.get(c.sentence, False) or (
            c.sentence - 1 in cue_only_sentences)
        seen_cue[c.sentence] = seen_cue.get(c.sentence, False) or cue_clause[c.index]
        raw = _subjects(a, c, stop)
        nonempty = [frozenset(r for r, _, _ in seg) for _, seg in raw if seg]
        ms = [m for m in a.clause_mentions(c.index) if m.kind in kinds]
        if c.modality == ASSERT and not c.doubted:
            for m in ms:
                if m.contrasted or (m.kind in states and prospective(a, m)):
                    continue
                segs = [(s, _subject_for(seg, m.kind)) for s, seg in raw]
                own = next((seg for s, seg in reversed(raw) if s <= m.start), ())
                near = _nearest(own, m.kind, m)
                subj = next((r for s, r in reversed(segs) if s <= m.start), frozenset())
                if not subj:  # "..., July 31": the part before it in the clause
                    before = [r for s, r in segs if s <= m.start and r]
                    subj = before[-1] if before else frozenset()
                if not subj:
                    subj = prev_subject.get(c.sentence, frozenset())
                out.append(Claim(m.kind, m.value, not c.negated, subj, turn, c.index,
                                 c.text, correction, near))
        if nonempty:
            prev_subject[c.sentence] = nonempty[-1]
    return out


# ---------------------------------------------------------------------------- comparison


def _day(kind: str, value: Any, today: dt.date | None) -> tuple[str, Any]:
    """A day value in a comparable form.

    One of ``("date", date)``, ``("md", (m, d))``, ``("weekday", n)``, ``("relative", n)``.
    """
    if kind == "weekday":
        return ("weekday", int(value))
    if isinstance(value, tuple) and value and value[0] == "relative":
        if today is not None:
            return ("date", today + dt.timedelta(days=int(value[1])))
        return ("relative", int(value[1]))
    y, m, d = value
    if y is None:
        return ("md", (m, d))
    try:
        return ("date", dt.date(int(y), int(m), int(d)))
    except ValueError:
        return ("md", (m, d))


def _same_day(a: tuple[str, Any], b: tuple[str, Any]) -> bool | None:
    ka, va = a
    kb, vb = b
    if ka == kb:
        return va == vb
    pair = {ka, kb}
    if pair == {"date", "weekday"}:
        d, w = (va, vb) if ka == "date" else (vb, va)
        return d.weekday() == w
    if pair == {"date", "md"}:
        d, md = (va, vb) if ka == "date" else (vb, va)
        return (d.month, d.day) == md
    return None  # a weekday vs a date without a year, a relative day without today


def same_value(kind: str, new: Any, old_kind: str, old: Any,
               today: dt.date | None = None) -> bool | None:
    """Whether two values of one group are the same (None: cannot tell).

    Example:
        >>> same_value("weekday", 4, "date", (2026, 7, 27))  # 2026-07-27 is a Monday
        False
        >>> same_value("money", 45.0, "money", 45.001)
        True
        >>> print(same_value("weekday", 4, "date", (None, 7, 31)))  # no year: unknown
        None
    """
    if kind in _DAY_KINDS and old_kind in _DAY_KINDS:
        return _same_day(_day(kind, new, today), _day(old_kind, old, today))
    if kind != old_kind:
        return None
    if kind == "money" or isinstance(new, float) and isinstance(old, float):
        return abs(float(new) - float(old)) < 0.005
    if kind in ("duration", "quantity"):
        if new[1] != old[1]:
            return None  # another unit: not compared
        return abs(float(new[0]) - float(old[0])) < 1e-9
    return new == old


def _about_same(a: Claim, b: Claim, single_valued: Collection[str]) -> bool:
    ids_a = {r for r in a.subject if r.startswith("#")}
    ids_b = {r for r in b.subject if r.startswith("#")}
    if ids_a and ids_b and not ids_a & ids_b:
        return False  # about another order, booking, ...
    if a.kind in single_valued:
        return True  # one state at a time (of the same id)
    if not a.subject or not b.subject:
        return False
    inter = a.subject & b.subject
    if not inter:
        return False
    return len(inter) / len(a.subject | b.subject) >= 0.5 or a.subject <= b.subject or \
        b.subject <= a.subject or (a.near in inter and b.near in inter)


def _fmt(kind: str, v: Any) -> str:
    if kind == "weekday":
        return _WEEKDAY_NAMES[int(v)]
    if kind == "date":
        if v and v[0] == "relative":
            return {0: "today", 1: "tomorrow", -1: "yesterday"}.get(int(v[1]),
                                                                      f"day {int(v[1]):+d}")
        y, m, d = v
        return f"{y}-{m:02d}-{d:02d}" if y else f"--{m:02d}-{d:02d}"
    if kind == "money":
        return f"{float(v):.2f}"
    if kind in ("duration", "quantity"):
        return f"{v[0]:g} {v[1]}"
    return str(v)


def contradictions(current: Analysis, prior: Sequence[Analysis], *,
                   kinds: Collection[str] | None = None,
                   single_valued: Collection[str] = (),
                   compatible: Compatible | None = None,
                   today: dt.date | None = None) -> list[Contradiction]:
    """Values ``current`` asserts or denies that conflict with the agent's ``prior`` replies.

    Args:
        current: The analysis of the reply.
        prior: Analyses of the agent's earlier replies, oldest first.
        kinds: Mention kinds compared (default :func:`default_kinds`); add entity kinds
            that hold one value at a time (an order status).
        single_valued: Entity kinds of states: their claims match claims with an empty
            subject ("It's processing." ... "It has shipped."), and a prospective one
            ("will be delivered") claims nothing.
        compatible: ``compatible(kind, new, old)`` -> True / False / None (unknown,
            then the built-in comparison decides): whether two asserted values can both
            be true (``shipped`` of a ``delivered`` order); a denial is compared by
            equality.
        today: Resolves relative days (*tomorrow*) to dates.

    Returns:
        One :class:`Contradiction` per conflicting claim of ``current`` (see the module
        docstring for the rules), in the reply's order.
    """
    kinds = frozenset(default_kinds() if kinds is None else kinds) | frozenset(single_valued)
    history: list[Claim] = []
    for t, a in enumerate(prior):
        history.extend(_resolved(claims(a, t, kinds, single_valued), history))
    now = _resolved(claims(current, len(prior), kinds, single_valued), history)

    def equal(c: Claim, p: Claim) -> bool | None:
        return same_value(c.kind, c.value, p.kind, p.value, today)

    def same(c: Claim, p: Claim) -> bool | None:  # two positive claims: both true?
        if compatible is not None:
            r = compatible(c.kind, c.value, p.value)
            if r is not None:
                return r
        return equal(c, p)

    out: list[Contradiction] = []
    for c in now:
        if c.correction:
            continue
        related = [p for p in history if p.group == c.group and
                   _about_same(c, p, single_valued)]
        if not related:
            continue
        last_pos = max((p.turn for p in related if p.positive), default=-1)
        window = [p for p in related if p.turn >= last_pos]
        positives = [p for p in window if p.positive and p.turn == last_pos]
        negatives = [p for p in window if not p.positive]
        hit: Claim | None = None
        if c.positive:
            hit = next((p for p in reversed(negatives) if equal(c, p) is True), None)
            if hit is None and positives and all(same(c, p) is False for p in positives):
                hit = positives[-1]
        else:
            hit = next((p for p in reversed(positives) if equal(c, p) is True), None)
        if hit is None:
            continue
        said = ("not " if not c.positive else "") + _fmt(c.kind, c.value)
        before = ("not " if not hit.positive else "") + _fmt(hit.kind, hit.value)
        out.append(Contradiction(
            c.kind, c.value, not c.positive, hit,
            f"{c.kind} {said} contradicts the earlier {hit.kind} {before} ({hit.text!r})"))
    return out


def _resolved(new: list[Claim], history: Sequence[Claim]) -> list[Claim]:
    """Empty-subject corrections take the subject of the latest earlier claim of their group."""
    out = []
    for c in new:
        if c.correction and not c.subject:
            prev = next((p for p in reversed([*history, *out]) if p.group == c.group and
                         p.subject), None)
            if prev is not None:
                c = Claim(c.kind, c.value, c.positive, prev.subject, c.turn, c.clause,
                          c.text, True, prev.near)
        out.append(c)
    return out


__all__ = ["Claim", "Contradiction", "claims", "contradictions", "default_kinds",
           "prospective", "root", "same_value"]
