"""Unigram precision / recall / F1 against references, normalised as in SQuAD."""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from functools import lru_cache

import numpy as np

from dialog_gym.error import ConfigError
from dialog_gym.scorers.base import ScoreInput, Scorer
from dialog_gym.text import CJK_CHAR

MEASURES = ("f1", "precision", "recall")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCT = frozenset(string.punctuation)


@lru_cache(maxsize=16384)
def squad_tokens(text: str, split_cjk: bool = True) -> tuple[str, ...]:
    """SQuAD v1.1 answer normalisation, then whitespace tokens.

    Lower-case, drop punctuation (ASCII ``string.punctuation`` as in the SQuAD script,
    plus every Unicode punctuation character), drop the articles *a*, *an*, *the*, and
    split on whitespace; with ``split_cjk`` every CJK character is its own token (as
    MLQA does for Chinese). On ASCII text this equals the official script.

    Example:
        >>> squad_tokens("The order, #A1234, has SHIPPED!")
        ('order', 'a1234', 'has', 'shipped')
    """
    text = text.lower()
    text = "".join(ch for ch in text
                   if ch not in _ASCII_PUNCT and not unicodedata.category(ch).startswith("P"))
    text = _ARTICLES.sub(" ", text)
    if split_cjk:
        text = CJK_CHAR.sub(lambda m: f" {m.group(0)} ", text)
    return tuple(text.split())


def prf(pred: tuple[str, ...], gold: tuple[str, ...]) -> tuple[float, float, float]:
    """Precision, recall and F1 of two token sequences (SQuAD's ``f1_score`` logic).

    Two empty sequences score 1 on all three; one empty sequence scores 0.
    """
    if not pred or not gold:
        v = float(pred == gold)
        return v, v, v
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0, 0.0, 0.0
    p, r = same / len(pred), same / len(gold)
    return p, r, 2 * p * r / (p + r)


class TokenF1(Scorer):
    """Unigram F1 (or precision, or recall) of the reply against its best reference.

    **Rewards** saying the reference's words: precision punishes extra words, recall
    missing ones, F1 balances both. Text is normalised as in the SQuAD evaluation
    script (case, punctuation and articles ignored; multiset overlap of tokens). With
    several references the best one counts. An input without references scores 0.

    Known failure modes: a bag of words, so word order and negation are invisible
    ("has shipped" vs "has not shipped" differ by one token); recall alone is farmed by
    long replies that list many words, precision alone by one-word replies.

    Range: [0, 1]. Cost: cheap (~50k items/s).

    Args:
        measure: ``"f1"``, ``"precision"`` or ``"recall"``.
        split_cjk: Count every CJK character as a token.

    Example:
        >>> round(TokenF1()("the order shipped today", references=["your order has shipped"]), 4)
        0.5714
        >>> TokenF1(measure="precision")("order shipped", references=["your order has shipped"])
        1.0
        >>> TokenF1(measure="recall")("order shipped", references=["your order has shipped"])
        0.5
    """

    name = "token_f1"
    range = (0.0, 1.0)
    cost = "cheap"
    citation = "Rajpurkar et al. (2016), SQuAD evaluation script"
    uses_references = True

    def __init__(self, measure: str = "f1", *, split_cjk: bool = True) -> None:
        if measure not in MEASURES:
            raise ConfigError(f"unknown measure={measure!r}; expected one of {MEASURES}")
        self.measure = measure
        self.split_cjk = split_cjk
        self._k = {"precision": 0, "recall": 1, "f1": 2}[measure]

    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        out = np.zeros(len(batch))
        k = self._k
        for i, x in enumerate(batch):
            if x.references:
                pred = squad_tokens(x.response, self.split_cjk)
                out[i] = max(prf(pred, squad_tokens(r, self.split_cjk))[k]
                             for r in x.references)
        return out

    def signature(self) -> str:
        """Measure and normalisation."""
        return f"token_f1[{self.measure}|norm:squad|cjk:{'char' if self.split_cjk else 'no'}]"

    def __repr__(self) -> str:
        return f"TokenF1(measure={self.measure!r}, split_cjk={self.split_cjk})"
