import importlib.util

import pytest
import sacrebleu
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from dialog_gym.error import ConfigError, DependencyNotInstalled
from dialog_gym.scorers import ScoreInput, make_scorer
from dialog_gym.scorers.bleu import BLEU


@pytest.mark.parametrize("tokenize", ["13a", "intl", "zh", "char", "none"])
@pytest.mark.parametrize("smooth", ["exp", "floor", "add-k", "none"])
def test_parity_with_sacrebleu_sentence_bleu(tokenize, smooth, reference_corpus):
    scorer = BLEU(tokenize=tokenize, smooth_method=smooth)
    got = scorer.score([ScoreInput(response=h, references=tuple(r))
                        for h, r in reference_corpus])
    for (h, refs), g in zip(reference_corpus, got, strict=True):
        want = sacrebleu.sentence_bleu(h, refs, tokenize=tokenize, smooth_method=smooth).score
        assert g == pytest.approx(want / 100.0, abs=1e-9), (h, refs)


def test_parity_lowercase(reference_corpus):
    got = BLEU(lowercase=True).score([ScoreInput(response=h, references=tuple(r))
                                      for h, r in reference_corpus])
    for (h, refs), g in zip(reference_corpus, got, strict=True):
        want = sacrebleu.sentence_bleu(h, refs, lowercase=True).score / 100
        assert g == pytest.approx(want, abs=1e-9)


@pytest.mark.filterwarnings(r"ignore:\s*The hypothesis contains 0 counts:UserWarning")
@pytest.mark.parametrize("smooth,method", [("exp", "method3"), ("floor", "method1"),
                                           ("add-k", "method2"), ("none", "method0")])
def test_nltk_backend_parity(smooth, method, reference_corpus):
    scorer = BLEU(backend="nltk", smooth_method=smooth)
    tok = sacrebleu.metrics.BLEU(tokenize="13a").tokenizer
    got = scorer.score([ScoreInput(response=h, references=tuple(r))
                        for h, r in reference_corpus])
    for (h, refs), g in zip(reference_corpus, got, strict=True):
        hyp = tok(h.rstrip()).split()
        if not hyp:
            assert g == 0.0
            continue
        want = sentence_bleu([tok(r.rstrip()).split() for r in refs], hyp,
                             smoothing_function=getattr(SmoothingFunction(), method),
                             auto_reweigh=True)
        assert g == pytest.approx(want, abs=1e-12), h


def test_backends_agree_at_the_extremes():
    for backend in ("sacrebleu", "nltk"):
        s = BLEU(backend=backend)
        assert s("the order has shipped today", references=["the order has shipped today"]) \
            == pytest.approx(1.0)
        assert s("banana", references=["the order has shipped today"]) < 0.05


def test_zh_tokenizer_scores_chinese_that_13a_cannot_split():
    x = ScoreInput(response="您的订单已经发货了", references=("您的订单已发货",))
    zh, a13 = BLEU(tokenize="zh").score([x])[0], BLEU(tokenize="13a").score([x])[0]
    assert zh > 0.3 and a13 == 0.0


def test_no_references_scores_zero():
    assert BLEU()("Your order has shipped.") == 0.0


def test_copying_the_reference_is_rewarded_known_failure_mode():
    ref = "Your order A1234 has shipped with UPS."
    copy = BLEU()(ref, references=[ref])
    paraphrase = BLEU()("The parcel for A1234 is on its way via UPS.", references=[ref])
    assert copy == 1.0 and paraphrase < 0.3


def test_signature():
    sig = BLEU(tokenize="zh", smooth_method="floor", lowercase=True).signature()
    assert sig.startswith("bleu[backend:sacrebleu|")
    for part in ("tok:zh", "smooth:floor", "case:lc", f"version:{sacrebleu.__version__}",
                 "nrefs:var"):
        assert part in sig
    nl = BLEU(backend="nltk").signature()
    assert "backend:nltk" in nl and "smooth:method3" in nl and "version:nltk-" in nl


def test_bad_config_errors():
    with pytest.raises(ConfigError, match="unknown tokenize='13b'"):
        BLEU(tokenize="13b")
    with pytest.raises(ConfigError, match="downloaded at run time"):
        BLEU(tokenize="flores200")
    with pytest.raises(ConfigError, match="unknown smooth_method"):
        BLEU(smooth_method="laplace")
    with pytest.raises(ConfigError, match="unknown backend"):
        BLEU(backend="torchmetrics")
    with pytest.raises(TypeError):
        make_scorer("bleu", tokenizer="13a")  # a typo is not swallowed


def test_mecab_tokenizer_works_or_names_the_extra():
    if importlib.util.find_spec("MeCab") is not None:
        ja = "注文は発送されました"
        assert BLEU(tokenize="ja-mecab")(ja, references=[ja]) == pytest.approx(1.0)
    else:
        with pytest.raises(DependencyNotInstalled, match=r"pip install 'sacrebleu\[ja\]'"):
            BLEU(tokenize="ja-mecab")


@pytest.mark.parametrize("smooth", ["exp", "floor", "add-k", "none"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_cached_statistics_path_equals_sacrebleu_on_random_segments(smooth, lowercase):
    """The scorer's own n-gram statistics must reproduce sacrebleu exactly (multi-ref too)."""
    import random

    from sacrebleu.metrics import BLEU as SacreBLEU

    from dialog_gym.scorers import make_scorer

    rng = random.Random(f"{smooth}-{lowercase}")
    words = ("the order has shipped your refund card ending in 4242 Sorry for trouble "
             "tracking number 1ZABC I've , . ? ! -- 3.5 $49.99 you're welcome 你好").split()
    ours = make_scorer("bleu", smooth_method=smooth, lowercase=lowercase)
    ref = SacreBLEU(smooth_method=smooth, lowercase=lowercase, effective_order=True)
    for _ in range(500):
        hyp = " ".join(rng.choice(words) for _ in range(rng.randint(1, 15)))
        refs = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 15)))
                for _ in range(rng.randint(1, 3))]
        expected = min(1.0, ref.sentence_score(hyp, refs).score / 100)
        assert ours(hyp, references=refs) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("smooth", ["exp", "floor", "add-k", "none"])
@pytest.mark.parametrize("tokenize", ["13a", "intl", "char", "none"])
def test_reply_equal_to_a_reference_equals_sacrebleu(smooth, tokenize):
    """A reply that is one of its references scores as sacrebleu scores it."""
    from sacrebleu.metrics import BLEU as SacreBLEU

    ours = make_scorer("bleu", smooth_method=smooth, tokenize=tokenize)
    ref = SacreBLEU(tokenize=tokenize, smooth_method=smooth, effective_order=True)
    for hyp in ("the order has shipped", "ok", "I've refunded $49.99 -- sorry!", "<skipped>",
                "a a a a a a"):
        for refs in ([hyp], ["something else entirely", hyp], [hyp, hyp + " too"]):
            expected = min(1.0, ref.sentence_score(hyp, refs).score / 100)
            assert ours(hyp, references=refs) == pytest.approx(expected, abs=1e-12), (hyp, refs)
