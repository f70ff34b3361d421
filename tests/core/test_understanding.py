"""The shared understanding layer: clauses, polarity, modality, typed mentions, acts."""

import doctest

import pytest

import dialog_gym.understanding as und
from dialog_gym.understanding import QUESTION, Lexicon

LEX = Lexicon.from_data({
    "entities": {"status": {"shipped": ["on its way", "dispatched"], "processing": []},
                 "item": {"Green Orchid": [], "Blue Fern": [], "Red Maple": []}},
    "slots": {"order_id": ["order number", "order id"], "verification": ["email", "zip code"]},
    "ids": {"order_id": "[A-Z]\\d{4}"},
    "recommend_kind": "item",
    "emotions": {"anger": ["angry", "frustrated", "furious"]},
})


def test_doctests():
    assert doctest.testmod(und).failed == 0


@pytest.mark.parametrize("text,asserted,negated", [
    ("Your order has shipped.", {"shipped"}, set()),
    ("Your order has not shipped yet; it is still processing.", {"processing"}, {"shipped"}),
    ("It hasn't shipped.", set(), {"shipped"}),
    ("It was never dispatched.", set(), {"shipped"}),
    ("If it had shipped, you would have a tracking number.", set(), set()),
    ("Has it shipped?", set(), set()),
    ("No, it's on its way.", {"shipped"}, set()),
    ("I don't think it has shipped.", set(), {"shipped"}),
    ("Don't worry, it has shipped.", {"shipped"}, set()),
])
def test_polarity_and_modality_decide_what_is_asserted(text, asserted, negated):
    a = LEX.analyze(text)
    assert a.asserted_values("status") == asserted
    assert a.negated_values("status") == negated


@pytest.mark.parametrize("text,kind,value", [
    ("That's $12.50.", "money", 12.5),
    ("It comes to twelve dollars and fifty cents.", "money", 12.5),
    ("22 degrees Celsius is 71.6 degrees Fahrenheit.", "quantity", (71.6, "fahrenheit")),
    ("22 C is 71.6 F.", "quantity", (71.6, "fahrenheit")),
    ("It is seventy-one point six.", "number", 71.6),
    ("Returns are accepted within 30 days.", "duration", (30.0, "day")),
    ("We have a thirty-day window.", "duration", (30.0, "day")),
    ("It arrives on Friday.", "weekday", 4),
    ("It arrives tomorrow.", "date", ("relative", 1)),
    ("Delivered on 2026-05-05.", "date", (2026, 5, 5)),
    ("Delivered on May 5th.", "date", (None, 5, 5)),
    ("At 3:30 pm.", "time", "15:30"),
    ("Order a1234 is yours.", "order_id", "A1234"),
    ("Mail jo.doe@example.com please", "email", "jo.doe@example.com"),
    ("Card 4030.7480.8741.3035 on file", "card", "4030748087413035"),
])
def test_typed_mentions(text, kind, value):
    assert value in LEX.analyze(text).mentioned_values(kind), LEX.analyze(text).mentions


def test_requests_need_a_request_and_a_slot():
    a = LEX.analyze("Could you give me your order number and the email on the account?")
    assert a.requests == {"order_id", "verification"}
    assert LEX.analyze("Your order number is on the receipt.").requests == set()
    assert LEX.analyze("Please send your zip code.").requests == {"verification"}


def test_recommendations_skip_contrasts_negations_and_questions():
    def rec(t):
        return LEX.analyze(t).args("recommend")
    assert rec("I recommend Green Orchid.") == ["Green Orchid"]
    assert rec("Unlike Blue Fern and Red Maple, Green Orchid fits your budget, "
               "so I'd recommend it.") == ["Green Orchid"]
    assert rec("Green Orchid is a better fit than Blue Fern.") == ["Green Orchid"]
    assert rec("I would not recommend Green Orchid.") == []
    assert rec("Would you like Green Orchid?") == []


def test_emotion_acknowledged_only_when_asserted():
    assert LEX.analyze("You sound really frustrated.").has("acknowledge", "anger")
    assert not LEX.analyze("I don't think you're really angry.").has("acknowledge")
    assert not LEX.analyze("Are you angry?").has("acknowledge")


def test_options_in_a_question_are_not_asserted():
    a = LEX.analyze("Which day: today, Friday July 10, or another date?")
    assert all(m.modality == QUESTION for m in a.mentions)
    assert not any(m.asserted for m in a.mentions)


def test_two_questions_are_two_clauses():
    a = LEX.analyze("Is it big and does it have legs?")
    assert len(a.questions) == 2


def test_refusal_of_unknown():
    assert LEX.analyze("That isn't mentioned in the passage.").has("refuse_unknown")
    assert LEX.analyze("The passage never says where he studied.").has("refuse_unknown")


def test_analysis_is_cached_and_rejects_non_text():
    assert LEX.analyze("Hello there.") is LEX.analyze("Hello there.")
    with pytest.raises(TypeError, match="str"):
        LEX.analyze(None)  # type: ignore[arg-type]


def test_bad_id_format_is_a_clear_error():
    from dialog_gym.error import ConfigError
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        Lexicon.from_data({"ids": {"order_id": "[A-Z"}})
