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


def test_single_item_path_equals_batched_scores():
    """The per-item path used by a single env gives exactly the batched floats."""
    import math

    import numpy as np

    from dialog_gym.scorers import ScoreInput, WeightedSum
    from dialog_gym.scorers.base import _score_single
    from dialog_gym.scorers.bleu import BLEU
    from dialog_gym.scorers.task import RuleCompliance

    mix = WeightedSum({"task_success": 1.0, "rule_compliance": 1.0, "bleu": 0.1,
                       "length": 0.5})
    items = [ScoreInput(response=r, references=refs, signals=sig)
             for r, refs in [("the order shipped", ("the order shipped",)),
                             ("it shipped", ("the order shipped", "shipped")), ("", ("a",)),
                             ("no refs", ())]
             for sig in [{}, {"progress": 0.25, "success": 1.0}, {"failure": 1.0},
                         {"rule_penalty": 1.7}, {"rule_penalty": -0.0},
                         {"rule_penalty": math.nan}, {"rule_penalty": -3.0}]]
    for x in items:
        batched = {k: float(v[0]) for k, v in mix.score_terms([x]).items()}
        single = mix._score_terms_single(x)
        assert list(single) == list(batched)
        for k in batched:
            a, b = single[k], batched[k]
            assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a)
                                                         == math.copysign(1, b)), (k, x)

    class Doubled(BLEU):  # overrides _score only: the single path must go through it
        def _score(self, batch):
            return 2 * super()._score(batch)

    x = items[0]
    assert _score_single(Doubled(), x) == 2.0
    assert _score_single(RuleCompliance(), x) == float(RuleCompliance().score([x])[0])
    assert isinstance(RuleCompliance().score([x, x]), np.ndarray)
