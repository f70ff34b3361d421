"""Every built-in scorer: empty strings, Unicode, very long text, batch sizes 0/1/large,
type errors, declared range, and batch == one-by-one."""

import numpy as np
import pytest

from dialog_gym.dialogue import Turn
from dialog_gym.scorers import ScoreInput, make_scorer

NAMES = ["bleu", "rouge", "token_f1", "semantic", "emotion_consistency", "logic_consistency",
         "repetition", "length", "task_success", "rule_compliance"]

FACTS = {"customer_name": "Ann Lee", "order_id": "A1234", "status": "shipped",
         "tracking": "1ZABC1234567", "item_price": 31.72, "delivered": None}
HIST = (Turn("user", "Where is my order A1234? I'm annoyed."),
        Turn("agent", "Let me check that for you."),
        Turn("system", "[lookup_order] ok: order A1234; status=shipped"),
        Turn("user", "Okay, I'll wait."))
LONG = ("Your order A1234 has shipped with UPS and should arrive soon. " * 900)[:50_000]


def item(response, refs=("Your order A1234 has shipped with UPS.",), **kw):
    return ScoreInput(context="Customer on the line: Ann Lee (sounds annoyed).",
                      history=kw.pop("history", HIST), response=response, references=refs,
                      facts=kw.pop("facts", FACTS),
                      signals=kw.pop("signals", {"progress": 0.25, "rule_penalty": 0.1}), **kw)


CASES = [
    item("Your order A1234 has shipped with UPS."),
    item(""),
    item("   "),
    item("", refs=("",)),
    item("Ihre Bestellung wurde versandt 📦 — 您的订单已发货 — заказ отправлен ✓"),
    item("订单已发货", refs=("订单已发货",)),
    item(LONG),
    item("Your order has shipped.", refs=()),
    item("ok", refs=("ok", "fine", "")),
    item("I'm sorry! Order A1234 was delivered on 2026-01-01 for $99.99.", history=()),
    item("\x00\t\n weird \u200b control \ufeff chars"),
    item(LONG, refs=(LONG,), history=(Turn("user", LONG), Turn("agent", LONG))),
]


@pytest.fixture(scope="module", params=NAMES)
def scorer(request, encoder):
    return make_scorer(request.param)


def test_empty_batch(scorer):
    out = scorer.score([])
    assert out.shape == (0,) and out.dtype == np.float64


def test_edge_cases_stay_in_declared_range(scorer):
    out = scorer.score(CASES)
    lo, hi = scorer.range
    assert out.shape == (len(CASES),)
    assert np.all(np.isfinite(out))
    assert np.all(out >= lo - 1e-12) and np.all(out <= hi + 1e-12), out


def test_batch_equals_one_by_one(scorer):
    together = scorer.score(CASES)
    single = np.array([scorer.score([x])[0] for x in CASES])
    np.testing.assert_allclose(together, single, atol=1e-6)
    assert scorer(CASES[0].response, references=CASES[0].references, context=CASES[0].context,
                  history=CASES[0].history, facts=CASES[0].facts,
                  signals=CASES[0].signals) == pytest.approx(together[0], abs=1e-6)


def test_large_batch(scorer):
    rng = np.random.default_rng(0)
    words = "order shipped sorry refund delivered tracking thanks angry 订单 émoji 📦".split()
    unique = [item(" ".join(rng.choice(words, size=int(rng.integers(0, 12)))),
                   refs=(" ".join(rng.choice(words, size=6)),)) for _ in range(64)]
    big = unique * 5  # 320 items; repeats as in a vector env with similar replies
    out = scorer.score(big)
    assert out.shape == (320,)
    np.testing.assert_allclose(out[:64], out[256:])
    assert np.all(np.isfinite(out))
    lo, hi = scorer.range
    assert np.all((out >= lo - 1e-12) & (out <= hi + 1e-12))


def test_empty_reply_is_not_rewarded_over_a_real_one(scorer):
    if scorer.name in ("task_success", "rule_compliance", "logic_consistency"):
        # signal-driven scorers ignore wording; saying nothing contradicts nothing
        assert scorer.score([item("")])[0] == scorer.score([item("Hello there.")])[0]
        return
    good, empty = scorer.score([item("Your order A1234 has shipped with UPS."), item("")])
    assert empty <= good
    assert empty == scorer.range[0]


@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["a list"]])
def test_non_str_reply_raises_type_error_naming_the_field(bad):
    with pytest.raises(TypeError, match=r"ScoreInput\.response must be str"):
        ScoreInput(response=bad)


def test_non_str_fields_raise():
    with pytest.raises(TypeError, match=r"ScoreInput\.context must be str"):
        ScoreInput(context=1, response="x")
    with pytest.raises(TypeError, match=r"ScoreInput\.references must be a sequence of str"):
        ScoreInput(response="x", references="just one")
    with pytest.raises(TypeError, match=r"ScoreInput\.references must contain str"):
        ScoreInput(response="x", references=(1,))
    with pytest.raises(TypeError, match=r"ScoreInput\.history must contain Turn"):
        ScoreInput(response="x", history=("user: hi",))


def test_score_rejects_non_score_inputs(scorer):
    with pytest.raises(TypeError, match="expects a sequence of ScoreInput; item 0 is str"):
        scorer.score(["a reply"])


def test_call_with_non_str_reply_names_the_field(scorer):
    with pytest.raises(TypeError, match=r"ScoreInput\.response"):
        scorer(42)
