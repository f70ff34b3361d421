import warnings

import numpy as np
import pytest

from dialog_gym.dialogue import Turn
from dialog_gym.error import ConfigError, PluginError, RegistryError
from dialog_gym.registry import Registry
from dialog_gym.scorers import ScoreInput, Scorer, WeightedSum, list_scorers, make_scorer


def test_registry_lazy_strings_and_errors():
    reg = Registry("thing", "dialog_gym.test_group_nonexistent")
    reg.register("dumps", "json:dumps")
    reg.register("broken", "no_such_module_xyz:Thing")
    assert reg.make("dumps", obj=[1]) == "[1]"
    with pytest.raises(RegistryError, match="Did you mean 'dumps'"):
        reg.resolve("dump")
    with pytest.raises(PluginError, match="broken") as e:
        reg.resolve("broken")
    assert isinstance(e.value.__cause__, ModuleNotFoundError)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = reg.names(check=True)
    assert names == ["dumps"]
    assert any("broken" in str(w.message) for w in caught)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("dumps", "json:loads")


def test_builtin_scorers_listed():
    assert {"bleu", "task_success", "rule_compliance"} <= set(list_scorers())


def test_score_input_validates_types():
    with pytest.raises(TypeError, match="response must be str"):
        ScoreInput(response=None)
    with pytest.raises(TypeError, match="references must be a sequence of str"):
        ScoreInput(response="x", references="single")
    with pytest.raises(TypeError, match="history must contain Turn"):
        ScoreInput(response="x", history=("hi",))
    x = ScoreInput(response="x", history=[Turn("user", "hi")], references=["a"])
    assert isinstance(x.history, tuple) and x.references == ("a",)


@pytest.mark.parametrize("name", ["bleu", "task_success", "rule_compliance"])
def test_scorers_handle_batch_sizes_and_unicode(name):
    s = make_scorer(name)
    assert s.score([]).shape == (0,)
    items = [ScoreInput(response=r, references=("Your order has shipped.",),
                        signals={"progress": 0.25, "rule_penalty": 0.2})
             for r in ["", "Ваш заказ отправлен 😀", "shipped " * 5000, "Your order has shipped."]]
    out = s.score(items * 50)
    assert out.shape == (200,) and np.all(np.isfinite(out))
    lo, hi = s.range
    assert np.all(out >= lo - 1e-9) and np.all(out <= hi + 1e-9)
    with pytest.raises(TypeError, match="ScoreInput"):
        s.score(["not an input"])


def test_bleu_matches_sacrebleu():
    import sacrebleu

    hyp, ref = "I've refunded $49.99 to your card.", "I have refunded $49.99 to your card."
    assert make_scorer("bleu")(hyp, references=[ref]) == pytest.approx(
        sacrebleu.sentence_bleu(hyp, [ref]).score / 100, abs=1e-9)


def test_task_success_and_rule_compliance_values():
    ts, rc = make_scorer("task_success"), make_scorer("rule_compliance")
    assert ts("x", signals={"progress": 0.5, "success": 1.0}) == pytest.approx(1.5)
    assert ts("x", signals={"failure": 1.0}) == pytest.approx(-0.5)
    assert rc("x", signals={"rule_penalty": 3.0}) == -1.0
    assert rc("x") == 0.0


def test_weighted_sum_terms_normalisation_and_errors():
    mix = WeightedSum({"task_success": 2.0, "rule_compliance": 1.0})
    x = ScoreInput(response="x", signals={"progress": 0.5, "rule_penalty": 0.2})
    terms = mix.score_terms([x])
    assert terms["task_success"][0] == pytest.approx(0.5)
    assert mix.score([x])[0] == pytest.approx(2 * 0.5 - 0.2)
    norm = WeightedSum({"rule_compliance": 1.0}, normalize=True)
    assert norm.score([x])[0] == pytest.approx(0.8)
    with pytest.raises(ConfigError):
        WeightedSum({})
    with pytest.raises(ConfigError, match="finite"):
        WeightedSum({"bleu": float("nan")})
    with pytest.raises(RegistryError, match="Did you mean 'bleu'"):
        WeightedSum({"bleuu": 1.0})
    assert "task_success" in mix.signature()


def test_scorer_output_shape_is_checked():
    class Bad(Scorer):
        name = "bad"

        def _score(self, batch):
            return np.zeros(len(batch) + 1)

    with pytest.raises(RuntimeError, match="shape"):
        Bad().score([ScoreInput(response="x")])


def test_weighted_sum_terms_can_carry_scorer_arguments():
    import gymnasium as gym

    import dialog_gym  # noqa: F401

    mix = WeightedSum({"bleu": {"weight": 2.0, "lowercase": True}})
    assert mix.weights == {"bleu": 2.0} and mix.terms[0][1].lowercase is True
    with pytest.raises(ConfigError, match="needs a 'weight'"):
        WeightedSum({"bleu": {"lowercase": True}})
    env = gym.make("Dialog-CustomerService-v0", reward={"rouge": {"weight": 1.0,
                                                                  "variant": "rouge2"}})
    env.reset(seed=0)
    _, r, *_, info = env.step("Hello, could you give me your order number?")
    assert set(info["scores"]) == {"rouge"} and r == pytest.approx(info["scores"]["rouge"])
