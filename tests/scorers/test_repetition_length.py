import pytest

from dialog_gym.dialogue import Turn
from dialog_gym.error import ConfigError
from dialog_gym.scorers.length import Length
from dialog_gym.scorers.repetition import Repetition, containment, distinct_n


def test_distinct_and_containment():
    assert distinct_n(("a", "b", "a", "b"), 1) == 0.5
    assert distinct_n(("a", "b", "a", "b"), 2) == pytest.approx(2 / 3)
    assert distinct_n(("a",), 2) is None
    assert containment(("a", "b", "c"), ("a", "b", "x"), 2) == 0.5
    assert containment(("a",), ("a", "b"), 2) == 1.0  # unigram fallback for short replies
    assert containment((), ("a",), 2) == 0.0


def test_repetition_scores():
    r = Repetition()
    hist = [Turn("agent", "Let me check that for you."), Turn("user", "Okay.")]
    assert r("Let me check that for you.", history=hist) == 0.0
    assert r("let me CHECK that for you!!", history=hist) == 0.0  # case/punctuation-blind
    fresh = r("Your order A1234 has shipped with UPS.", history=hist)
    partial = r("Let me check the tracking for you.", history=hist)
    assert fresh == 1.0 and 0.0 < partial < fresh
    # the user's words do not count as the agent's own repetition
    assert r("Okay.", history=hist) == 1.0
    assert r("sorry sorry sorry sorry") == pytest.approx((0.25 + 1 / 3) / 2)
    assert r("") == 0.0


def test_repetition_window():
    hist = [Turn("agent", "Hello there."), Turn("agent", "How can I help?")]
    assert Repetition()("Hello there.", history=hist) == 0.0
    assert Repetition(window=1)("Hello there.", history=hist) == 1.0


def test_length_band():
    s = Length(low=4, high=8)
    assert s("") == 0.0
    assert s("one two") == 0.5
    assert s("one two three four") == 1.0
    assert s(" ".join(["w"] * 8)) == 1.0
    assert s(" ".join(["w"] * 10)) == pytest.approx(0.8)
    assert s("订单已发货") == 1.0  # 5 CJK characters = 5 tokens
    assert Length(low=10, high=20, unit="chars")("12345") == 0.5


def test_bad_config():
    with pytest.raises(ConfigError, match="low <= high"):
        Length(low=10, high=5)
    with pytest.raises(ConfigError, match="unit"):
        Length(unit="words")
    with pytest.raises(ConfigError, match="overlap_n"):
        Repetition(overlap_n=0)
    with pytest.raises(ConfigError, match="window"):
        Repetition(window=0)
