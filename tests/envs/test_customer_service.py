"""Dialog-CustomerService-v0: solvability, resistance to degenerate agents, bad input."""

import re

import gymnasium as gym
import numpy as np
import pytest

import dialog_gym  # noqa: F401
from dialog_gym.agents import make_agent
from dialog_gym.error import ResetNeeded
from dialog_gym.evaluation import evaluate

ENV = "Dialog-CustomerService-v0"


@pytest.fixture(scope="module")
def results():
    out = {}
    for name in ["expert", "random", "keyword-stuffing", "echo", "repeat"]:
        out[name] = evaluate(make_agent(name, env_id=ENV), ENV, episodes=100, seed=1000)
    return out


def test_expert_succeeds_in_at_least_90_percent(results):
    assert results["expert"]["success_rate"] >= 0.9


def test_random_succeeds_at_most_10_percent(results):
    assert results["random"]["success_rate"] <= 0.1


@pytest.mark.parametrize("probe", ["keyword-stuffing", "echo", "repeat"])
def test_degenerate_strategies_fail_and_earn_far_less(results, probe):
    r, e = results[probe], results["expert"]
    assert r["success_rate"] <= 0.1
    # "well below": the expert's CI lies far above the probe's
    assert r["ci95"][1] < e["ci95"][0] - 1.5
    assert r["mean_return"] < 0.0


class PoliteAsker:
    """Asks well-formed questions forever, never acts: the patience must run out."""

    lines = ["I'm sorry for the trouble. Could you give me your order number?",
             "Thanks! Could you share the email and zip code on the account?",
             "I understand. Which order is this about, please?",
             "Thank you for your patience. What is your email address?",
             "Could you confirm your postal code, please?"]

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        return self.lines[(self.i - 1) % len(self.lines)]


class ToolSpammer:
    """Copies every id, email and zip from the history into every write tool."""

    def reset(self):
        pass

    def act(self, obs):
        h = obs["history"]
        orders = set(re.findall(r"\b[A-Z]\d{4}\b", h))
        email = re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", h)
        zips = re.findall(r"(?<!\d)\d{5}(?!\d)", h)
        calls = []
        if email and zips:
            calls.append(f"[verify_identity email={email[-1]} zip={zips[-1]}]")
            calls.append(f"[reset_password email={email[-1]}]")
        for o in orders:
            calls += [f"[lookup_order order={o}]", f"[cancel_order order={o}]",
                      f'[escalate order={o} reason="x"]']
        return ("Could you give me your order number and your email and zip code? "
                "I have cancelled and refunded everything. " + " ".join(calls))


