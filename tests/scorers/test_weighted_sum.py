import gymnasium as gym
import numpy as np
import pytest

from dialog_gym.dialogue import Turn
from dialog_gym.scorers import ScoreInput, WeightedSum, list_scorers, make_scorer

BATCH = [
    ScoreInput(response="Your order A1234 has shipped.", references=("Your order has shipped.",),
               history=(Turn("user", "Where is my order? I'm upset."),),
               facts={"order_id": "A1234", "status": "shipped"},
               signals={"progress": 0.5, "success": 1.0, "rule_penalty": 0.3}),
    ScoreInput(response="", signals={"failure": 1.0, "rule_penalty": 2.0}),
    ScoreInput(response="Order Z0000 was delivered.", references=("Order A1234 shipped.",),
               facts={"order_id": "A1234", "status": "shipped"}),
]


@pytest.mark.parametrize("name", ["bleu", "rouge", "token_f1", "semantic", "emotion_consistency",
                                  "logic_consistency", "repetition", "length", "task_success",
                                  "rule_compliance"])
def test_normalize_maps_every_scorer_to_unit_interval(name, encoder):
    s = make_scorer(name)
    raw = s.score(BATCH)
    norm = WeightedSum([(s, 1.0)], normalize=True)
    out = norm.score(BATCH)
    lo, hi = s.range
    np.testing.assert_allclose(out, (raw - lo) / (hi - lo))
    assert np.all((out >= 0) & (out <= 1))


def test_normalized_mix_of_all_builtins(encoder):
    names = [n for n in list_scorers() if n in {
        "bleu", "rouge", "token_f1", "semantic", "emotion_consistency", "logic_consistency",
        "repetition", "length", "task_success", "rule_compliance"}]
    mix = WeightedSum({n: 1.0 for n in names}, normalize=True)
    out = mix.score(BATCH)
    assert np.all((out >= 0) & (out <= len(names)))
    terms = mix.score_terms(BATCH)
    assert set(terms) == set(names)
    np.testing.assert_allclose(mix.combine(terms), out)


def test_env_reward_is_one_argument(encoder):
    import dialog_gym  # noqa: F401
    from dialog_gym.agents import make_agent

    env = gym.make("Dialog-CustomerService-v0", reward={"rouge": 1.0, "semantic": 0.5})
    agent = make_agent("expert", env_id="Dialog-CustomerService-v0")
    obs, _ = env.reset(seed=1)
    _, reward, _, _, info = env.step(agent.act(obs))
    assert set(info["scores"]) == {"rouge", "semantic"}
    assert reward == pytest.approx(info["scores"]["rouge"] + 0.5 * info["scores"]["semantic"])
    # the expert's reply is the reference: both terms are maximal
    assert info["scores"]["rouge"] == pytest.approx(1.0)
    assert info["scores"]["semantic"] == pytest.approx(1.0, abs=1e-5)
    _, reward, _, _, info = env.step("Bananas are rich in potassium.")
    assert info["scores"]["rouge"] < 0.3 and info["scores"]["semantic"] < 0.3
