import pytest

from dialog_gym.dialogue import AGENT, USER, Dialogue, Turn
from dialog_gym.error import ConfigError
from dialog_gym.rules import (
    ForbiddenContent,
    LengthLimit,
    NoCardNumber,
    NoRepetition,
    Politeness,
    RequiredProcedure,
    RuleBook,
    RuleContext,
    profanity,
)
from dialog_gym.tools import ToolCall


def ctx(reply, earlier=(), calls=(), world=None, text=None):
    d = Dialogue([Turn(USER, "hi")] + [Turn(AGENT, e) for e in earlier])
    return RuleContext(d, reply, reply if text is None else text, calls, world or {})


def test_no_repetition_exact_and_near():
    r = NoRepetition()
    assert r.check(ctx("Hello, how can I help?", ["hello how can i help"]))
    assert r.check(ctx("Could you please share your order number with me today?",
                       ["Could you please share your order number with me?"]))
    assert r.check(ctx("Your order shipped.", ["Could you share your email?"])) == []


def test_length_limit():
    assert LengthLimit(3).check(ctx("one two three four"))[0].rule_id == "length_limit"
    assert LengthLimit(3).check(ctx("one two three")) == []
    with pytest.raises(ConfigError):
        LengthLimit(0)


@pytest.mark.parametrize("text", ["4111 1111 1111 1111", "4111-1111-1111-1111",
                                  "card 4242424242424242 ok"])
def test_card_number_detected_and_severe(text):
    v = NoCardNumber().check(ctx(text))
    assert v and v[0].severe


@pytest.mark.parametrize("text", ["order A1234, tracking 1ZABC1234567", "ending in 4242",
                                  "call 555 123 4567", "4111 1111 1111 1112"])
def test_non_card_numbers_pass(text):
    assert NoCardNumber().check(ctx(text)) == []


def test_required_procedure_blocks_guarded_calls_until_flag():
    rule = RequiredProcedure("verify_first", {"refund"}, "verified", description="verify")
    calls = [ToolCall("lookup", {}, "[lookup]"), ToolCall("refund", {}, "[refund]")]
    v = rule.check(ctx("x", calls=calls, world={"verified": False}))
    assert [x.call_index for x in v] == [1]
    assert rule.check(ctx("x", calls=calls, world={"verified": True})) == []


@pytest.mark.parametrize("text", ["Calm down, sir.", "That's not my problem.", "you IDIOT"])
def test_politeness(text):
    assert Politeness().check(ctx(text))


def test_politeness_allows_polite_text():
    assert Politeness().check(ctx("I'm sorry for the trouble, let me help.")) == []


@pytest.mark.parametrize("text", ["Whatever.", "Ok, whatever.", "Just calm down.",
                                  "You need to calm down about this.", "It's your own fault.",
                                  "That's your fault, honestly."])
def test_politeness_flags_the_rude_use(text):
    assert Politeness().check(ctx(text))


@pytest.mark.parametrize("text", [
    "Take whatever time you need.",
    "Once you're home and it's safe to calm down, try to rest.",
    "It's not your fault.",
    "None of this is your fault.",
    "Whatever you decide, I'm here.",
])
def test_politeness_passes_innocent_uses(text):
    assert Politeness().check(ctx(text)) == []


def test_profanity_and_forbidden_content():
    assert profanity().check(ctx("what the fuck"))
    rule = ForbiddenContent("no_pii", [r"\bssn\b"], severe=True)
    assert rule.check(ctx("tell me your SSN"))[0].severe
    with pytest.raises(ConfigError):
        ForbiddenContent("x", [])


def test_rulebook_unique_ids_and_extension():
    book = RuleBook([NoRepetition(), Politeness()])
    with pytest.raises(ConfigError, match="duplicate rule id"):
        book.add(Politeness())
    with pytest.raises(TypeError, match="Rule"):
        book.add("not a rule")
    bigger = book.extended([LengthLimit(5)])
    assert bigger.ids == ["no_repetition", "politeness", "length_limit"]
    assert book.ids == ["no_repetition", "politeness"]
    assert "polite" in book.describe()


def test_card_numbers_are_caught_in_any_separator_format():
    card = "4030748087413035"  # Luhn-valid
    for text in ["4030748087413035", "4030 7480 8741 3035", "4030-7480-8741-3035",
                 "4030.7480.8741.3035", "4030/7480/8741/3035", "4030 - 7480.8741_3035",
                 "card: 4030.7480 8741-3035."]:
        v = NoCardNumber().check(ctx(text))
        assert v and v[0].severe, text
    assert card.endswith("3035")
    for text in ["ending in 3035", "order A1234 on 2026-05-05", "4030.7480.8741.3036",
                 "call 555-0100 or 555-0199"]:
        assert not NoCardNumber().check(ctx(text)), text
