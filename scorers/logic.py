"""Logic consistency: does the reply contradict the facts or the agent's own earlier turns?"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from dialog_gym.dialogue import AGENT
from dialog_gym.error import ConfigError, DependencyNotInstalled
from dialog_gym.scorers.base import ScoreInput, Scorer
from dialog_gym.text import date_spans

#: Value types the extractor knows.
TYPES = ("order_id", "tracking", "money", "date", "status", "carrier", "last4", "name",
         "email", "zip")
#: Types whose values are "open-world": a value in the reply must appear in the facts,
#: the context or what the user / tools said.
_GROUNDED_TYPES = ("order_id", "tracking", "money", "date", "carrier", "last4", "name",
                   "email", "zip")
#: Order lifecycle; a positive claim of a later stage contradicts an earlier truth.
_STAGE = {"processing": 0, "shipped": 1, "delivered": 2}
#: Status changes an agent may cause in the same reply (it cancels a processing order).
DEFAULT_TRANSITIONS: Mapping[str, tuple[str, ...]] = {"processing": ("cancelled",)}

CARRIERS = ("UPS", "USPS", "FedEx", "DHL", "Royal Mail", "Canada Post", "Australia Post",
            "La Poste", "Deutsche Post", "Japan Post", "PostNL", "Correos", "Hermes", "Evri",
            "DPD", "GLS", "TNT", "OnTrac", "LaserShip", "Purolator", "Amazon Logistics")

_STATUS_PATTERNS = (
    ("processing", re.compile(r"\b(?:processing|being (?:prepared|processed|packed)|"
                              r"preparing (?:it|your order)|not (?:yet )?(?:been )?shipped|"
                              r"has(?:n't| not) (?:yet )?(?:been )?shipped)\b", re.I)),
    ("in transit", re.compile(r"\b(?:in transit|on (?:its|the) way|out for delivery|"
                              r"travell?ing)\b", re.I)),
    ("shipped", re.compile(r"\b(?:shipped|dispatched)\b", re.I)),
    ("delivered", re.compile(r"\b(?:delivered|arrived)\b", re.I)),
    ("cancelled", re.compile(r"\b(?:cancell?ed)\b", re.I)),
)
_NEG_BEFORE = re.compile(r"(?:\b(?:not|never|no longer|yet to be|cannot)|n't)\b"
                         r"(?:\s+\w+){0,2}\s*$", re.I)
_MODAL_BEFORE = re.compile(
    r"\b(?:will|would|should|could|might|may|once|when|whenever|if|unless|until|before|"
    r"after|expected to|going to|supposed to|can|able to|to be|want(?:ed)? to|wish(?:es)? to|"
    r"ask(?:ed)? to|like to|need(?:s|ed)? to|want it)\b(?:\s+\w+){0,2}\s*$", re.I)

_NUM = r"(\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)"
_MONEY = re.compile(
    r"[$€£¥]\s?" + _NUM
    + r"|(?<![\w.,-])" + _NUM + r"(?:\s?(?:dollars?|usd|euros?|eur|pounds?|gbp)\b|[$€£])"
    + r"|\b(?:usd|eur|gbp)\s?" + _NUM, re.I)
_ORDER_GENERIC = re.compile(
    r"(?i:\border)\s*(?i:number|no\.?|id|#|ref(?:erence)?)?\s*(?i:is|was|:)?\s*#?\s*"
    r"((?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{2,})\b")
_TRACKING_GENERIC = re.compile(
    r"(?i:\btracking)\s*(?i:number|no\.?|code|id|#)?\s*(?i:is|was|:)?\s*"
    r"((?=[A-Z0-9]*\d)[A-Z0-9]{8,})\b")
_LAST4 = re.compile(r"(?i:\bending(?:\s+in|\s+with)?|\blast\s+(?:four|4)(?:\s+digits)?"
                    r"(?:\s+(?:are|of))?|\bcard\s+(?:no\.?\s*)?(?:x+|\*+))\s*:?\s*(\d{4})\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ZIP = re.compile(r"(?i:\bzip(?:\s*code)?|\bpostal\s*code|\bpost\s*code)\s*(?i:is|:)?\s*"
                  r"(\d{5}(?:-\d{4})?)\b")
_HONORIFIC = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?"
_NAME = re.compile(
    r"\b(?:(?:Hi|Hello|Hey|Dear|Thanks|Thank you|Welcome|Good (?:morning|afternoon|evening)),?"
    r"\s+(?:" + _HONORIFIC + r"\s+)?|" + _HONORIFIC + r"\s+)([A-Z][a-z]+(?:['’-][A-Z]?[a-z]+)?)\b")
_NOT_NAMES = frozenset("""there again all everyone everybody team sir madam customer friend folks
    guys for so very again you much a the and mr mrs ms miss mx dr""".split())
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_ENDS_WITH_HONORIFIC = re.compile(r"\b(?:Mr|Mrs|Ms|Mx|Dr|St|No)\.$")


def _sentences(text: str) -> list[str]:
    """Sentences of ``text`` (no split after honorifics such as "Ms.")."""
    out: list[str] = []
    glue = False
    for part in _SENTENCE_END.split(text):
        part = part.strip()
        if not part:
            continue
        if glue and out:
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
        glue = bool(_ENDS_WITH_HONORIFIC.search(part))
    return out


@lru_cache(maxsize=64)
def _carrier_re(carriers: tuple[str, ...]) -> re.Pattern[str] | None:
    if not carriers:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(c) for c in carriers) + r")\b", re.I)
_MONEY_ANCHORS = re.compile(r"\b(refund\w*|charge\w*|price\w*|cost\w*|total|fee\w*|credit\w*|"
                            r"balance|limit|paid|pay)\b", re.I)
_DATE_ANCHORS = re.compile(r"\b(deliver\w*|ship\w*|order(?:ed)?|arriv\w*|refund\w*|return\w*|"
                           r"due|expire\w*|placed)\b", re.I)


@dataclass(frozen=True)
class Mention:
    """One typed value found in a text.

    Attributes:
        type: One of :data:`TYPES`.
        value: Normalised value (upper-case ids, rounded floats, ``(y|None, m, d)`` dates,
            canonical statuses and carriers, capitalised names).
        sentence: Index of the sentence it came from.
        order: An order id mentioned in the same sentence (statuses, tracking, carriers).
        negated: For statuses: the sentence denies it ("has not shipped").
        anchor: For money and dates: the nearest keyword ("refund", "delivered").
    """

    type: str
    value: Any
    sentence: int = 0
    order: str | None = None
    negated: bool = False
    anchor: str | None = None


@dataclass(frozen=True)
class Contradiction:
    """A conflict found in a reply (see :meth:`LogicConsistency.explain`)."""

    kind: str  # "fact" (facts / context / user / tools) or "self" (own earlier turn)
    type: str
    said: str
    expected: str
    message: str


# ---------------------------------------------------------------- extraction
def _shape(value: str) -> str:
    """A regex of the character classes of ``value`` (``H7148`` -> ``[A-Z]`` + 4 digits)."""
    parts: list[tuple[str, int]] = []
    for ch in value:
        cls = r"[A-Z]" if "A" <= ch <= "Z" else r"[a-z]" if "a" <= ch <= "z" else \
            r"\d" if ch.isdigit() else re.escape(ch)
        if parts and parts[-1][0] == cls:
            parts[-1] = (cls, parts[-1][1] + 1)
        else:
            parts.append((cls, 1))
    body = "".join(c if n == 1 else f"{c}{{{n}}}" for c, n in parts)
    return rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])"


def _money_in(text: str) -> list[tuple[int, float]]:
    out = []
    for m in _MONEY.finditer(text):
        raw = next(g for g in m.groups() if g)
        out.append((m.start(), round(float(raw.replace(",", "")), 2)))
    return out


def _anchor(sentence: str, pos: int, pat: re.Pattern[str]) -> str | None:
    """The keyword nearest to ``pos`` (one before it preferred: following ones count double)."""
    best, dist = None, math.inf
    for m in pat.finditer(sentence):
        d = pos - m.end() if m.end() <= pos else 2 * (m.start() - pos)
        if d < dist:
            best, dist = m.group(1).lower()[:5], d
    return best


def _status_mentions(sent: str) -> list[tuple[int, str, bool]]:
    """``(position, status, negated)`` claims of a sentence (hypotheticals, questions skipped)."""
    if sent.rstrip().endswith("?"):
        return []
    found: list[tuple[int, str, bool]] = []
    taken: list[tuple[int, int]] = []
    for status, pat in _STATUS_PATTERNS:
        for m in pat.finditer(sent):
            if any(a <= m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            before = sent[max(0, m.start() - 40):m.start()].replace("’", "'")
            if _MODAL_BEFORE.search(before):
                continue
            negated = bool(_NEG_BEFORE.search(before)) and status != "processing"
            found.append((m.start(), status, negated))
    return found


@lru_cache(maxsize=8192)
def extract(text: str, id_shapes: tuple[tuple[str, str], ...] = (),
            carriers: tuple[str, ...] = CARRIERS) -> tuple[Mention, ...]:
    """Typed values mentioned in ``text``.

    Args:
        text: Any text (a reply, a user turn, a tool result, a context).
        id_shapes: ``(type, regex)`` pairs recognising ids shaped like known ones
            (:func:`_shape` of the facts' order ids and tracking numbers).
        carriers: Carrier names recognised.

    Example:
        >>> [(m.type, m.value) for m in extract("Order A1234 shipped with UPS for $12.50.")]
        [('order_id', 'A1234'), ('status', 'shipped'), ('carrier', 'ups'), ('money', 12.5)]
    """
    out: list[Mention] = []
    carrier_re = _carrier_re(tuple(carriers))
    shape_res = [(t, re.compile(rx)) for t, rx in id_shapes]
    for si, sent in enumerate(_sentences(text) or [text]):
        ids: dict[str, str] = {}
        for m in _ORDER_GENERIC.finditer(sent):
            ids.setdefault(m.group(1).upper(), "order_id")
        for m in _TRACKING_GENERIC.finditer(sent):
            ids[m.group(1).upper()] = "tracking"
        for t, rx in shape_res:
            for m in rx.finditer(sent):
                ids.setdefault(m.group(0).upper(), t)
        where = sorted((sent.find(v) if sent.find(v) >= 0 else sent.upper().find(v), v)
                       for v, t in ids.items() if t == "order_id")

        def order_at(pos: int, where: list[tuple[int, str]] = where) -> str | None:
            """The order id mentioned last before ``pos`` (else the first one after)."""
            before = [v for p, v in where if p <= pos]
            return before[-1] if before else (where[0][1] if where else None)

        for v, t in ids.items():
            at = sent.upper().find(v)
            out.append(Mention(t, v, si, order=v if t == "order_id" else order_at(at)))
        for pos, status, neg in _status_mentions(sent):
            out.append(Mention("status", status, si, order=order_at(pos), negated=neg))
        if carrier_re is not None:
            for m in carrier_re.finditer(sent):
                out.append(Mention("carrier", m.group(1).lower(), si, order=order_at(m.start())))
        for pos, v in _money_in(sent):
            out.append(Mention("money", v, si, order=order_at(pos),
                               anchor=_anchor(sent, pos, _MONEY_ANCHORS)))
        for m in _LAST4.finditer(sent):
            out.append(Mention("last4", m.group(1), si))
        for m in _EMAIL.finditer(sent):
            out.append(Mention("email", m.group(0).rstrip(".").lower(), si))
        for m in _ZIP.finditer(sent):
            out.append(Mention("zip", m.group(1), si))
        for m in _NAME.finditer(sent):
            name = m.group(1).replace("’", "'")
            if name.lower() not in _NOT_NAMES:
                out.append(Mention("name", name.capitalize(), si))
        for pos, d in date_spans(sent):
            out.append(Mention("date", d, si, order=order_at(pos),
                               anchor=_anchor(sent, pos, _DATE_ANCHORS)))
    return tuple(out)


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RELATIVE = re.compile(
    r"\b(?:(?P<dat>day after tomorrow)|(?P<today>today|tonight)|(?P<tom>tomorrow)|"
    r"(?P<yest>yesterday)|"
    r"in (?P<n>\d{1,3}|a|one|two|three|four|five|six|seven) (?P<unit>days?|weeks?)|"
    r"(?P<next>next|this|on|coming) (?P<wd>" + "|".join(_WEEKDAYS) + r"))\b", re.I)
_SMALL = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}


def relative_dates(text: str, today: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """Dates that relative expressions in ``text`` name, given ``today`` as ``(y, m, d)``.

    "today", "tomorrow", "yesterday", "the day after tomorrow", "in 3 days", "in two
    weeks", "on / this / next / coming Friday" (the next such weekday after today).

    Example:
        >>> relative_dates("Can we do tomorrow or next Monday?", (2026, 7, 25))  # a Saturday
        [(2026, 7, 26), (2026, 7, 27)]
    """
    import datetime as dt

    base = dt.date(*today)
    out = []
    for m in _RELATIVE.finditer(text):
        if m.group("dat"):
            delta = 2
        elif m.group("today"):
            delta = 0
        elif m.group("tom"):
            delta = 1
        elif m.group("yest"):
            delta = -1
        elif m.group("n"):
            n = _SMALL.get(m.group("n").lower()) or int(m.group("n"))
            delta = n * (7 if m.group("unit").lower().startswith("week") else 1)
        else:
            delta = (_WEEKDAYS.index(m.group("wd").lower()) - base.weekday()) % 7 or 7
        d = base + dt.timedelta(days=delta)
        out.append((d.year, d.month, d.day))
    return out


# ---------------------------------------------------------------- facts
def infer_fact_type(key: str, value: Any) -> str | None:
    """The :data:`TYPES` entry a fact ``key: value`` holds, or None.

    Example:
        >>> infer_fact_type("item_price", 31.72), infer_fact_type("delivered", "2026-05-05")
        ('money', 'date')
        >>> infer_fact_type("customer_name", "Ann Lee"), infer_fact_type("item", "lamp")
        ('name', None)
    """
    k = key.lower()
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", value.strip()):
        return "date"
    if "email" in k:
        return "email"
    if "track" in k:
        return "tracking"
    if "last4" in k or "last_four" in k or "last_4" in k:
        return "last4"
    if "zip" in k or "postal" in k or "postcode" in k:
        return "zip"
    if "status" in k or k == "state":
        return "status"
    if "carrier" in k or "courier" in k or "shipper" in k:
        return "carrier"
    if "order" in k and isinstance(value, str) and any(c.isdigit() for c in value):
        return "order_id"
    if isinstance(value, (int, float)) and re.search(
            r"price|amount|total|refund|cost|balance|fee|charge|paid|limit", k):
        return "money"
    if (k in ("name", "user_name", "customer", "customer_name", "first_name", "last_name",
              "full_name", "user") or k.endswith("customer_name")) and isinstance(value, str):
        return "name"
    return None


def _norm_fact(t: str, v: Any) -> list[Any]:
    if t == "money":
        return [round(float(v), 2)]
    if t == "date":
        y, m, d = (int(p) for p in str(v).strip().split("-"))
        return [(y, m, d)]
    if t == "name":
        return [w.capitalize() for w in re.findall(r"[^\W\d_]+(?:['’-][^\W\d_]+)?", str(v))]
    if t == "status":
        s = str(v).strip().lower()
        return ["cancelled" if s == "canceled" else s]
    if t == "carrier":
        return [str(v).strip().lower()]
    if t in ("email",):
        return [str(v).strip().lower()]
    return [str(v).strip().upper() if t in ("order_id", "tracking") else str(v).strip()]


@dataclass
class _Facts:
    values: dict[str, list[Any]]
    shapes: tuple[tuple[str, str], ...]
    carriers: tuple[str, ...]
    target_order: str | None
    status: str | None
    text: str
    today: tuple[int, int, int] | None = None


def _read_facts(facts: Mapping[str, Any], overrides: Mapping[str, str]) -> _Facts:
    values: dict[str, list[Any]] = {}
    for k, v in facts.items():
        items = v if isinstance(v, (list, tuple, set, frozenset)) else [v]
        for item in items:
            t = overrides.get(k) or infer_fact_type(k, item)
            if t is None or item is None:
                continue
            try:
                values.setdefault(t, []).extend(_norm_fact(t, item))
            except (TypeError, ValueError):
                continue
    shapes = tuple(sorted({(t, _shape(str(v))) for t in ("order_id", "tracking")
                           for v in values.get(t, ())}))
    extra = tuple(c for c in values.get("carrier", ()) if c.lower() not in
                  {x.lower() for x in CARRIERS})
    orders = values.get("order_id", [])
    statuses = values.get("status", [])
    text = "; ".join(f"{k}: {v}" for k, v in facts.items() if isinstance(v, (str, int, float)))
    today = None
    for k, v in facts.items():
        if "today" in k.lower() and isinstance(v, str):
            try:
                today = _norm_fact("date", v)[0]
            except (TypeError, ValueError):
                pass
    return _Facts(values, shapes, CARRIERS + extra, orders[0] if len(set(orders)) == 1 else None,
                  statuses[0] if len(set(statuses)) == 1 else None, text, today)


_TODAY_IS = re.compile(r"\b[Tt]oday(?: is|:)\s+(\d{4})-(\d{1,2})-(\d{1,2})\b")


def _today_in(context: str) -> list[tuple[int, int, int]]:
    return [(int(a), int(b), int(c)) for a, b, c in _TODAY_IS.findall(context[:20_000])]


def _match(t: str, a: Any, b: Any) -> bool:
    if t == "money":
        return abs(a - b) < 0.005
    if t == "date":
        return a[1:] == b[1:] and (a[0] is None or b[0] is None or a[0] == b[0])
    if t == "name":
        return str(a).lower() == str(b).lower()
    return a == b


def _fmt(t: str, v: Any) -> str:
    if t == "money":
        return f"${v:.2f}"
    if t == "date":
        y, m, d = v
        return f"{y}-{m:02d}-{d:02d}" if y else f"--{m:02d}-{d:02d}"
    return str(v)


def status_compatible(said: str, negated: bool, truth: str,
                      transitions: Mapping[str, Sequence[str]] = DEFAULT_TRANSITIONS) -> bool:
    """Whether a status claim can be true of an order whose status is ``truth``.

    Example:
        >>> status_compatible("shipped", False, "delivered")  # it did ship
        True
        >>> status_compatible("delivered", False, "shipped")
        False
        >>> status_compatible("shipped", True, "processing")  # "has not shipped"
        True
    """
    if said == "in transit":  # shipped and not yet delivered
        return (truth != "shipped") if negated else truth == "shipped"
    if negated:
        if said == "shipped":
            return truth in ("processing", "cancelled")
        return truth != said
    if said == truth:
        return True
    if said in transitions.get(truth, ()):
        return True
    if said in _STAGE and truth in _STAGE:
        return _STAGE[said] < _STAGE[truth] and said != "processing"
    return False


class LogicConsistency(Scorer):
    """Absence of contradictions with the facts and with the agent's own earlier turns.

    The reply's typed values are extracted sentence by sentence (order ids, tracking
    numbers, money, dates, order statuses with negation and hypotheticals, carriers,
    card last-four digits, the name the customer is addressed by, emails, zip codes) and
    checked in three ways:

    1. **Grounding** (types in ``facts``): a value of a type the facts know must match a
       fact, or something the context, the user or a tool result said (``history``
       turns of other speakers; relative dates such as "tomorrow" are resolved against
       ``facts["today"]`` or "Today is ..." in the context). An invented order id,
       amount, date or tracking number is a contradiction.
    2. **Status**: a status claim about the facts' order (or about an order a tool
       reported on) must be compatible with its true status (``shipped`` is true of a
       delivered order, ``delivered`` is not of a shipped one; ``status_transitions``
       lists changes the reply itself may make, e.g. cancelling a processing order).
    3. **Self-consistency**: a claim that conflicts with one in an earlier agent turn
       of ``history`` (another status of the same order, another refund amount, date,
       tracking number or name) is a contradiction, unless the facts support the new
       value (a correction is not punished).

    ``score = (1 - penalty) ** n_contradictions``, times ``1 - nli_weight * p`` when an
    NLI cross-encoder is given (``p``: its largest contradiction probability of the
    reply against the facts and the last ``nli_turns`` agent turns).

    **Rewards** replies that state only what is true and stick to what they said. A reply
    that states nothing checkable scores 1 (nothing contradicts).

    Known failure modes: only typed values are checked without ``nli_model`` (free-text
    contradictions like "you can't return it" vs "returns are free" pass); extraction is
    English-pattern based; values the agent computes (a sum of two prices) count as
    invented; it rewards saying nothing as much as saying the truth, so pair it with a
    task or coverage term.

    Range: [0, 1]. Cost: moderate (regex, ~2-5k items/s); neural with ``nli_model``.

    Args:
        penalty: Score lost per contradiction (multiplicatively).
        fact_types: Fact key -> type, overriding :func:`infer_fact_type`.
        status_transitions: Status -> statuses a reply may bring about.
        check_history: Also check against the agent's earlier turns.
        nli_model: Local path or id of a sentence-transformers ``CrossEncoder`` NLI model
            (labels incl. ``contradiction``), e.g. ``cross-encoder/nli-deberta-v3-small``.
        nli_weight: Weight of the NLI contradiction probability.
        nli_turns: Earlier agent turns used as NLI premises.
        max_chars: Longest text examined (the rest is ignored).
        device: Torch device of the NLI model.

    Example:
        >>> from dialog_gym.dialogue import Turn
        >>> facts = {"order_id": "H7148", "status": "shipped", "tracking": "1ZABC1234567"}
        >>> s = LogicConsistency()
        >>> s("Order H7148 has shipped; tracking number 1ZABC1234567.", facts=facts)
        1.0
        >>> s("Order H7148 was delivered yesterday.", facts=facts)
        0.5
        >>> s("Your order H7148 has shipped.", facts={},
        ...   history=[Turn("agent", "Order H7148 is still processing.")])
        0.5
    """

    name = "logic_consistency"
    range = (0.0, 1.0)
    cost = "moderate"
    citation = ("fact/self-contradiction checking as in Welleck et al. (2019), Dialogue NLI; "
                "Nie et al. (2021), I like fish, especially dolphins")

    def __init__(self, *, penalty: float = 0.5, fact_types: Mapping[str, str] | None = None,
                 status_transitions: Mapping[str, Sequence[str]] | None = None,
                 check_history: bool = True, nli_model: str | None = None,
                 nli_weight: float = 1.0, nli_turns: int = 3, max_chars: int = 20_000,
                 device: str = "cpu") -> None:
        if not 0.0 < penalty <= 1.0:
            raise ConfigError(f"penalty must lie in (0, 1], got {penalty!r}")
        if not 0.0 <= nli_weight <= 1.0:
            raise ConfigError(f"nli_weight must lie in [0, 1], got {nli_weight!r}")
        for k, t in (fact_types or {}).items():
            if t not in TYPES:
                raise ConfigError(f"fact_types[{k!r}] = {t!r}; expected one of {TYPES}")
        self.penalty = float(penalty)
        self.fact_types = dict(fact_types or {})
        self.transitions = {k: tuple(v) for k, v in
                            (DEFAULT_TRANSITIONS if status_transitions is None
                             else status_transitions).items()}
        self.check_history = check_history
        self.nli_model = nli_model
        self.nli_weight = float(nli_weight)
        self.nli_turns = int(nli_turns)
        self.max_chars = int(max_chars)
        self.device = device
        self._nli: Any = None
        self._contra_idx: int | None = None

    # ------------------------------------------------------------------ analysis
    def explain(self, x: ScoreInput) -> list[Contradiction]:
        """The contradictions found in ``x.response`` (empty when consistent)."""
        f = _read_facts(x.facts, self.fact_types)
        cut = self.max_chars

        def ext(text: str) -> tuple[Mention, ...]:
            return extract(text[:cut], f.shapes, f.carriers)

        said = ext(x.response)
        if not said:
            return []
        grounded: dict[str, list[Any]] = {t: list(v) for t, v in f.values.items()}
        truth: dict[str | None, str] = {}
        if f.status is not None:
            truth[f.target_order] = f.status
        agent_turns: list[str] = []
        for m in ext(x.context):
            grounded.setdefault(m.type, []).append(m.value)
        for turn in x.history:
            if turn.speaker == AGENT:
                agent_turns.append(turn.text)
                continue
            for m in ext(turn.text):
                grounded.setdefault(m.type, []).append(m.value)
                if m.type == "status" and not m.negated and m.order and turn.speaker != "user":
                    truth[m.order] = m.value  # a tool reported the order's status
                    if m.order == f.target_order:
                        truth[None] = m.value
        if f.target_order is not None and f.target_order in truth:
            truth[None] = truth[f.target_order]
        today = f.today or next((v for v in _today_in(x.context)), None)
        if today is not None and "date" in f.values:
            for turn in x.history:
                if turn.speaker != AGENT:
                    grounded["date"].extend(relative_dates(turn.text[:cut], today))

        out: list[Contradiction] = []
        flagged: set[int] = set()
        for i, m in enumerate(said):
            if m.type in _GROUNDED_TYPES and m.type in f.values:
                if not any(_match(m.type, m.value, g) for g in grounded.get(m.type, ())):
                    known = ", ".join(sorted({_fmt(m.type, v) for v in f.values[m.type]}))
                    out.append(Contradiction("fact", m.type, _fmt(m.type, m.value), known,
                                             f"{m.type} {_fmt(m.type, m.value)} matches no "
                                             f"fact ({known}) and nothing the user or tools "
                                             "said"))
                    flagged.add(i)
            elif m.type == "status":
                t = truth.get(m.order) if m.order is not None else truth.get(None)
                if t is not None and not status_compatible(m.value, m.negated, t,
                                                           self.transitions):
                    claim = ("not " if m.negated else "") + m.value
                    out.append(Contradiction("fact", "status", claim, t,
                                             f"status claim '{claim}' contradicts status {t}"))
                    flagged.add(i)
        if self.check_history and agent_turns:
            out.extend(self._self_check(said, flagged, agent_turns, ext, f))
        return out

    def _self_check(self, said: Sequence[Mention], flagged: set[int],
                    agent_turns: Sequence[str], ext: Any, f: _Facts) -> list[Contradiction]:
        earlier: dict[tuple[Any, ...], Mention] = {}
        for text in agent_turns:
            for m in ext(text):
                key = self._slot(m, f)
                if key is not None:
                    earlier[key] = m  # the latest claim per slot wins
        out = []
        for i, m in enumerate(said):
            if i in flagged:
                continue
            key = self._slot(m, f)
            prev = earlier.get(key) if key is not None else None
            if prev is None:
                continue
            if m.type == "status":
                if prev.negated or m.negated:
                    ok = not (prev.negated != m.negated and prev.value == m.value)
                else:
                    ok = status_compatible(m.value, False, prev.value, self.transitions) or \
                        status_compatible(prev.value, False, m.value, self.transitions)
            else:
                ok = _match(m.type, m.value, prev.value)
            if ok or any(_match(m.type, m.value, v) for v in f.values.get(m.type, ())):
                continue
            said_s = ("not " if m.negated else "") + _fmt(m.type, m.value)
            prev_s = ("not " if prev.negated else "") + _fmt(m.type, prev.value)
            out.append(Contradiction("self", m.type, said_s, prev_s,
                                     f"{m.type} '{said_s}' contradicts the agent's earlier "
                                     f"'{prev_s}'"))
        return out

    @staticmethod
    def _slot(m: Mention, f: _Facts) -> tuple[Any, ...] | None:
        order = m.order or f.target_order
        if m.type in ("status", "tracking", "carrier"):
            return (m.type, order)
        if m.type in ("last4", "name"):
            return (m.type,)
        if m.type in ("money", "date") and m.anchor:
            return (m.type, m.anchor, order)
        return None

    # ------------------------------------------------------------------ NLI
    def _nli_model(self) -> Any:
        if self._nli is None:
            try:
                from sentence_transformers import CrossEncoder
            except ImportError as e:
                raise DependencyNotInstalled(
                    "nli_model needs sentence-transformers: pip install sentence-transformers"
                ) from e
            import os

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            model = CrossEncoder(str(self.nli_model), device=self.device)
            labels = {int(i): str(v).lower() for i, v in model.config.id2label.items()}
            idx = [i for i, v in labels.items() if v.startswith("contradict")]
            if not idx:
                raise ConfigError(
                    f"NLI model {self.nli_model!r} has labels {sorted(labels.values())}; "
                    "expected one starting with 'contradiction'")
            self._contra_idx = idx[0]
            self._nli = model
        return self._nli

    def _nli_probs(self, batch: Sequence[ScoreInput]) -> np.ndarray:
        pairs: list[tuple[str, str]] = []
        owner: list[int] = []
        for i, x in enumerate(batch):
            if not x.response.strip():
                continue
            premises = [t.text for t in x.history if t.speaker == AGENT and t.text.strip()]
            premises = premises[-self.nli_turns:] if self.nli_turns > 0 else []
            ftext = _read_facts(x.facts, self.fact_types).text
            if ftext:
                premises.append(ftext)
            for p in premises:
                pairs.append((p[: self.max_chars], x.response[: self.max_chars]))
                owner.append(i)
        out = np.zeros(len(batch))
        if not pairs:
            return out
        model = self._nli_model()
        logits = np.asarray(model.predict(pairs, convert_to_numpy=True,
                                          show_progress_bar=False), dtype=np.float64)
        if logits.ndim == 1:
            raise ConfigError(f"NLI model {self.nli_model!r} returns one score per pair; "
                              "expected one logit per label")
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        for i, pc in zip(owner, p[:, self._contra_idx], strict=True):
            out[i] = max(out[i], pc)
        return out

    # ------------------------------------------------------------------ scoring
    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        n = np.array([len(self.explain(x)) for x in batch], dtype=np.float64)
        out = (1.0 - self.penalty) ** n
        if self.nli_model is not None:
            out = out * (1.0 - self.nli_weight * self._nli_probs(batch))
        return np.clip(out, 0.0, 1.0)

    def signature(self) -> str:
        """Penalty, history check and NLI model."""
        return (f"logic_consistency[penalty:{self.penalty:g}|history:"
                f"{'yes' if self.check_history else 'no'}|nli:{self.nli_model or 'none'}]")

    def __repr__(self) -> str:
        return (f"LogicConsistency(penalty={self.penalty:g}, check_history={self.check_history}, "
                f"nli_model={self.nli_model!r})")
