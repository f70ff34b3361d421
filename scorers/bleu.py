"""Sentence BLEU against reference replies."""

from __future__ import annotations

import numpy as np

from dialog_gym.scorers.base import ScoreInput, Scorer


class BLEU(Scorer):
    """Sentence-level BLEU of the reply against its references, on [0, 1].

    Uses sacrebleu's ``BLEU`` with effective order (so short replies are not zeroed by
    missing 4-grams), i.e. exactly ``sacrebleu.sentence_bleu(reply, refs).score / 100``.
    An input without references scores 0.

    Known failure mode: BLEU rewards copying the reference's surface form and ignores
    meaning; keep its weight small next to task-level terms.

    Range: [0, 1]. Cost: cheap (~15k items/s).

    Args:
        tokenize: sacrebleu tokenizer name (``"13a"``, ``"intl"``, ``"zh"``, ...).
        smooth_method: sacrebleu smoothing (``"exp"``, ``"floor"``, ``"add-k"``, ``"none"``).
        lowercase: Compare case-insensitively.

    Example:
        >>> BLEU()("the order has shipped", references=["the order has shipped"])
        1.0
        >>> BLEU()("", references=["the order has shipped"])
        0.0
    """

    name = "bleu"
    range = (0.0, 1.0)
    cost = "cheap"
    citation = "Papineni et al. (2002); Post (2018), sacreBLEU"
    uses_references = True

    def __init__(self, tokenize: str = "13a", smooth_method: str = "exp",
                 lowercase: bool = False) -> None:
        from sacrebleu.metrics import BLEU as _SacreBLEU

        self._bleu = _SacreBLEU(tokenize=tokenize, smooth_method=smooth_method,
                                lowercase=lowercase, effective_order=True)
        self.tokenize = tokenize
        self.smooth_method = smooth_method
        self.lowercase = lowercase

    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        out = np.zeros(len(batch))
        for i, x in enumerate(batch):
            if x.references:
                out[i] = self._bleu.sentence_score(x.response, list(x.references)).score / 100.0
        return out

    def signature(self) -> str:
        """sacrebleu's own signature string."""
        return f"bleu[{self._bleu.get_signature().format(short=True)}]"
