"""Sentence BLEU against reference replies (sacrebleu or nltk backend)."""

from __future__ import annotations

import warnings

import numpy as np

from dialog_gym.error import ConfigError, DependencyNotInstalled
from dialog_gym.scorers.base import ScoreInput, Scorer

#: sacrebleu tokenizers that work offline with the default installation.
TOKENIZERS = ("13a", "intl", "zh", "char", "none", "ja-mecab", "ko-mecab")
#: sacrebleu smoothing methods -> the nltk ``SmoothingFunction`` method closest to each.
SMOOTHING = {"exp": "method3", "floor": "method1", "add-k": "method2", "none": "method0"}
_NEEDS_DOWNLOAD = ("spm", "flores101", "flores200", "spBLEU-1K")


class BLEU(Scorer):
    """Sentence-level BLEU of the reply against its references, on [0, 1].

    **Rewards** n-gram (1-4) overlap with the references, with a brevity penalty.

    The default (``backend="sacrebleu"``) is sacrebleu's ``BLEU.sentence_score`` with
    effective order (so short replies are not zeroed by missing 4-grams), divided by 100.
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
        if backend == "nltk":
            try:
                from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
            except ImportError as e:
                raise DependencyNotInstalled("backend='nltk' needs nltk: pip install "
                                             "'dialog-gym[nltk]'") from e
            self._nltk = (sentence_bleu, getattr(SmoothingFunction(), SMOOTHING[smooth_method]))

    def _tok(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return self._bleu.tokenizer(text.rstrip()).split()

    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        if self._nltk is None:
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
            score = self._bleu.sentence_score(item.response, list(item.references)).score
            return min(1.0, score / 100.0)
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
