"""Self-contradictions across turns (dialog_gym/consistency.py)."""

import datetime as dt

import pytest

from dialog_gym.consistency import claims, contradictions, root, same_value
from dialog_gym.understanding import Lexicon, core_data

LEX = Lexicon.from_data()
#: a lexicon with a single-valued entity kind, as a domain declares one
STATUS = Lexicon.from_data({"entities": {"status": {
    "processing": ["being prepared", "being packed"], "shipped": ["dispatched"],
    "delivered": []}}, "ids": {"order_id": "[A-Z]\\d{4}"}})


def found(prior, reply, lex=LEX, **kw):
    return contradictions(lex.analyze(reply), [lex.analyze(p) for p in prior], **kw)


@pytest.mark.parametrize("prior, reply", [
    (["It arrives on Friday."], "Yes, it arrives on Monday."),
    (["Your parcel should arrive on Friday."], "It will be delivered on Monday."),
    (["It arrives on Friday."], "The arrival is planned for Wednesday."),
    # a weekday vs an ISO date of another weekday (2026-07-27 is a Monday), both ways
    (["It arrives on Friday."], "It will be delivered on 2026-07-27."),
    (["It arrives on 2026-07-27."], "Right, it arrives on Friday."),
    (["The delivery is on July 27, 2026."], "It arrives on Friday."),
    # dates against dates
    (["It was delivered on March 3."], "Sorry for the wait: it was delivered on March 13."),
    (["You ordered it on 2026-02-08 and we shipped it on 2026-02-10."],
     "We shipped it on 2026-02-12."),
    # money
    (["Your refund of $45.00 is on its way."], "The refund is $54.00."),
    (["The total comes to 120 dollars."], "So the total is $150."),
    # times, quantities in the same unit
    (["The appointment starts at 10:00 am."], "The appointment starts at 11 am."),
    (["The refund takes 5 days."], "The refund takes 3 days."),
    # negated then asserted, asserted then negated
    (["It does not arrive on Friday."], "It arrives on Friday."),
    (["It arrives on Friday."], "It does not arrive on Friday."),
    (["It arrives on Friday, not Monday."], "It arrives on Monday."),
    # the second value of a clause of two subjects
    (["It ships Monday and arrives Friday."], "It arrives on Monday."),
    # a correction supersedes; contradicting the corrected value counts
    (["It arrives on Friday.", "Sorry, I meant Monday."], "It arrives on Tuesday."),
])
def test_contradictions_found(prior, reply):
    out = found(prior, reply)
    assert len(out) == 1, out
    assert out[0].turn == len(prior) - 1 or len(prior) == 1


@pytest.mark.parametrize("prior, reply", [
    (["It arrives on Friday."], "Yes, it arrives on Friday."),
    (["It arrives on Friday."], "It will be delivered on 2026-07-31."),  # a Friday
    (["It arrives on Friday."], "It will be delivered on July 27."),  # no year: unknown
    # explicit corrections
    (["It arrives on Friday."], "Sorry, I meant Monday."),
    (["It arrives on Friday."], "Correction: it arrives on Monday."),
    (["It arrives on Friday."], "My mistake. It arrives on Monday."),
    (["It arrives on Friday."], "Actually, it arrives on Monday."),
    (["It arrives on Friday."], "Okay, I've updated it: it arrives on Monday."),
    (["It arrives on Friday.", "Sorry, I meant Monday."], "It arrives on Monday."),
    # not assertions
    (["It arrives on Friday."], "Does it arrive on Monday for you?"),
    (["It arrives on Friday."], "Would Monday suit you better?"),
    (["It arrives on Friday."], "If it arrived on Monday, would you be home?"),
    (["It arrives on Friday."], "I don't think it arrives on Monday."),
    (["Does it arrive on Monday?"], "It arrives on Friday."),
    (["If it shipped today it would arrive on Monday."], "It arrives on Friday."),
    # negations that agree
    (["It arrives on Friday."], "It does not arrive on Monday."),
    (["It does not arrive on Monday."], "It does not arrive on Friday."),
    # two subjects
    (["It arrives on Friday."], "It ships Monday and arrives Friday."),
    (["It ships Monday and arrives Friday."], "It ships on Monday."),
    (["Your order ships Monday."], "Your order arrives Friday."),
    (["The appointment starts at 10:00 am."], "It ends at 11 am."),
    (["Your refund of $45.00 is on its way."], "The shipping fee was $5.99."),
    # the same amount written differently, a value in another unit
    (["Your refund of $45.00 is on its way."], "The refund of forty-five dollars is sent."),
    (["The refund takes 5 days."], "The refund takes one week."),
    # a contrast is not a claim
    (["It arrives on Friday."], "It arrives on Friday rather than Monday."),
    # one reply with two values: only earlier turns are compared
    ([], "It arrives on Friday. No wait, it arrives on Monday."),
])
def test_no_contradiction(prior, reply):
    assert found(prior, reply) == []


