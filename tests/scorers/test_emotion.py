import numpy as np
import pytest

from dialog_gym.dialogue import Turn
from dialog_gym.error import ConfigError
from dialog_gym.scorers import ScoreInput
from dialog_gym.scorers.emotion import (
    REPLY_TONES,
    USER_EMOTIONS,
    EmotionConsistency,
    context_mood,
)

#: Accuracy floor of the labelled set (good reply must outscore the bad one). Measured:
#: 35/38 = 0.921 with the first prototypes, 34/38 = 0.895 after four reflective-listening
#: prototypes were added for Dialog-EmotionalSupport-v0 (whose expert then scored 0.85
#: instead of 0.56). The floor leaves room for numerical drift, not for regressions.
FLOOR = 0.85


def _pairs(cases):
    def mk(c, r):
        return ScoreInput(context=c.get("context", ""), history=(Turn("user", c["user"]),),
                          response=r)
    return [mk(c, c["good"]) for c in cases], [mk(c, c["bad"]) for c in cases]


def accuracy(scorer, cases):
    good, bad = _pairs(cases)
    g, b = scorer.score(good), scorer.score(bad)
    return float(np.mean(g > b)), g, b


def test_labelled_set_accuracy(encoder, load_cases):
    cases = load_cases("emotion_cases.jsonl")
    assert len(cases) >= 30 and len({c["id"] for c in cases}) == len(cases)
    acc, g, b = accuracy(EmotionConsistency(), cases)
    print(f"emotion_consistency labelled accuracy: {acc:.3f} on {len(cases)} cases")
    assert acc >= FLOOR
    assert float(np.mean(g)) > float(np.mean(b)) + 0.3


def test_dev_set_accuracy(encoder, load_cases):
    # the prototypes were tuned on this small set; it guards against regressions only
    acc, _, _ = accuracy(EmotionConsistency(), load_cases("emotion_dev.jsonl"))
    assert acc >= 0.9


def test_vader_and_prototypes_both_matter(encoder, load_cases):
    cases = load_cases("emotion_cases.jsonl")
    good, _ = _pairs(cases)
    full = EmotionConsistency().score(good)
    no_vader = EmotionConsistency(polarity_weight=0.0).score(good)
    no_cues = EmotionConsistency(cue_weight=0.0).score(good)
    assert not np.allclose(full, no_vader) and not np.allclose(full, no_cues)


def test_distributions_are_probabilities(encoder):
    s = EmotionConsistency()
    batch = [ScoreInput(history=(Turn("user", "I'm furious!"),), response="So sorry."),
             ScoreInput(response="Hello."), ScoreInput(response="")]
    pu, pt = s.distributions(batch)
    assert pu.shape == (3, len(USER_EMOTIONS)) and pt.shape == (3, len(REPLY_TONES))
    np.testing.assert_allclose(pu.sum(axis=1), 1.0)
    np.testing.assert_allclose(pt[:2].sum(axis=1), 1.0)
    assert USER_EMOTIONS[int(pu[0].argmax())] == "anger"
    assert USER_EMOTIONS[int(pu[1].argmax())] == "neutral"  # no user turn


def test_one_model_call_per_score_call(encoder):
    s = EmotionConsistency()
    s("warm up")  # prototypes are embedded once, on first use
    calls = encoder.calls
    batch = [ScoreInput(history=(Turn("user", f"I am upset about order {i}."),),
                        response=f"I'm sorry about order {i}, fixing it now.") for i in range(40)]
    s.score(batch)
    assert encoder.calls - calls == 1


def test_context_mood():
    assert context_mood("Customer on the line: A B (sounds angry).") == "anger"
    assert context_mood("The user seems very anxious.") == "fear"
    assert context_mood("", {"mood": "happy"}) == "joy"
    assert context_mood("Never make customers angry.") is None


def test_mood_in_context_shifts_the_user_distribution(encoder):
    s = EmotionConsistency()
    x = dict(history=(Turn("user", "My order number is K4821."),), response="Okay.")
    calm, angry = s.distributions([ScoreInput(**x),
                                   ScoreInput(context="(sounds angry)", **x)])[0]
    assert angry[USER_EMOTIONS.index("anger")] > calm[USER_EMOTIONS.index("anger")] + 0.3


def test_hf_classifier_path(tiny_models):
    s = EmotionConsistency(classifier=tiny_models["emotion"])
    batch = [ScoreInput(history=(Turn("user", "I'm furious!"),), response="So sorry."),
             ScoreInput(response="Great!"), ScoreInput(response="")]
    out = s.score(batch)
    assert out.shape == (3,) and np.all((out >= 0) & (out <= 1)) and out[2] == 0.0
    pu, pt = s.distributions(batch)
    np.testing.assert_allclose(pu.sum(axis=1), 1.0)
    assert "hf:" in s.signature()


def test_hf_classifier_without_known_labels(tiny_models):
    with pytest.raises(ConfigError, match="none of the classifier's labels"):
        EmotionConsistency(classifier=tiny_models["unmapped"])("hi")
    ok = EmotionConsistency(classifier=tiny_models["unmapped"],
                            label_map={"label_a": ("anger", "hostile"),
                                       "label_b": ("joy", "cheerful")})
    assert 0.0 <= ok("hi") <= 1.0


def test_bad_config():
    with pytest.raises(ConfigError, match="label_map"):
        EmotionConsistency(label_map={"x": ("furious", "hostile")})
    with pytest.raises(ConfigError, match="temperature"):
        EmotionConsistency(temperature=0)
