"""Sentence BLEU against reference replies (sacrebleu or nltk backend)."""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from dialog_gym.error import ConfigError, DependencyNotInstalled
from dialog_gym.scorers.base import ScoreInput, Scorer

#: sacrebleu tokenizers that work offline with the default installation.
TOKENIZERS = ("13a", "intl", "zh", "char", "none", "ja-mecab", "ko-mecab")
#: sacrebleu smoothing methods -> the nltk ``SmoothingFunction`` method closest to each.
SMOOTHING = {"exp": "method3", "floor": "method1", "add-k": "method2", "none": "method0"}
_NEEDS_DOWNLOAD = ("spm", "flores101", "flores200", "spBLEU-1K")
_MAX_ORDER = 4


def _bleu_from_stats(correct: list[int], total: list[int], hyp_len: int, ref_len: int,
                     smooth: str, smooth_value: float | None) -> float:
    """Sentence BLEU in [0, 1] from match statistics, with effective order.

    Chen & Cherry (2014) smoothing as sacrebleu implements it: ``exp`` halves the
    pseudo-precision of each successive order without matches (mteval-v13a), ``floor``
    gives unmatched orders ``smooth_value`` matches, ``add-k`` adds ``smooth_value`` to
    the counts of orders >= 2, ``none`` does nothing (a zero precision then zeroes the
    score). Orders with no hypothesis n-grams are left out (effective order).
    """
    if not any(correct):
        return 0.0
    if smooth_value is None:
        smooth_value = {"floor": 0.1, "add-k": 1}.get(smooth, 0.0)
    log_sum, order, mteval = 0.0, 0, 1.0
    for n in range(_MAX_ORDER):
        c, t = correct[n], total[n]
        if smooth == "add-k" and n > 0:
            c, t = c + smooth_value, t + smooth_value
        if t == 0:
            break
        order = n + 1
        if c == 0:
            if smooth == "exp":
                mteval *= 2
                p = 1.0 / (mteval * t)
            elif smooth == "floor":
                p = smooth_value / t
            else:
                return 0.0
        else:
            p = c / t
        log_sum += math.log(p)
    bp = 1.0 if hyp_len >= ref_len else (math.exp(1 - ref_len / hyp_len) if hyp_len else 0.0)
    return min(1.0, bp * math.exp(log_sum / order))


