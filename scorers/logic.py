"""Logic consistency: does the reply contradict the facts or the agent's own earlier turns?

The reply is read through its :class:`~dialog_gym.understanding.Analysis` (the one the
environment made, ``ScoreInput.analysis``; the earlier replies' are ``ScoreInput.prior``):
a value counts as a claim only where the analysis says it is asserted, and as a denial
where its clause negates it. Self-contradictions across turns come from
:func:`dialog_gym.consistency.contradictions`. Outside an environment the scorer analyses
the reply, the agent's earlier turns and the other turns itself, with the core lexicon
merged with ``understanding`` (a domain's understanding data) and what the facts tell
(the formats of their ids, their carriers and statuses).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from dialog_gym.consistency import contradictions, default_kinds, prospective, root, same_value
from dialog_gym.dialogue import AGENT, Turn
from dialog_gym.error import ConfigError, DependencyNotInstalled
from dialog_gym.scorers.base import ScoreInput, Scorer
from dialog_gym.understanding import ASSERT, Analysis, Lexicon, Mention, _analyze, _merge

#: Value types the scorer knows.
TYPES = ("order_id", "tracking", "money", "date", "status", "carrier", "last4", "name",
         "email", "zip")
#: Types whose values are "open-world": a value in the reply must appear in the facts,
#: the context or what the user / tools said.
_GROUNDED_TYPES = ("order_id", "tracking", "money", "date", "carrier", "last4", "name",
                   "email", "zip")
#: Types a negated clause denies ("it is not with FedEx", and statuses: "has not
#: shipped"). Ids, names, amounts and dates in a negated clause mostly say what it is
#: about or when ("order H7148 has not shipped", "I can't refund $31.72 without a
#: receipt", "nothing on your calendar on 4 September"): they are not denied.
_DENIABLE = ("carrier",)
#: Types recognised by the format of the facts' values when the scorer analyses itself.
_SHAPED_TYPES = ("order_id", "tracking", "zip")
#: Order lifecycle; a positive claim of a later stage contradicts an earlier truth.
_STAGE = {"processing": 0, "shipped": 1, "delivered": 2}
#: Status changes an agent may cause in the same reply (it cancels a processing order).
DEFAULT_TRANSITIONS: Mapping[str, tuple[str, ...]] = {"processing": ("cancelled",)}
#: Kinds compared with the agent's earlier turns, besides the default ones.
_SELF_KINDS = ("status", "carrier", "tracking", "email")
#: Kinds that hold one value at a time (a state) for the self-consistency check.
_STATES = ("status", "carrier", "tracking")

#: Carrier names (entity data of the scorer's own lexicon).
CARRIERS = ("UPS", "USPS", "FedEx", "DHL", "Royal Mail", "Canada Post", "Australia Post",
            "La Poste", "Deutsche Post", "Japan Post", "PostNL", "Correos", "Hermes", "Evri",
            "DPD", "GLS", "TNT", "OnTrac", "LaserShip", "Purolator", "Amazon Logistics")

# The analysis has no kind for the name a customer is addressed by: it is read here.
_HONORIFIC = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?"
_NAME = re.compile(
    r"\b(?:(?:Hi|Hello|Hey|Dear|Thanks|Thank you|Welcome|Good (?:morning|afternoon|evening)),?"
    r"\s+(?:" + _HONORIFIC + r"\s+)?|" + _HONORIFIC + r"\s+)([A-Z][a-z]+(?:['’-][A-Z]?[a-z]+)?)\b")
_NOT_NAMES = frozenset("""there again all everyone everybody team sir madam customer friend folks
    guys for so very again you much a the and mr mrs ms miss mx dr""".split())


@dataclass(frozen=True)
class Contradiction:
    """A conflict found in a reply (see :meth:`LogicConsistency.explain`)."""

    kind: str  # "fact" (facts / context / user / tools) or "self" (own earlier turn)
    type: str
    said: str
    expected: str
    message: str


def _names(text: str) -> list[str]:
    """Names the text addresses someone by ("Hi Ann", "Thanks, Ms. Silva")."""
    out = []
    for m in _NAME.finditer(text):
        name = m.group(1).replace("’", "'")
        if name.lower() not in _NOT_NAMES:
            out.append(name.capitalize())
    return out


# ---------------------------------------------------------------- the scorer's lexicon
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
    return "".join(c if n == 1 else f"{c}{{{n}}}" for c, n in parts)


@lru_cache(maxsize=64)
def _lexicon(key: str) -> Lexicon:
    return Lexicon.from_data(json.loads(key))


def lexicon_for(facts: Mapping[str, Any] | None = None,
                understanding: Mapping[str, Any] | None = None,
                fact_types: Mapping[str, str] | None = None) -> Lexicon:
    """The lexicon the scorer analyses texts with when no environment analysed them.

    The core lexicon, merged with ``understanding`` (a domain's understanding data) and
    data the facts give: the formats of their order ids, tracking numbers and zip codes
    (by character class: ``H7148`` -> a letter and four digits), their statuses and the
    known carriers as entities.
    """
    f = _read_facts(facts or {}, fact_types or {})
    data: dict[str, Any] = {"entities": {
        "carrier": {c.lower(): [c] for c in (*CARRIERS, *f.values.get("carrier", ()))},
        "status": {s: [] for s in f.values.get("status", ())}}}
    ids = {t: "|".join(sorted({_shape(str(v)) for v in f.values[t]}))
           for t in _SHAPED_TYPES if f.values.get(t)}
    if ids:
        data["ids"] = ids
    if understanding:
        data = _merge(dict(understanding), data)
    return _lexicon(json.dumps(data, sort_keys=True, default=str))


def extract(text: str, facts: Mapping[str, Any] | None = None,
            understanding: Mapping[str, Any] | None = None) -> Analysis:
    """The analysis of ``text`` with :func:`lexicon_for` ``(facts, understanding)``.

    Example:
        >>> a = extract("Order A1234 shipped with UPS for $12.50.", facts={"order_id": "B7777"})
        >>> [(m.kind, m.value) for m in a.mentions]
        [('order_id', 'A1234'), ('carrier', 'ups'), ('money', 12.5)]
    """
    return lexicon_for(facts, understanding).analyze(text)


#: analyses are cached by the analyser (per lexicon and text); benchmarks that time a
#: cold start empty that cache with ``extract.cache_clear()``
extract.cache_clear = _analyze.cache_clear  # type: ignore[attr-defined]


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
    return _Facts(values, orders[0] if len(set(orders)) == 1 else None,
                  statuses[0] if len(set(statuses)) == 1 else None, text, today)


_TODAY_IS = re.compile(r"\b[Tt]oday(?: is|:)\s+(\d{4})-(\d{1,2})-(\d{1,2})\b")


def _today_in(context: str) -> list[tuple[int, int, int]]:
    return [(int(a), int(b), int(c)) for a, b, c in _TODAY_IS.findall(context[:20_000])]


def _match(t: str, a: Any, b: Any) -> bool:
    if t in ("money", "date") and (isinstance(a, tuple) and a and a[0] == "relative" or
                                   isinstance(b, tuple) and b and b[0] == "relative"):
        return a == b
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
        if v[0] == "relative":
            return f"today{int(v[1]):+d} days"
        y, m, d = v
        return f"{y}-{m:02d}-{d:02d}" if y else f"--{m:02d}-{d:02d}"
    if t == "weekday":
        return ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                "Sunday")[int(v)]
    if t in ("duration", "quantity"):
        return f"{v[0]:g} {v[1]}"
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




def _order_at(a: Analysis, m: Mention) -> str | None:
    """The order id of ``m``'s sentence mentioned last before it (else the first after)."""
    sent = a.clauses[m.clause].sentence
    ids = [o for o in a.of_kind("order_id") if a.clauses[o.clause].sentence == sent]
    before = [o for o in ids if (o.clause, o.start) <= (m.clause, m.start)]
    return before[-1].value if before else (ids[0].value if ids else None)


def _in_days(today: tuple[int, int, int], a: Analysis) -> list[tuple[int, int, int]]:
    """Days that relative expressions of ``a`` name, given ``today``.

    "tomorrow", "in 3 days", "in two weeks", "(next) Monday" (the next such weekday).
    """
    base = dt.date(*today)
    out = []
    for m in a.mentions:
        c = a.clauses[m.clause]
        if m.kind == "date" and m.value[0] == "relative":
            delta = int(m.value[1])
        elif m.kind == "weekday":
            delta = (int(m.value) - base.weekday()) % 7 or 7
        elif m.kind == "duration" and m.value[1] in ("day", "week") and \
                c.norm[:m.start].rstrip().endswith(" in"):
            delta = int(m.value[0]) * (7 if m.value[1] == "week" else 1)
        else:
            continue
        d = base + dt.timedelta(days=delta)
        out.append((d.year, d.month, d.day))
    return out


class LogicConsistency(Scorer):
    """Absence of contradictions with the facts and with the agent's own earlier turns.

    The reply is read through its analysis (``ScoreInput.analysis``, or the scorer's own
    with :func:`lexicon_for` outside an environment): typed values — order ids, tracking
    numbers and zip codes (ids of the domain's formats, or of the facts' formats), money,
    dates, order statuses, carriers, emails — each either **claimed** (asserted: not in
    a question, a hypothetical, a doubted or a contrasted clause) or **denied** (in a
    negated assertion); card last-four digits are numbers of that many digits in a
    clause that names the fact's key words ("card ... ending in 0363"); the name the
    customer is addressed by is read from greetings ("Hi Ann", "Thanks, Ms. Silva").
    They are checked in three ways:

    1. **Grounding** (types in ``facts``): a claimed value of a type the facts know must
       match a fact, or something the context, the user or a tool result said (relative
       days the user said, such as "tomorrow" or "next Monday", are resolved against
       ``facts["today"]`` or "Today is ..." in the context). An invented order id,
       amount, date or tracking number is a contradiction, and so is a denied true
       carrier ("it is not with FedEx" when it is; amounts and dates in a negated clause
       are rarely what it denies, so they are not checked as denials).
    2. **Status**: a status claim (or denial) about the facts' order, or about an order a
       tool reported on, must be compatible with its true status (``shipped`` is true of
       a delivered order, ``delivered`` is not of a shipped one; ``status_transitions``
       lists changes the reply itself may make, e.g. cancelling a processing order). A
       prospective status ("will be delivered", "can't be cancelled") claims nothing.
    3. **Self-consistency** (:func:`dialog_gym.consistency.contradictions` of the
       analysis against ``ScoreInput.prior``, or the analyses of the agent turns of
       ``history``): a value that conflicts with one the agent asserted or denied
       earlier about the same thing — another weekday or date, time, amount, quantity,
       status of the same order, carrier, tracking number, or another name — is a
       contradiction, unless it is an explicit correction ("sorry, I meant Monday",
       "I've updated it: ..."), the facts back the new value, or the user (or a tool)
       said the new value after the earlier reply (the agent follows an update).

    ``score = (1 - penalty) ** n_contradictions``, times ``1 - nli_weight * p`` when an
    NLI cross-encoder is given (``p``: its largest contradiction probability of the
    reply against the facts and the last ``nli_turns`` agent turns).

    **Rewards** replies that state only what is true and stick to what they said. A reply
    that states nothing checkable scores 1 (nothing contradicts).

    Known failure modes: only typed values are checked without ``nli_model`` (free-text
    contradictions like "you can't return it" vs "returns are free" pass); statuses are
    recognised only where the lexicon has them (the environment's domain data, or
    ``understanding=``; outside an environment the facts' own status words); values the
    agent computes (a sum of two prices) count as invented; self-consistency compares
    subjects by shared content words, so paraphrases with no word in common are not
    compared; it rewards saying nothing as much as saying the truth, so pair it with a
    task or coverage term.

    Range: [0, 1]. Cost: moderate (the rule-based analysis, ~1-3k items/s); neural with
    ``nli_model``.

    Args:
        penalty: Score lost per contradiction (multiplicatively).
        fact_types: Fact key -> type, overriding :func:`infer_fact_type`.
        status_transitions: Status -> statuses a reply may bring about.
        check_history: Also check against the agent's earlier turns.
        understanding: Understanding data (a domain's ``understanding`` entry) for the
            texts the scorer analyses itself (no ``ScoreInput.analysis``).
        nli_model: Local path or id of a sentence-transformers ``CrossEncoder`` NLI model
            (labels incl. ``contradiction``), e.g. ``cross-encoder/nli-deberta-v3-small``.
        nli_weight: Weight of the NLI contradiction probability.
        nli_turns: Earlier agent turns used as NLI premises.
        max_chars: Longest text examined (the rest is ignored).
        device: Torch device of the NLI model.

    Example:
        >>> from dialog_gym.dialogue import Turn
        >>> facts = {"order_id": "H7148", "item_price": 31.72, "status": "shipped"}
        >>> s = LogicConsistency()
        >>> s("Order H7148 has shipped; I've refunded $31.72.", facts=facts)
        1.0
        >>> s("Order H7184 has shipped; I've refunded $37.12.", facts=facts)
        0.25
        >>> s("Order H7148 has not shipped yet.", facts=facts)
        0.5
        >>> s("Yes, it arrives on Monday.", history=[Turn("agent", "It arrives on Friday.")])
        0.5
    """

    name = "logic_consistency"
    range = (0.0, 1.0)
    cost = "moderate"
    citation = ("fact/self-contradiction checking as in Welleck et al. (2019), Dialogue NLI; "
                "Nie et al. (2021), I like fish, especially dolphins")

    def __init__(self, *, penalty: float = 0.5, fact_types: Mapping[str, str] | None = None,
                 status_transitions: Mapping[str, Sequence[str]] | None = None,
                 check_history: bool = True, understanding: Mapping[str, Any] | None = None,
                 nli_model: str | None = None, nli_weight: float = 1.0, nli_turns: int = 3,
                 max_chars: int = 20_000, device: str = "cpu") -> None:
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
        self.understanding = dict(understanding or {})
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
        lex = lexicon_for(x.facts, self.understanding, self.fact_types)

        def ana(text: str) -> Analysis:
            return lex.analyze(text[:cut])

        if x.analysis is not None:
            cur, prior = x.analysis, tuple(x.prior)
        else:
            cur = ana(x.response)
            prior = tuple(ana(t.text) for t in x.history if t.speaker == AGENT)
        names = _names(x.response[:cut])
        if not cur.mentions and not names:
            return []
        today = f.today or next(iter(_today_in(x.context)), None)
        grounded: dict[str, list[Any]] = {t: list(v) for t, v in f.values.items()}
        truth: dict[str | None, str] = {}
        if f.status is not None:
            truth[f.target_order] = f.status
        others = [(None, x.context)] + [(t.speaker, t.text) for t in x.history
                                        if t.speaker != AGENT]
        for speaker, text in others:
            if not text:
                continue
            a = ana(text)
            for m in a.mentions:
                if m.kind in TYPES and not (m.kind == "date" and m.value[0] == "relative"):
                    grounded.setdefault(m.kind, []).append(m.value)
                if m.kind == "status" and speaker not in (None, "user") and not m.negated:
                    order = _order_at(a, m)
                    if order is not None:
                        truth[order] = m.value  # a tool reported the order's status
            grounded.setdefault("name", []).extend(_names(text[:cut]))
            if speaker is not None and today is not None and "date" in f.values:
                grounded["date"].extend(_in_days(today, a))
        if f.target_order is not None and f.target_order in truth:
            truth[None] = truth[f.target_order]
        last4_keys = [k for k in x.facts if (self.fact_types.get(k) or infer_fact_type(
            k, x.facts[k])) == "last4"]
        key_roots = {root(w) for k in last4_keys for w in re.findall(r"[a-z]{3,}", k.lower())}

        out: list[Contradiction] = []
        flagged: set[tuple[str, str]] = set()

        def wrong(t: str, said: str, expected: str, message: str) -> None:
            out.append(Contradiction("fact", t, said, expected, message))
            flagged.add((t, said))

        for m in cur.mentions:
            c = cur.clauses[m.clause]
            # (a value in a contrast, "refunds over $100", is still stated: grounded)
            claimed = m.asserted and not c.doubted
            denied = (m.negated and not c.doubted and c.modality == ASSERT
                      and not m.contrasted)
            t = m.kind
            if t == "number" and "last4" in f.values and key_roots & {
                    root(w) for w in c.tokens}:
                t = "last4"
                value: Any = m.text
                if not (value.isdigit() and any(len(value) == len(v)
                                                for v in f.values["last4"])):
                    continue
            else:
                value = m.value
            if t not in TYPES or not (claimed or denied):
                continue
            if t == "date" and value[0] == "relative":
                continue  # not checked against the facts' dates
            if t in _GROUNDED_TYPES and t in f.values:
                if claimed and not any(_match(t, value, g) for g in grounded.get(t, ())):
                    known = ", ".join(sorted({_fmt(t, v) for v in f.values[t]}))
                    wrong(t, _fmt(t, value), known,
                          f"{t} {_fmt(t, value)} matches no fact ({known}) and nothing "
                          "the user or tools said")
                elif denied and t in _DENIABLE and any(_match(t, value, v)
                                                       for v in f.values[t]):
                    wrong(t, "not " + _fmt(t, value), _fmt(t, value),
                          f"{t} {_fmt(t, value)} is true, the reply denies it")
            elif t == "status" and not m.contrasted and not prospective(cur, m):
                order = _order_at(cur, m)
                truth_now = truth.get(order) if order is not None else truth.get(None)
                if truth_now is not None and not status_compatible(
                        value, denied, truth_now, self.transitions):
                    claim = ("not " if denied else "") + value
                    wrong("status", claim, truth_now,
                          f"status claim '{claim}' contradicts status {truth_now}")
        if "name" in f.values:
            for n in names:
                if not any(_match("name", n, g) for g in grounded.get("name", ())):
                    known = ", ".join(f.values["name"])
                    wrong("name", n, known, f"name {n} matches no fact ({known}) and nothing "
                          "the user or tools said")
        if self.check_history and prior:
            out.extend(self._self_check(cur, prior, names, flagged, f, today,
                                        self._said_since(x.history, len(prior), ana)))
        return out

    @staticmethod
    def _said_since(history: Sequence[Turn], n_prior: int,
                    ana: Any) -> list[list[Mention]]:
        """Mentions of other speakers' turns after each of the agent's replies.

        ``out[i]`` for reply ``i`` of ``n_prior`` (every other speaker's turn when the
        agent turns of ``history`` do not line up with the ``n_prior`` replies).
        """
        agent_at = [i for i, t in enumerate(history) if t.speaker == AGENT]
        out = []
        for i in range(n_prior):
            start = agent_at[i] + 1 if i < len(agent_at) and len(agent_at) == n_prior else 0
            out.append([m for t in history[start:] if t.speaker != AGENT and t.text
                        for m in ana(t.text).mentions])
        return out

    def _compatible(self, kind: str, new: Any, old: Any) -> bool | None:
        """Whether two asserted statuses can both be true (of one order, over time)."""
        if kind != "status":
            return None
        return status_compatible(new, False, old, self.transitions) or \
            status_compatible(old, False, new, self.transitions)

    def _self_check(self, cur: Analysis, prior: Sequence[Analysis], names: Sequence[str],
                    flagged: set[tuple[str, str]], f: _Facts,
                    today: tuple[int, int, int] | None,
                    said_since: Sequence[Sequence[Mention]]) -> list[Contradiction]:
        out = []
        found = contradictions(cur, prior, kinds=(*default_kinds(), *_SELF_KINDS),
                               single_valued=_STATES, compatible=self._compatible,
                               today=dt.date(*today) if today else None)
        for c in found:
            said = ("not " if c.negated else "") + _fmt(c.kind, c.said)
            if (c.kind, said) in flagged:
                continue  # already a wrong fact
            if not c.negated and any(_match(c.kind, c.said, v)
                                     for v in f.values.get(c.kind, ())):
                continue  # the facts back the new value
            if not c.negated and any(
                    same_value(c.kind, c.said, m.kind, m.value) is True
                    for m in said_since[c.earlier.turn]):
                continue  # the user (or a tool) gave the new value since: an update
            earlier = ("not " if not c.earlier.positive else "") + _fmt(c.earlier.kind,
                                                                       c.earlier.value)
            out.append(Contradiction("self", c.kind, said, earlier, c.message))
        before = [n for a in prior for n in _names(a.text[:self.max_chars])]
        for n in names:
            if before and n.lower() != before[-1].lower() and ("name", n) not in flagged \
                    and not any(_match("name", n, v) for v in f.values.get("name", ())):
                out.append(Contradiction("self", "name", n, before[-1],
                                         f"name '{n}' contradicts the agent's earlier "
                                         f"'{before[-1]}'"))
        return out

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
