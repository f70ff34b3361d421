"""Small, fast text utilities shared by rules, simulators, experts and scorers."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_SENT = re.compile(r"(?<=[.!?])\s+|\n+")

FUNCTION_WORDS = frozenset(
    """a an the and or but if so of to in on at for with from by about as into over after
    before is are was were be been being am do does did have has had will would can could
    should may might must shall i you he she it we they me him her us them my your his its
    our their this that these those there here what which who whom whose when where why how
    not no yes please thanks thank let me just also very all any some one it's i'm you're
    we'll i'll i've that's there's don't can't won't isn't aren't""".split()
)


@lru_cache(maxsize=8192)
def tokens(text: str) -> tuple[str, ...]:
    """Lower-cased word tokens (Unicode letters and digits; apostrophes kept inside words)."""
    return tuple(m.group(0).lower().replace("’", "'") for m in _WORD.finditer(text))


@lru_cache(maxsize=8192)
def normalize(text: str) -> str:
    """Case-, punctuation- and whitespace-insensitive form of ``text`` (NFKC)."""
    return " ".join(tokens(unicodedata.normalize("NFKC", text)))


def sentences(text: str) -> list[str]:
    """Split into sentences at ., ! or ? followed by space, and at newlines."""
    return [s for s in (p.strip() for p in _SENT.split(text)) if s]


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    """Jaccard similarity of two token sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def function_word_ratio(toks: tuple[str, ...]) -> float:
    """Share of tokens that are English function words (0 for an empty input)."""
    if not toks:
        return 0.0
    return sum(map(FUNCTION_WORDS.__contains__, toks)) / len(toks)


def luhn_ok(digits: str) -> bool:
    """True if the digit string passes the Luhn checksum (payment card numbers do)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


#: 13-19 digits in groups separated by anything a person might type between them
#: (spaces, dashes, dots, slashes, underscores, commas; up to three characters)
_CARD = re.compile(r"(?<![\w.])\d(?:[\s.\-/_·,]{0,3}\d){12,18}(?!\w)")


def card_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, digits)`` of every full payment card number in ``text``."""
    found = []
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            found.append((m.start(), m.end(), digits))
    return found


def card_numbers(text: str) -> list[str]:
    """Full payment card numbers (13-19 Luhn-valid digits, in any separator format).

    Example:
        >>> card_numbers("Card 4030.7480.8741.3035, or 4030-7480 8741/3035.")
        ['4030748087413035', '4030748087413035']
    """
    return [digits for _, _, digits in card_spans(text)]


# ---------------------------------------------------------------- scorer helpers

#: CJK ideographs, kana and hangul: scripts written without spaces between words.
CJK_CHAR = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f]"
)


def tokens_cjk(text: str) -> tuple[str, ...]:
    """Like :func:`tokens`, but every CJK character (Han, kana, hangul) is its own token.

    Scripts written without spaces would otherwise form one token per run of text.

    Example:
        >>> tokens_cjk("Order 好的 shipped")
        ('order', '好', '的', 'shipped')
    """
    out: list[str] = []
    for tok in tokens(text):
        if CJK_CHAR.search(tok):
            pos = 0
            for m in CJK_CHAR.finditer(tok):
                if m.start() > pos:
                    out.append(tok[pos:m.start()])
                out.append(m.group(0))
                pos = m.end()
            if pos < len(tok):
                out.append(tok[pos:])
        else:
            out.append(tok)
    return tuple(out)


def ngrams(toks: tuple[str, ...] | list[str], n: int) -> list[tuple[str, ...]]:
    """The ``n``-grams of a token sequence, in order (empty when shorter than ``n``)."""
    return [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]


_MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november "
    "december".split())}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MON = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|" \
       r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_MDY = re.compile(_MON + r"\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?(?!\d)", re.IGNORECASE)
_DMY = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MON + r"(?:,?\s+(\d{4}))?",
                  re.IGNORECASE)


