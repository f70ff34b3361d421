import pytest
from rouge_score import rouge_scorer

from dialog_gym.error import ConfigError
from dialog_gym.scorers import ScoreInput
from dialog_gym.scorers.rouge import ROUGE


@pytest.mark.parametrize("variant", ["rouge1", "rouge2", "rougeL"])
@pytest.mark.parametrize("stem", [False, True])
def test_parity_with_rouge_score(variant, stem, reference_corpus):
    ref_scorer = rouge_scorer.RougeScorer([variant], use_stemmer=stem)
    got = ROUGE(variant, use_stemmer=stem).score(
        [ScoreInput(response=h, references=tuple(r)) for h, r in reference_corpus])
    for (h, refs), g in zip(reference_corpus, got, strict=True):
        want = ref_scorer.score_multi(refs, h)[variant].fmeasure
        assert g == pytest.approx(want, abs=1e-12), (h, refs)
        if len(refs) == 1:
            assert g == pytest.approx(ref_scorer.score(refs[0], h)[variant].fmeasure, abs=1e-12)


def test_hand_values():
    s = ROUGE("rouge1")
    # 3 of 4 unigrams shared both ways -> P = R = F = 0.75
    assert s("your order has shipped", references=["the order has shipped"]) == 0.75
    # rouge2: bigrams "order has", "has shipped" shared of 3 -> F = 2/3
    assert ROUGE("rouge2")("your order has shipped", references=["the order has shipped"]) \
        == pytest.approx(2 / 3)
    # rougeL: LCS of "a b c d" and "a c b d" is 3 -> F = 0.75
    assert ROUGE("rougeL")("a b c d", references=["a c b d"]) == pytest.approx(0.75)


def test_unicode_tokenizer_handles_scripts_the_default_drops():
    x = ScoreInput(response="您的订单已经发货了", references=("您的订单已发货",))
    assert ROUGE().score([x])[0] == 0.0  # rouge-score keeps only [a-z0-9]
    uni = ROUGE(tokenizer="unicode").score([x])[0]
    assert uni == pytest.approx(2 * 7 / (9 + 7))  # the 7 reference chars in order, of 9
    assert ROUGE(tokenizer="unicode")("Ihre Bestellung", references=["ihre bestellung"]) == 1.0


def test_bad_variant():
    with pytest.raises(ConfigError, match="unknown variant='rougeLsum'.*sentences"):
        ROUGE("rougeLsum")
    with pytest.raises(ConfigError, match="unknown tokenizer"):
        ROUGE(tokenizer="spacy")
