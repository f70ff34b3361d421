import gymnasium as gym
import numpy as np
import pytest

from dialog_gym.dialogue import Turn
from dialog_gym.error import ConfigError
from dialog_gym.scorers import ScoreInput
from dialog_gym.scorers.logic import LogicConsistency, extract, infer_fact_type

#: Accuracy floor of the labelled set. Measured: 44/46 = 0.957 (the two misses are
#: free-text contradictions that need an NLI model); first measurement of cases l01-l36
#: was 31/36 before three extraction bugs they exposed were fixed, and 9/10 on the fresh
#: cases l37-l46 written after the fixes.
FLOOR = 0.85


def _mk(c, reply):
    return ScoreInput(context=c.get("context", ""), facts=c["facts"], response=reply,
                      history=tuple(Turn(s, t) for s, t in c["history"]))


def test_labelled_set_accuracy(load_cases):
    cases = load_cases("logic_cases.jsonl")
    assert len(cases) >= 30 and len({c["id"] for c in cases}) == len(cases)
    s = LogicConsistency()
    g = s.score([_mk(c, c["good"]) for c in cases])
    b = s.score([_mk(c, c["bad"]) for c in cases])
    acc = float(np.mean(g > b))
    print(f"logic_consistency labelled accuracy: {acc:.3f} on {len(cases)} cases")
    assert acc >= FLOOR
    assert np.all(g >= b)  # a good reply never scores below its bad twin


def test_expert_replies_are_consistent():
    """The scripted expert states only true facts: no contradiction in 120 episodes."""
    import dialog_gym  # noqa: F401
    from dialog_gym.agents import make_agent

    env = gym.make("Dialog-CustomerService-v0", reward={"logic_consistency": 1.0})
    agent = make_agent("expert", env_id="Dialog-CustomerService-v0")
    scores = []
    for seed in range(120):
        obs, _ = env.reset(seed=seed)
        agent.reset()
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(agent.act(obs))
            scores.append(info["scores"]["logic_consistency"])
            done = term or trunc
    assert len(scores) > 300 and min(scores) == 1.0


def test_wrong_facts_in_a_real_episode_are_caught():
    import dialog_gym  # noqa: F401

    env = gym.make("Dialog-CustomerService-v0", reward={"logic_consistency": 1.0})
    obs, _ = env.reset(seed=3)
    facts = env.unwrapped._facts
    wrong_id = "Z" + facts["order_id"][1:] if facts["order_id"][0] != "Z" else "Y0000"
    _, _, _, _, info = env.step(f"Your order {wrong_id} was refunded $999.99.")
    assert info["scores"]["logic_consistency"] == 0.25  # invented id and amount


def test_explain_and_extract():
    s = LogicConsistency()
    x = ScoreInput(response="Order A1234 was delivered on May 3 to Ms. Li.",
                   facts={"order_id": "A1234", "status": "shipped", "customer_name": "Ann Lee"})
    why = s.explain(x)
    assert {(c.kind, c.type) for c in why} == {("fact", "status"), ("fact", "name")}
    assert "contradicts status shipped" in why[0].message or \
        "contradicts status shipped" in why[1].message
    kinds = [m.type for m in extract("Refund of $5 to card ending in 1234 via FedEx on "
                                     "2026-01-02 for a@b.co, zip code 12345.")]
    assert kinds == ["carrier", "money", "last4", "email", "zip", "date"]


def test_fact_types_inferred_and_overridden():
    assert infer_fact_type("order_id", "A1234") == "order_id"
    assert infer_fact_type("tracking", "1ZABC1234567") == "tracking"
    assert infer_fact_type("refund_limit", 200.0) == "money"
    assert infer_fact_type("status", "shipped") == "status"
    assert infer_fact_type("card_last4", "0363") == "last4"
    assert infer_fact_type("today", "2026-01-01") == "date"
    assert infer_fact_type("item", "lamp") is None
    s = LogicConsistency(fact_types={"booking": "order_id"})
    assert s("Booking QX778 is confirmed.", facts={"booking": "QX777"}) == 0.5
    with pytest.raises(ConfigError, match="fact_types"):
        LogicConsistency(fact_types={"x": "colour"})


def test_relative_dates_said_by_the_user_ground_the_reply():
    s = LogicConsistency()
    facts = {"today": "2026-07-25", "date": "2026-08-03"}  # 2026-07-25 is a Saturday
    hist = [Turn("user", "Add an event tomorrow, and another one next Monday.")]
    assert s("Booked for July 26 and July 27.", facts=facts, history=hist) == 1.0
    assert s("Booked for July 28.", facts=facts, history=hist) == 0.5
    # "today" can also come from the context
    assert s("Booked for July 26.", facts={"date": "2026-08-03"}, history=hist,
             context="Today is 2026-07-25.") == 1.0


def test_no_facts_nothing_to_contradict():
    s = LogicConsistency()
    assert s("Your order B7777 shipped on 2026-03-03 for $12.00.") == 1.0
    assert s("") == 1.0
    assert s("Hi Ann") == 1.0


def test_nli_model_path(tiny_models):
    s = LogicConsistency(nli_model=tiny_models["nli"])
    hist = (Turn("agent", "Returns are free."),)
    batch = [ScoreInput(response="You must pay for returns.", history=hist,
                        facts={"order_id": "A1234"}),
             ScoreInput(response="Order B9999 shipped.", facts={"order_id": "A1234"}),
             ScoreInput(response="")]
    out = s.score(batch)
    assert np.all((out >= 0) & (out <= 1))
    assert out[0] < 1.0  # a random model still gives some contradiction probability
    assert out[1] < 0.5  # the typed check still applies (invented order id)
    assert out[2] == 1.0
    assert "nli:" in s.signature()


def test_nli_model_needs_a_contradiction_label(tiny_models):
    s = LogicConsistency(nli_model=tiny_models["unmapped"])
    with pytest.raises(ConfigError, match="expected one starting with 'contradiction'"):
        s("Order shipped.", history=[Turn("agent", "It is processing.")])


def test_bad_config():
    with pytest.raises(ConfigError, match="penalty"):
        LogicConsistency(penalty=0)