def date_values(text: str) -> list[tuple[int | None, int, int]]:
    """Calendar dates written in ``text`` as ``(year or None, month, day)``.

    Recognises ISO dates (``2026-05-05``) and English month names (``May 5``,
    ``May 5th, 2026``, ``5 May 2026``, ``the 5th of May``). Impossible dates are skipped.

    Example:
        >>> date_values("Delivered 2026-05-05, not on June 3rd.")
        [(2026, 5, 5), (None, 6, 3)]
    """
    return [v for _, v in date_spans(text)]


def date_spans(text: str) -> list[tuple[int, tuple[int | None, int, int]]]:
    """Like :func:`date_values`, with the start offset of each date in ``text``."""
    found: list[tuple[int, tuple[int | None, int, int]]] = []
    for m in _ISO.finditer(text):
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if 1 <= mo <= 12 and 1 <= d <= 31:
            found.append((m.start(), (y, mo, d)))
    for m in _MDY.finditer(text):
        if m.group(1) == "may" and not m.group(3):
            continue  # "you may 2..." is the verb, not the month
        mo = _MONTHS[m.group(1).lower().rstrip(".")[:3]]
        d = int(m.group(2))
        if 1 <= d <= 31:
            found.append((m.start(), (int(m.group(3)) if m.group(3) else None, mo, d)))
    for m in _DMY.finditer(text):
        mo = _MONTHS[m.group(2).lower().rstrip(".")[:3]]
        d = int(m.group(1))
        if 1 <= d <= 31:
            found.append((m.start(), (int(m.group(3)) if m.group(3) else None, mo, d)))
    found.sort(key=lambda p: p[0])
    return found


_CLOCK_12 = re.compile(r"(?<![\d:.])(\d{1,2})(?::([0-5]\d))?\s*([ap])\.?\s?m\b\.?", re.IGNORECASE)
_CLOCK_24 = re.compile(r"(?<![\d:.])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])(?!\s*[ap]\.?\s?m\b)",
                       re.IGNORECASE)
_CLOCK_WORD = re.compile(r"\b(noon|midday|midnight)\b", re.IGNORECASE)


def time_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, "HH:MM")`` of every clock time in ``text``, in order.

    See :func:`time_values` for the formats understood.
    """
    found: list[tuple[int, int, str]] = []
    for m in _CLOCK_12.finditer(text):
        h, mi = int(m.group(1)), int(m.group(2) or 0)
        if 1 <= h <= 12:
            h = h % 12 + (12 if m.group(3).lower() == "p" else 0)
            found.append((m.start(), m.end(), f"{h:02d}:{mi:02d}"))
    for m in _CLOCK_24.finditer(text):
        found.append((m.start(), m.end(), f"{int(m.group(1)):02d}:{m.group(2)}"))
    for m in _CLOCK_WORD.finditer(text):
        found.append((m.start(), m.end(),
                      "00:00" if m.group(1).lower() == "midnight" else "12:00"))
    found.sort(key=lambda p: p[0])
    return found


def time_values(text: str) -> list[str]:
    """Clock times written in ``text``, as ``"HH:MM"`` (24-hour), in order of appearance.

    Recognises 12-hour times (``2:30 pm``, ``2pm``, ``2:30 p.m.``), 24-hour times
    (``14:30``, ``9:05``) and ``noon``/``midday``/``midnight``. Impossible times are skipped.

    Example:
        >>> time_values("Lunch at 12:30 pm, call at 9am, gym at 18:15 or noon.")
        ['12:30', '09:00', '18:15', '12:00']
    """
    return [v for _, _, v in time_spans(text)]


def longest_common_run(a: tuple[str, ...] | list[str], b: tuple[str, ...] | list[str]) -> int:
    """Length of the longest run of consecutive tokens that ``a`` and ``b`` share.

    Used to tell a paraphrase from a copy: a reply that contains most of a user's sentence
    word for word copies it, however much text is wrapped around it.

    Example:
        >>> longest_common_run(tokens("so they let you go on a video call"),
        ...                    tokens("They let me go on a video call."))
        5
    """
    if not a or not b:
        return 0
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                if cur[j] > best:
                    best = cur[j]
        prev = cur
    return best
