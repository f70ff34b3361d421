import pytest

from dialog_gym.tools import Tool, ToolParam, ToolResult, ToolSet


def _echo(world, args):
    world.setdefault("calls", []).append(dict(args))
    return ToolResult("note", True, f"noted {args}")


TOOLS = ToolSet([
    Tool("note", {"text": ToolParam(str), "n": ToolParam(int, required=False)}, _echo, "note"),
    Tool("pay", {"amount": ToolParam(float)}, _echo, "pay", writes=True),
])


def test_plain_text_has_no_calls():
    p = TOOLS.parse("Hello there, nothing to do [sic].")
    assert p.calls == () and p.text == "Hello there, nothing to do [sic]."


def test_calls_are_parsed_and_removed_from_spoken_text():
    p = TOOLS.parse('Done. [note text="two words" n=3] Bye [pay amount=$19.99]')
    assert p.text == "Done. Bye"
    assert [c.name for c in p.calls] == ["note", "pay"]
    assert p.calls[0].args == {"text": "two words", "n": 3}
    assert p.calls[1].args == {"amount": 19.99}
    assert all(c.error is None for c in p.calls)


def test_escaped_quotes_and_brackets_inside_quotes():
    p = TOOLS.parse(r'[note text="say \"hi\" now"]')
    assert p.calls[0].args["text"] == 'say "hi" now'


@pytest.mark.parametrize("src, msg", [
    ("[nte text=x]", "unknown tool 'nte'"),
    ("[note]", "missing argument(s) text"),
    ("[note txt=x]", "unknown argument 'txt'"),
    ("[pay amount=lots]", "not a valid float"),
    ("[note text=a text=b]", "given twice"),
    ('[note text="unclosed]', "malformed argument"),
    ("[pay amount=inf]", "not a valid float"),
])
def test_malformed_calls_carry_an_error_not_an_exception(src, msg):
    p = TOOLS.parse("ok " + src)
    assert len(p.calls) == 1
    assert msg in p.calls[0].error
    result = TOOLS.execute(p.calls[0], {})
    assert result.ok is False and msg in result.message


def test_execute_runs_handler_on_world():
    world = {}
    p = TOOLS.parse("[note text=hi]")
    r = TOOLS.execute(p.calls[0], world)
    assert r.ok and world["calls"] == [{"text": "hi"}]
    assert r.render().startswith("[note] ok:")


def test_write_tools_and_describe():
    assert TOOLS.write_tools == frozenset({"pay"})
    doc = TOOLS.describe()
    assert "[note text=<str> (n=<int>)]" in doc and "[pay amount=<float>]" in doc


def test_render_round_trips():
    p = TOOLS.parse('[note text="a b" n=2]')
    again = TOOLS.parse(p.calls[0].render())
    assert again.calls[0].args == p.calls[0].args
