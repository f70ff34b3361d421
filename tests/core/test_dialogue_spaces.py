import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialog_gym.dialogue import AGENT, USER, Dialogue, Turn
from dialog_gym.spaces import UnicodeText


@given(st.text(max_size=50))
def test_unicode_text_contains_any_str_within_bound(s):
    assert s in UnicodeText(50)


def test_unicode_text_rejects_non_str_and_long():
    space = UnicodeText(5)
    assert 12345 not in space and "toolong" not in space
    space.seed(0)
    samples = [space.sample() for _ in range(20)]
    assert all(s in space for s in samples)
    space.seed(0)
    assert samples == [space.sample() for _ in range(20)]


def test_turn_is_frozen_and_validates():
    t = Turn(USER, "hi", {"act": "greet"})
    with pytest.raises(AttributeError):
        t.text = "x"
    with pytest.raises(TypeError):
        t.meta["x"] = 1
    with pytest.raises(TypeError, match="str"):
        Turn(USER, 3)


def test_dialogue_render_and_clip():
    d = Dialogue([Turn(USER, "hello " * 10), Turn(AGENT, "hi"), Turn(USER, "bye")])
    assert d.render().endswith("User: bye")
    assert d.last(AGENT).text == "hi" and len(d.by(USER)) == 2
    clipped = d.render(max_chars=50)
    assert len(clipped) <= 50 and clipped.endswith("User: bye")
    assert "omitted" in clipped


def test_dialogue_render_clip_matches_line_by_line_rule():
    """render(max_chars) keeps the newest lines that fit in max_chars - 32, as documented."""
    d = Dialogue()
    for i in range(30):
        d.append(Turn(USER if i % 2 else AGENT, "word " * (i % 7)))
        lines = [f"{d.labels[t.speaker]}: {t.text}" for t in d]
        for max_chars in (1, 20, 40, 64, 100, 200, 1000):
            out, size = [], 0
            for line in reversed(lines):
                if size + len(line) + 1 > max_chars - 32:
                    out.append("[... earlier turns omitted ...]")
                    break
                out.append(line)
                size += len(line) + 1
            assert d.render(max_chars) == "\n".join(reversed(out))[-max_chars:]
