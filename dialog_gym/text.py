"""Small, fast text utilities shared by rules, simulators, experts and scorers."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_SENT = re.compile(r"(?<=[.!?])\s+|\n+")
_MONEY = re.compile(r"(?:[$€£]\s?(\d{1,6}(?:,\d{3})*(?:\.\d{1,2})?)|(\d{1,6}(?:\.\d{2}))\s?(?:dollars|usd|\$))",
                    re.IGNORECASE)

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
    return sum(t in FUNCTION_WORDS for t in toks) / len(toks)


def money_values(text: str) -> list[float]:
    """Amounts written as ``$12.50``, ``€7``, ``12.50 dollars``."""
    out = []
    for m in _MONEY.finditer(text):
        raw = (m.group(1) or m.group(2)).replace(",", "")
        out.append(round(float(raw), 2))
    return out


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


_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def card_numbers(text: str) -> list[str]:
    """Full payment card numbers (13-19 digits, spaces/dashes allowed, Luhn-valid)."""
    found = []
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            found.append(digits)
    return found