def test_latest_statement_supersedes():
    # Friday was changed to Monday in an (already penalised) turn; Monday is now consistent
    assert found(["It arrives on Friday.", "It arrives on Monday."], "It arrives on Monday.") == []
    out = found(["It arrives on Friday.", "It arrives on Monday."], "It arrives on Friday.")
    assert len(out) == 1 and out[0].turn == 1


def test_relative_days_need_today():
    prior = ["It arrives tomorrow."]
    assert found(prior, "It arrives today.")  # relative vs relative
    assert found(prior, "It arrives on Friday.") == []  # unknown without today
    sat = dt.date(2026, 7, 25)  # a Saturday: tomorrow is Sunday
    assert found(prior, "It arrives on Friday.", today=sat)
    assert found(prior, "It arrives on Sunday.", today=sat) == []


def test_single_valued_entities_and_a_compatibility_test():
    prior = ["Order H7148 is still being prepared."]
    assert found(prior, "Order H7148 has been dispatched.", STATUS) == []  # not compared
    out = found(prior, "Order H7148 has been dispatched.", STATUS, single_valued=("status",))
    assert [(c.kind, c.said, c.earlier.value) for c in out] == [
        ("status", "shipped", "processing")]
    # another order is another subject
    assert found(prior, "Order K2210 has been dispatched.", STATUS,
                 single_valued=("status",)) == []

    def lifecycle(kind, new, old):  # delivered orders have shipped
        return True if kind == "status" and {new, old} == {"shipped", "delivered"} else None

    prior = ["It has been delivered."]
    assert found(prior, "It was dispatched on Monday.", STATUS, single_valued=("status",))
    assert found(prior, "It was dispatched on Monday.", STATUS, single_valued=("status",),
                 compatible=lifecycle) == []
    # the entity word is the subject of a date claim ("delivered"), not of its own kind
    assert found(["It arrives on Friday."], "It will be delivered on 2026-07-27.", STATUS)


def test_claims_and_message():
    cs = claims(LEX.analyze("It does not arrive on Friday, but the refund is $20."))
    assert [(c.kind, c.value, c.positive) for c in cs] == [
        ("weekday", 4, False), ("money", 20.0, True)]
    assert cs[0].subject == {"arriv"} and cs[1].subject == {"refun"}
    out = found(["The refund is $20."], "The refund is $25.")
    assert "money 25.00 contradicts the earlier money 20.00" in out[0].message
    assert out[0].said == 25.0 and not out[0].negated


def test_helpers():
    assert root("delivery") == root("arrived") == "arriv"
    assert root("refunded") == root("refunds")
    assert same_value("weekday", 0, "date", (2026, 7, 27)) is True
    assert same_value("date", (None, 7, 27), "date", (2026, 7, 27)) is True
    assert same_value("duration", (5.0, "day"), "duration", (1.0, "week")) is None


def test_cues_are_data():
    data = core_data()["consistency"]
    assert "i meant" in data["corrections"] and "weekday" in data["kinds"]
    assert found(["It arrives on Friday."], "It arrives on Monday.", kinds=("money",)) == []