class BLEU(Scorer):
    """Sentence-level BLEU of the reply against its references, on [0, 1].

    **Rewards** n-gram (1-4) overlap with the references, with a brevity penalty.

    The default (``backend="sacrebleu"``) uses sacrebleu's ``BLEU`` with effective order
    (so short replies are not zeroed by missing 4-grams): the score is exactly
    ``sacrebleu.sentence_bleu(reply, refs, tokenize=..., smooth_method=...).score / 100``.
    ``backend="nltk"`` computes ``nltk.translate.bleu_score.sentence_bleu`` on the same
    sacrebleu tokenisation, with ``auto_reweigh=True`` (nltk's counterpart of effective
    order) and the nltk smoothing closest to ``smooth_method`` (``exp`` -> method3,
    ``floor`` -> method1, ``add-k`` -> method2, ``none`` -> method0); the two backends
    agree on identical and disjoint texts, and differ slightly elsewhere.

    An input without references scores 0; an empty reply scores 0.

    Known failure modes: BLEU rewards copying the reference's surface form and ignores
    meaning (a correct paraphrase scores low, a fluent wrong-fact reply that shares
    wording scores high); keep its weight small next to task-level terms.

    Range: [0, 1]. Cost: cheap (~10k items/s).

    Args:
        tokenize: sacrebleu tokenizer (``"13a"``, ``"intl"``, ``"zh"``, ``"char"``,
            ``"none"``; ``"ja-mecab"``/``"ko-mecab"`` need sacrebleu's extras).
        smooth_method: ``"exp"``, ``"floor"``, ``"add-k"`` or ``"none"``.
        lowercase: Compare case-insensitively.
        backend: ``"sacrebleu"`` (default) or ``"nltk"``.

    Example:
        >>> BLEU()("the order has shipped", references=["the order has shipped"])
        1.0
        >>> BLEU()("", references=["the order has shipped"])
        0.0
        >>> BLEU(tokenize="zh")("订单已发货", references=["订单已发货"])
        1.0
        >>> BLEU(backend="nltk").signature()[:28]
        'bleu[backend:nltk|tok:13a|sm'
    """

    name = "bleu"
    range = (0.0, 1.0)
    cost = "cheap"
    citation = "Papineni et al. (2002); Post (2018), sacreBLEU; nltk.translate.bleu_score"
    uses_references = True

    def __init__(self, tokenize: str = "13a", smooth_method: str = "exp",
                 lowercase: bool = False, backend: str = "sacrebleu") -> None:
        if tokenize in _NEEDS_DOWNLOAD:
            raise ConfigError(
                f"tokenize={tokenize!r} needs a SentencePiece model downloaded at run time, "
                f"which dialog-gym never does; use one of {TOKENIZERS}"
            )
        if tokenize not in TOKENIZERS:
            raise ConfigError(f"unknown tokenize={tokenize!r}; expected one of {TOKENIZERS}")
        if smooth_method not in SMOOTHING:
            raise ConfigError(
                f"unknown smooth_method={smooth_method!r}; expected one of {tuple(SMOOTHING)}"
            )
        if backend not in ("sacrebleu", "nltk"):
            raise ConfigError(f"unknown backend={backend!r}; expected 'sacrebleu' or 'nltk'")
        try:
            from sacrebleu.metrics import BLEU as _SacreBLEU
        except ImportError as e:  # pragma: no cover - a core dependency
            raise DependencyNotInstalled("the bleu scorer needs sacrebleu: pip install sacrebleu"
                                         ) from e
        try:
            self._bleu = _SacreBLEU(tokenize=tokenize, smooth_method=smooth_method,
                                    lowercase=lowercase, effective_order=True)
        except (ImportError, RuntimeError) as e:
            raise DependencyNotInstalled(
                f"sacrebleu's {tokenize!r} tokenizer is not usable here ({e}); install its "
                f"extra, e.g. pip install 'sacrebleu[ja]' or 'sacrebleu[ko]'"
            ) from e
        self.tokenize = tokenize
        self.smooth_method = smooth_method
        self.lowercase = lowercase
        self.backend = backend
        self._nltk = None
        self._cache: dict[str, tuple[Counter[tuple[str, ...]], int]] = {}
        if backend == "nltk":
            try:
                from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
            except ImportError as e:  # pragma: no cover - a core dependency
                raise DependencyNotInstalled("backend='nltk' needs nltk: pip install nltk") from e
            self._nltk = (sentence_bleu, getattr(SmoothingFunction(), SMOOTHING[smooth_method]))

    def _tok(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return self._bleu.tokenizer(text.rstrip()).split()

    def _ngrams(self, text: str) -> tuple[Counter[tuple[str, ...]], int]:
        """n-gram counts (orders 1..4) and length of a segment, tokenised as sacrebleu does.

        Cached: the same references and replies recur across turns and episodes.
        """
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        words = self._tok(text)
        counts: Counter[tuple[str, ...]] = Counter()
        for n in range(1, _MAX_ORDER + 1):
            counts.update(zip(*(words[i:] for i in range(n)), strict=False))
        if len(self._cache) >= 16384:
            self._cache.clear()
        self._cache[text] = (counts, len(words))
        return counts, len(words)

    def _sacrebleu_sentence(self, hyp: str, refs: Sequence[str]) -> float:
        """Sentence BLEU (score / 100) as sacrebleu computes it, from cached n-gram counts.

        The same statistics and the same ``BLEU.compute_bleu`` as
        ``sacrebleu.sentence_bleu``, without re-tokenising and re-counting the references
        on every call; equality with sacrebleu is tested to 1e-9.
        """
        hyp_counts, hyp_len = self._ngrams(hyp)
        stats = [self._ngrams(r) for r in refs]
        ref_lens = [length for _, length in stats]
        if len(stats) == 1:
            ref_counts: Mapping[tuple[str, ...], int] = stats[0][0]  # cached: read only
        else:  # clipped counts take the maximum over references
            merged: dict[tuple[str, ...], int] = {}
            for counts, _ in stats:
                for g, c in counts.items():
                    if c > merged.get(g, 0):
                        merged[g] = c
            ref_counts = merged
        # closest reference length, ties to the shorter (sacrebleu's rule)
        ref_len = min(ref_lens, key=lambda n: (abs(hyp_len - n), n))
        # a segment of L tokens has L - n n-grams of order n + 1
        total = [max(0, hyp_len - n) for n in range(_MAX_ORDER)]
        if ref_counts is hyp_counts:  # the reply is the reference's text: all n-grams match
            correct = list(total)
        else:
            correct = [0] * _MAX_ORDER
            for g in hyp_counts.keys() & ref_counts.keys():  # only shared n-grams count
                c, rc = hyp_counts[g], ref_counts[g]
                correct[len(g) - 1] += c if c < rc else rc
        return _bleu_from_stats(correct, total, hyp_len, ref_len, self.smooth_method,
                                self._bleu.smooth_value)

    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        if self._nltk is None:  # already in [0, 1] (_bleu_from_stats clips at 1)
            return np.array([self._score_one(x) for x in batch], dtype=np.float64)
        out = np.zeros(len(batch))
        bleu, smooth = self._nltk
        with warnings.catch_warnings():  # nltk warns on zero n-gram counts; 0 is the score
            warnings.simplefilter("ignore", UserWarning)
            for i, x in enumerate(batch):
                hyp = self._tok(x.response)
                refs = [self._tok(r) for r in x.references]
                if hyp and any(refs):
                    out[i] = bleu(refs, hyp, smoothing_function=smooth, auto_reweigh=True)
        return np.clip(out, 0.0, 1.0)

    def _score_one(self, item: ScoreInput) -> float:
        if self._nltk is not None:
            return super()._score_one(item)
        if item.references and item.response.strip():
            return self._sacrebleu_sentence(item.response, item.references)
        return 0.0

    def signature(self) -> str:
        """Backend, tokenizer, smoothing, case and library version."""
        if self._nltk is None:
            from sacrebleu.metrics import BLEU as _SacreBLEU

            probe = _SacreBLEU(tokenize=self.tokenize, smooth_method=self.smooth_method,
                               lowercase=self.lowercase, effective_order=True)
            probe.sentence_score("a", ["a"])  # sacrebleu fills nrefs in on first use
            sig = probe.get_signature().format(short=False).replace("nrefs:1", "nrefs:var")
            return f"bleu[backend:sacrebleu|{sig}]"
        import nltk

        return (f"bleu[backend:nltk|tok:{self.tokenize}|smooth:{SMOOTHING[self.smooth_method]}|"
                f"case:{'lc' if self.lowercase else 'mixed'}|eff:auto_reweigh|"
                f"version:nltk-{nltk.__version__}]")

    def __repr__(self) -> str:
        return (f"BLEU(tokenize={self.tokenize!r}, smooth_method={self.smooth_method!r}, "
                f"lowercase={self.lowercase}, backend={self.backend!r})")
