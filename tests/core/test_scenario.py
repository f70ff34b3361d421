import numpy as np
import pytest

from dialog_gym.error import ConfigError, ScenarioError
from dialog_gym.scenario import (
    AdversarialSampler,
    PrioritizedSampler,
    UniformSampler,
    make_sampler,
    make_scenario_id,
    parse_scenario_id,
)


def test_scenario_id_round_trip_and_errors():
    assert parse_scenario_id(make_scenario_id("shop", 42, 1)) == ("shop", 42, 1)
    with pytest.raises(ScenarioError, match="not of the form"):
        parse_scenario_id("shop/x/1")


def test_make_sampler_by_name_and_errors():
    assert isinstance(make_sampler("adversarial", pool_size=8), AdversarialSampler)
    with pytest.raises(ConfigError, match="Did you mean 'uniform'"):
        make_sampler("unifrom")
    with pytest.raises(TypeError):
        make_sampler(3)


def _draws(sampler, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return [sampler.sample(rng) for _ in range(n)]


def test_uniform_is_uniform_over_pool():
    counts = np.bincount(_draws(UniformSampler(pool_size=4)), minlength=4)
    assert counts.min() > 400


def test_prioritized_draws_low_return_scenarios_more_and_reports_weights():
    s = PrioritizedSampler(pool_size=4)
    for i, ret in enumerate([2.0, 2.0, 2.0, -1.0]):
        s.update(i, ret)
    counts = np.bincount(_draws(s), minlength=4)
    assert counts[3] > 3 * counts[0]
    rng = np.random.default_rng(1)
    while s.sample(rng) != 3:
        pass
    assert s.last_weight < 1.0  # over-sampled -> importance weight below 1


def test_adversarial_picks_the_worst_after_warmup():
    s = AdversarialSampler(pool_size=100, explore=0.0, warmup=3)
    for i, ret in [(5, 1.0), (9, -2.0), (11, 0.5)]:
        s.update(i, ret)
    assert set(_draws(s, 50)) == {9}


def test_sampler_state_round_trip():
    s = PrioritizedSampler(pool_size=10)
    s.update(3, 1.5)
    t = PrioritizedSampler(pool_size=10)
    t.load_state_dict(s.state_dict())
    assert t.returns == {3: 1.5} and t.counts == {3: 1}


def test_samplers_change_which_scenarios_the_env_draws():
    import gymnasium as gym

    import dialog_gym  # noqa: F401

    env = gym.make("Dialog-CustomerService-v0", sampler=AdversarialSampler(
        pool_size=50, explore=0.0, warmup=5))
    seen = []
    for seed in range(30):
        _, info = env.reset(seed=seed)
        seen.append(info["scenario_id"])
        env.step("")  # a bad reply; the user loses patience over time
        for _ in range(12):
            _, _, term, trunc, _ = env.step(f"Hello number {len(seen)} {_}")
            if term or trunc:
                break
    # after warm-up the adversarial sampler keeps returning to the few worst scenarios
    assert len(set(seen[10:])) <= 3
    env2 = gym.make("Dialog-CustomerService-v0", sampler=UniformSampler(pool_size=50))
    uniform = [env2.reset(seed=s)[1]["scenario_id"] for s in range(30)]
    assert len(set(uniform[10:])) > 10
