"""ROUGE-1/2/L F-measure against reference replies (Google's rouge-score package)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dialog_gym.error import ConfigError, DependencyNotInstalled
from dialog_gym.scorers.base import ScoreInput, Scorer
from dialog_gym.text import tokens_cjk

VARIANTS = ("rouge1", "rouge2", "rougeL")


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences.

    Bit-parallel (Allison & Dix, 1986; Hyyro, 2004): one pass over ``a`` with integer
    bit operations over ``b``, so 10k x 10k tokens take milliseconds.

    Example:
        >>> lcs_length("a b c d".split(), "a c b d".split())
        3
    """
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, t in enumerate(b):
        masks[t] = masks.get(t, 0) | (1 << i)
    full = (1 << len(b)) - 1
    v = full
    for t in a:
        u = v & masks.get(t, 0)
        v = ((v + u) | (v - u)) & full
    return len(b) - bin(v).count("1")


def _lcs_f(target: Sequence[str], pred: Sequence[str]) -> float:
    """rouge-score's ``_score_lcs(...).fmeasure``."""
    if not target or not pred:
        return 0.0
    lcs = lcs_length(target, pred)
    p, r = lcs / len(pred), lcs / len(target)
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


class _UnicodeTokenizer:
    """rouge-score tokenizer protocol over :func:`dialog_gym.text.tokens_cjk`."""

    def tokenize(self, text: str) -> list[str]:
        return list(tokens_cjk(text))


class ROUGE(Scorer):
    """ROUGE F-measure of the reply against its references (best reference), on [0, 1].

    **Rewards** recall and precision of reference n-grams (``rouge1``, ``rouge2``) or of
    the longest common subsequence (``rougeL``). With one reference the score equals
    ``rouge_scorer.RougeScorer([variant]).score(ref, reply)[variant].fmeasure``; with
    several, the reference with the highest F-measure counts (rouge-score's
    ``score_multi``). An input without references scores 0.

    Known failure modes: like BLEU it rewards copying the reference's wording and
    ignores meaning and word order beyond the variant's n-grams. rouge-score's default
    tokenizer keeps only ``[a-z0-9]``: text in other scripts scores 0; pass
    ``tokenizer="unicode"`` (Unicode words, one token per CJK character) for those.

    Range: [0, 1]. Cost: cheap (~10k items/s for rouge1 on short replies; rougeL is
    quadratic in length).

    Args:
        variant: ``"rouge1"``, ``"rouge2"`` or ``"rougeL"``.
        use_stemmer: Porter-stem English words (rouge-score's option).
        tokenizer: ``"default"`` (rouge-score's own, ASCII) or ``"unicode"``.

    Example:
        >>> ROUGE()("your order has shipped", references=["the order has shipped"])
        0.75
        >>> ROUGE(variant="rouge2")("shipped has order", references=["the order has shipped"])
        0.0
        >>> ROUGE(tokenizer="unicode")("订单已发货", references=["订单已发货"])
        1.0
    """

    name = "rouge"
    range = (0.0, 1.0)
    cost = "cheap"
    citation = "Lin (2004), ROUGE; rouge-score (Google Research)"
    uses_references = True

    def __init__(self, variant: str = "rougeL", *, use_stemmer: bool = False,
                 tokenizer: str = "default") -> None:
        if variant not in VARIANTS:
            hint = " (rougeLsum splits summaries into sentences; not used for replies)" \
                if variant == "rougeLsum" else ""
            raise ConfigError(f"unknown variant={variant!r}; expected one of {VARIANTS}{hint}")
        if tokenizer not in ("default", "unicode"):
            raise ConfigError(f"unknown tokenizer={tokenizer!r}; expected 'default' or 'unicode'")
        self.variant = variant
        self.use_stemmer = use_stemmer
        self.tokenizer = tokenizer
        self._scorer: Any = None

    def _get(self) -> Any:
        if self._scorer is None:
            try:
                from rouge_score import rouge_scorer
            except ImportError as e:
                raise DependencyNotInstalled(
                    "the rouge scorer needs rouge-score: pip install rouge-score") from e
            tok = _UnicodeTokenizer() if self.tokenizer == "unicode" else None
            self._scorer = rouge_scorer.RougeScorer([self.variant], use_stemmer=self.use_stemmer,
                                                    tokenizer=tok)
        return self._scorer

    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        scorer = self._get()
        v = self.variant
        out = np.zeros(len(batch))
        for i, x in enumerate(batch):
            if not x.references:
                continue
            tokenizer = getattr(scorer, "_tokenizer", None)
            if v == "rougeL" and tokenizer is not None:
                # rouge-score's tokens, with a bit-parallel LCS instead of its quadratic
                # Python table (same value; long replies stay fast)
                tok = tokenizer.tokenize
                pred = tok(x.response)
                out[i] = max(_lcs_f(tok(r), pred) for r in x.references)
            else:
                out[i] = max(scorer.score(r, x.response)[v].fmeasure for r in x.references)
        return np.clip(out, 0.0, 1.0)

    def signature(self) -> str:
        """Variant, stemming, tokenizer and rouge-score version."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            ver = version("rouge-score")
        except PackageNotFoundError:  # pragma: no cover
            ver = "?"
        return (f"rouge[{self.variant}|stem:{'yes' if self.use_stemmer else 'no'}|"
                f"tok:{self.tokenizer}|version:rouge-score-{ver}]")

    def __repr__(self) -> str:
        return (f"ROUGE(variant={self.variant!r}, use_stemmer={self.use_stemmer}, "
                f"tokenizer={self.tokenizer!r})")