class FakeClaimer:
    """Says the right-sounding words ("refunded", "cancelled", "reset link", a tracking
    number shape) without doing anything."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        return [
            "Your order has shipped; the tracking number is 1ZABC1234567.",
            "I've refunded $49.99 to your card and cancelled the order.",
            "I've sent a password reset link to your email.",
            "The order was delivered on 2026-01-05 and I escalated your case.",
        ][self.i % 4] + f" (ref {self.i})"


@pytest.mark.parametrize("cls", [PoliteAsker, ToolSpammer, FakeClaimer])
def test_stronger_adversaries_fail(results, cls):
    r = evaluate(cls(), ENV, episodes=60, seed=2000)
    assert r["success_rate"] <= 0.1, r["success_rate"]
    assert r["mean_return"] < results["expert"]["mean_return"] - 1.0


def test_success_requires_the_right_database_state():
    env = gym.make(ENV)
    expert = make_agent("expert", env_id=ENV)
    # find a standard refund scenario
    for seed in range(200):
        obs, info = env.reset(seed=seed)
        g = env.unwrapped.scenario.goal
        if g["type"] == "refund" and g["outcome"] == "standard":
            break
    expert.reset()
    done = False
    while not done:
        action = expert.act(obs)
        if "[refund " in action:  # refund one cent less than the item's price
            amount = re.search(r"amount=([\d.]+)", action).group(1)
            action = action.replace(f"amount={amount}", f"amount={float(amount) - 0.01:.2f}")
        obs, r, term, trunc, info = env.step(action)
        done = term or trunc
    assert not info["success"]


def test_bad_actions_raise_or_flag_and_do_not_corrupt():
    env = gym.make(ENV)
    obs, info = env.reset(seed=5)
    with pytest.raises(TypeError, match="action must be a str"):
        env.step(42)
    with pytest.raises(TypeError, match="str"):
        env.step(None)
    obs2, r, term, trunc, info = env.step("x" * 5000)
    assert info["action_truncated"] is True
    assert env.observation_space.contains(obs2)
    obs3, r, term, trunc, info = env.step("")
    assert info["action_truncated"] is False
    assert np.isfinite(r)
    obs4, r, term, trunc, info = env.step("Привет! 你好 😀 ¿Cómo puedo ayudarle?")
    assert env.observation_space.contains(obs4)
    # a later episode with the same seed is unaffected by the bad ones
    fresh = gym.make(ENV)
    assert env.reset(seed=9)[0] == fresh.reset(seed=9)[0]


def test_step_after_end_and_before_reset_raise_clear_errors():
    env = gym.make(ENV).unwrapped
    with pytest.raises(ResetNeeded, match="before reset"):
        env.step("hi")
    obs, _ = env.reset(seed=3)
    expert = make_agent("expert", env_id=ENV)
    term = False
    while not term:
        obs, r, term, trunc, info = env.step(expert.act(obs))
    assert "episode_summary" in info
    with pytest.raises(ResetNeeded, match="ended"):
        env.step("hello again")
    env.reset(seed=4)
    obs, r, term, trunc, info = env.step("Hello!")
    assert info["scenario_id"]


def test_malformed_tool_calls_are_reported_in_the_observation():
    env = gym.make(ENV)
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step(
        "Let me check. [lookup_ordr order=A1] [lookup_order] [refund order=A1 amount=abc]")
    h = obs["history"]
    assert "unknown tool 'lookup_ordr'" in h and "Did you mean 'lookup_order'" in h
    assert "missing argument(s) order" in h
    assert "not a valid float" in h


def test_card_number_leak_ends_episode_as_failure():
    env = gym.make(ENV)
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step("Your card is 4111 1111 1111 1111.")
    assert term and not info["success"]
    assert "no_card_number" in info["violations"]
    assert info["scores"]["rule_compliance"] == -1.0


def test_write_before_verification_is_blocked_and_penalised():
    env = gym.make(ENV)
    for seed in range(100):
        obs, _ = env.reset(seed=seed)
        if env.unwrapped.scenario.goal["type"] == "cancel":
            break
    oid = env.unwrapped.scenario.goal["order"]
    obs, r, term, trunc, info = env.step(f"Cancelling now. [cancel_order order={oid}]")
    assert "verify_before_action" in info["violations"]
    assert "blocked by rule verify_before_action" in obs["history"]
    assert env.unwrapped.world["log"] == []
    assert r < 0


def test_reward_swap_is_one_argument():
    env = gym.make(ENV, reward={"bleu": 1.0, "task_success": 0.5})
    env.reset(seed=0)
    _, r, _, _, info = env.step("Hello, could you give me your order number?")
    assert set(info["scores"]) == {"bleu", "task_success"}
    assert r == pytest.approx(info["scores"]["bleu"] + 0.5 * info["scores"]["task_success"])


def test_reset_options_scenario_id_replays_and_difficulty_applies():
    env = gym.make(ENV)
    _, info = env.reset(seed=11)
    sid = info["scenario_id"]
    obs_a, _ = env.reset(seed=1, options={"scenario_id": sid})
    assert env.unwrapped.scenario.id == sid
    _, info = env.reset(seed=2, options={"difficulty": 2})
    assert info["difficulty"] == 2 and info["scenario_id"].endswith("/2")
    with pytest.raises(dialog_gym.error.ConfigError, match="unknown reset option"):
        env.reset(options={"dificulty": 1})
    with pytest.raises(dialog_gym.error.ScenarioError, match="not of the form"):
        env.reset(options={"scenario_id": "nonsense"})


def test_render_modes():
    env = gym.make(ENV, render_mode="ansi")
    env.reset(seed=0)
    env.step("Hello! Could you share your order number?")
    text = env.render()
    assert "Customer:" in text and "Agent: Hello!" in text
    with pytest.raises(dialog_gym.error.ConfigError, match="render_mode"):
        gym.make(ENV, render_mode="rgb_array")


def test_record_episode_statistics_wrapper_coexists():
    env = gym.wrappers.RecordEpisodeStatistics(gym.make(ENV))
    expert = make_agent("expert", env_id=ENV)
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        obs, r, term, trunc, info = env.step(expert.act(obs))
        done = term or trunc
    assert info["episode"]["r"] == pytest.approx(info["episode_summary"]["return"])


def test_wording_varies_by_seed():
    env = gym.make(ENV, difficulty=1)
    openings = {env.reset(seed=s)[0]["history"].split(": ", 1)[1] for s in range(40)}
    assert len(openings) >= 30


def test_user_rules_are_appended():
    from dialog_gym.rules import ForbiddenContent

    env = gym.make(ENV, rules=[ForbiddenContent("no_competitor", [r"\bamazon\b"])])
    env.reset(seed=0)
    _, r, _, _, info = env.step("You could just buy it on Amazon.")
    assert "no_competitor" in info["violations"]
