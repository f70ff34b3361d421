import numpy as np
import pytest

from dialog_gym.dialogue import Turn
from dialog_gym.embedding import default_model_path
from dialog_gym.error import ConfigError
from dialog_gym.scorers import ScoreInput
from dialog_gym.scorers.semantic import Semantic

REF = "Your order has shipped and is on its way."


def test_paraphrase_beats_unrelated_and_wrong_topic(encoder):
    s = Semantic()
    para, other, unrelated = s.score([
        ScoreInput(response="The package was sent out and it's coming to you.", references=(REF,)),
        ScoreInput(response="I can reset your password for you.", references=(REF,)),
        ScoreInput(response="Bananas are rich in potassium.", references=(REF,)),
    ])
    assert para > 0.55 > other > unrelated
    assert s(REF, references=[REF]) == pytest.approx(1.0, abs=1e-5)


def test_matches_a_direct_cosine(encoder):
    reply, refs = "Refund done.", ("I've refunded the item.", "Your refund is complete.")
    e = encoder.model.encode([reply, *refs], normalize_embeddings=True)
    want = max(0.0, float(max(e[1:] @ e[0])))
    assert Semantic()(reply, references=refs) == pytest.approx(want, abs=1e-5)
    assert Semantic(mapping="affine")(reply, references=refs) == \
        pytest.approx((float(max(e[1:] @ e[0])) + 1) / 2, abs=1e-5)


def test_one_batched_model_call_with_dedup_and_cache(encoder):
    s = Semantic(history_weight=0.5, history_turns=2)
    hist = (Turn("user", "Where is my parcel? (dedup test)"), Turn("agent", "Checking."),
            Turn("user", "It is order Z9911. (dedup test)"))
    batch = [ScoreInput(response=f"It shipped yesterday, reply {i % 3}. (dedup test)",
                        references=("Your order Z9911 has shipped. (dedup test)",), history=hist)
             for i in range(30)]
    calls, misses = encoder.calls, encoder.misses
    first = s.score(batch)
    assert encoder.calls - calls == 1                # one model call for the whole batch
    assert encoder.misses - misses == 3 + 1 + 2      # 3 distinct replies, 1 ref, 2 user turns
    second = s.score(batch)
    assert encoder.calls - calls == 1                # everything came from the cache
    np.testing.assert_allclose(first, second)


def test_history_weight_blends_relevance_to_the_user(encoder):
    hist = (Turn("user", "I need to change my delivery address."),)
    x = ScoreInput(response="Sure, what's the new shipping address?",
                   references=("Bananas are yellow.",), history=hist)
    plain = Semantic().score([x])[0]
    blended = Semantic(history_weight=0.5).score([x])[0]
    only = Semantic(history_weight=1.0).score([x])[0]
    assert plain < blended < only
    assert blended == pytest.approx((plain + only) / 2, abs=1e-6)
    # without references the history relevance is the score; without either it is 0
    no_ref = ScoreInput(response=x.response, history=hist)
    assert Semantic(history_weight=0.3).score([no_ref])[0] == pytest.approx(only, abs=1e-6)
    assert Semantic().score([no_ref])[0] == 0.0


def test_accepts_a_model_path(encoder):
    s = Semantic(model=default_model_path())
    assert s(REF, references=[REF]) == pytest.approx(1.0, abs=1e-5)
    assert default_model_path() in s.signature()


def test_bad_config():
    with pytest.raises(ConfigError, match="unknown mapping"):
        Semantic(mapping="relu")
    with pytest.raises(ConfigError, match="history_weight"):
        Semantic(history_weight=2.0)
    with pytest.raises(ConfigError, match="history_turns"):
        Semantic(history_turns=0)
