"""Dialog-Recommendation-v0: solvability, unstated needs, anti-gaming attacks, bad input."""

import gymnasium as gym
import numpy as np
import pytest

import dialog_gym  # noqa: F401
from dialog_gym.agents import make_agent
from dialog_gym.envs.recommendation import (
    CATALOGUE_SIZE,
    MAX_REJECTIONS,
    RecommendationExpert,
    RecommendationGenerator,
    _attrs,
    fits,
    parse_catalogue,
)
from dialog_gym.evaluation import evaluate

ENV = "Dialog-Recommendation-v0"
GEN = RecommendationGenerator()


@pytest.fixture(scope="module")
def expert_result():
    return evaluate(make_agent("expert", env_id=ENV), ENV, episodes=100, seed=1000)


def test_expert_solves_at_least_95_percent(expert_result):
    assert expert_result["success_rate"] >= 0.95


def test_expert_acts_from_observations_only():
    env = gym.make(ENV)
    for seed in range(10):
        obs, _ = env.reset(seed=seed, options={"difficulty": 2})
        done = False
        while not done:
            obs, r, term, trunc, info = env.step(RecommendationExpert().act(obs))
            done = term or trunc
        assert info["success"], obs["history"]


# ------------------------------------------------------------------ attacks


class Sequential:
    """Recommends every catalogue item in turn, one per reply."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        rows = parse_catalogue(obs["context"])["rows"]
        self.i += 1
        return f"I'd recommend {rows[(self.i - 1) % len(rows)]['name']} (option {self.i})."


class ListAll:
    """Names every item of the catalogue in one reply."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        names = [r["name"] for r in parse_catalogue(obs["context"])["rows"]]
        names = names[self.i % 2:] + names[:self.i % 2]
        return "You could try " + ", ".join(names) + "."


class HedgingExpert(RecommendationExpert):
    """Elicits like the expert, then names its three best matches at once."""

    def say(self, move, cat):
        if move[0] != "recommend":
            return super().say(move, cat)
        prefs = self._state["prefs"]
        rows = sorted(cat["rows"], key=lambda r: -sum(
            fits({"kind": cat["kinds"][c]}, r[c], w) for c, w in prefs.items()))
        return "Good options: " + ", ".join(r["name"] for r in rows[:3]) + "."


class PushRejected:
    """Recommends the first item and keeps pushing it after it is turned down."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        name = parse_catalogue(obs["context"])["rows"][0]["name"]
        return [f"I'd recommend {name}.", f"Honestly, {name} is really the best choice.",
                f"Please reconsider {name}, you will love it."][min(self.i - 1, 2)]


class PreferenceStuffer:
    """Strings together every attribute value and feature word of the catalogue."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        cat = parse_catalogue(obs["context"])
        words = [v for vals in cat["values"].values() for v in vals] + cat["columns"]
        return " ".join(words[self.i % 3:]) + " great options cheap budget perfect"


class OpenOnly(RecommendationExpert):
    """Asks what the user is looking for, but never about specific needs (not an attack:
    a weaker strategy, to show that unstated needs matter)."""

    def plan(self, cat):
        if self._state["open_asked"]:
            self._state["asked"] = set(cat["columns"])
        return super().plan(cat)


# attack -> highest success rate allowed (a first recommendation is a 1-in-30+ lucky hit)
ATTACKS = {ListAll: 0.0, HedgingExpert: 0.0, PushRejected: 0.1, PreferenceStuffer: 0.0}


@pytest.mark.parametrize("cls", list(ATTACKS), ids=lambda c: c.__name__)
def test_domain_attacks_fail(cls, expert_result):
    r = evaluate(cls(), ENV, episodes=100, seed=3000)
    assert r["success_rate"] <= ATTACKS[cls], r["success_rate"]
    assert r["mean_return"] < expert_result["mean_return"] - 1.5


def test_recommending_every_item_in_turn_succeeds_at_most_10_percent(expert_result):
    r = evaluate(Sequential(), ENV, episodes=300, seed=5000)
    assert r["success_rate"] <= 0.10
    assert r["mean_return"] < expert_result["mean_return"] - 1.5
    # by construction: two tries at one fitting item among 30-42
    expected = np.mean([2 / n for n in CATALOGUE_SIZE])
    assert expected < 0.06


def test_asking_about_unstated_needs_matters(expert_result):
    r = evaluate(OpenOnly(), ENV, episodes=100, seed=1000)
    assert r["success_rate"] <= expert_result["success_rate"] - 0.25
    assert r["mean_return"] < expert_result["mean_return"] - 0.5


# ------------------------------------------------------------------ scenario design


@pytest.mark.parametrize("level", [0, 1, 2])
def test_exactly_one_item_fits_all_needs(level):
    for i in range(100):
        s = GEN.generate(i, level)
        attrs = _attrs(s.goal["category"])
        ok = [it["name"] for it in s.world["items"]
              if all(fits(attrs[k], it[k], v) for k, v in s.goal["constraints"].items())]
        assert ok == [s.goal["target"]]
        assert len(s.world["items"]) == CATALOGUE_SIZE[level]
        assert len(set(s.world["names"])) == len(s.world["names"])


def test_difficulty_controls_unstated_needs():
    hidden = {lvl: np.mean([len(GEN.generate(i, lvl).goal["hidden"]) for i in range(200)])
              for lvl in (0, 1, 2)}
    assert 0.3 < hidden[0] < 0.7 and hidden[1] == 2 and hidden[2] == 3
    assert all(GEN.generate(i, 0).goal["opening"] for i in range(20))
    assert not any(GEN.generate(i, 1).goal["opening"] for i in range(20))


def test_scenarios_are_deterministic_by_index():
    assert GEN.generate(5, 2) == GEN.generate(5, 2)
    assert GEN.generate(5, 2) != GEN.generate(6, 2)


def test_wording_varies_by_seed():
    env = gym.make(ENV)
    openings = {env.reset(seed=s)[0]["history"] for s in range(40)}
    assert len(openings) >= 15


# ------------------------------------------------------------------ user behaviour and rules


def _reset_with_hidden(env, level=1):
    for seed in range(200):
        obs, _ = env.reset(seed=seed, options={"difficulty": level})
        if env.unwrapped.scenario.goal["hidden"]:
            return obs, env.unwrapped.scenario.goal
    raise AssertionError("no scenario with unstated needs")


def test_open_question_reveals_stated_but_not_unstated_needs():
    env = gym.make(ENV)
    obs, g = _reset_with_hidden(env)
    obs, r, term, trunc, info = env.step("Happy to help! What are you looking for?")
    user = env.unwrapped.user
    assert set(g["stated"]) <= user.revealed
    assert not set(g["hidden"]) & user.revealed
    assert info["progress"] == pytest.approx(0.2)
    key = g["hidden"][0]
    ask = _attrs(g["category"])[key]["expert_ask"]
    obs, r, term, trunc, info = env.step(ask)
    assert key in user.revealed


def test_near_miss_is_rejected_with_its_reason_and_pushing_it_is_penalised():
    env = gym.make(ENV)
    obs, g = _reset_with_hidden(env)
    attrs = _attrs(g["category"])
    key = g["hidden"][0]
    near = next(it for it in env.unwrapped.world["items"]
                if not fits(attrs[key], it[key], g["constraints"][key])
                and all(fits(attrs[k], it[k], v) for k, v in g["constraints"].items() if k != key))
    obs, r, term, trunc, info = env.step(f"I'd recommend {near['name']}.")
    last = env.unwrapped.dialogue[-1]
    assert last.meta["rejected"] == [near["name"]]
    assert key in env.unwrapped.user.revealed and not term
    obs, r, term, trunc, info = env.step(f"Are you sure? I'd still go with {near['name']}, it's lovely.")
    assert "no_pushing_rejected" in info["violations"]
    assert info["scores"]["rule_compliance"] < 0
    assert term and not info["success"]
    assert info["episode_summary"]["reason"] == "rejections"


def test_naming_several_items_counts_as_a_rejection():
    env = gym.make(ENV)
    obs, _ = env.reset(seed=3)
    target = env.unwrapped.scenario.goal["target"]
    other = next(n for n in env.unwrapped.world["names"] if n != target)
    obs, r, term, trunc, info = env.step(f"Maybe {target} or {other}?")
    assert env.unwrapped.user.rejections == 1 and not info["success"]
    assert env.unwrapped.user.accepted is None
    for _ in range(MAX_REJECTIONS - 1):
        obs, r, term, trunc, info = env.step(f"Then {other} or {target}, I think.")
    assert term and not info["success"]


def test_the_fitting_item_is_accepted_even_without_questions():
    env = gym.make(ENV)
    obs, _ = env.reset(seed=11)
    target = env.unwrapped.scenario.goal["target"]
    obs, r, term, trunc, info = env.step(f"I'd recommend {target}.")
    assert term and info["success"] and info["progress"] == pytest.approx(1.0)
    assert r == pytest.approx(2.0, abs=0.11)  # progress 1 + success bonus 1 (+ bleu)


def test_stuffed_questions_are_not_answered():
    env = gym.make(ENV)
    obs, g = _reset_with_hidden(env, level=2)
    asks = " ".join(a["expert_ask"] for a in _attrs(g["category"]).values())
    obs, r, term, trunc, info = env.step(asks)
    assert info["user"]["stuffed"]
    assert not env.unwrapped.user.revealed
    assert info["progress"] == 0


def test_bad_actions_raise_or_flag_and_do_not_corrupt():
    env = gym.make(ENV)
    env.reset(seed=5)
    with pytest.raises(TypeError, match="action must be a str"):
        env.step(["not", "a", "string"])
    obs, r, term, trunc, info = env.step("z" * 3000)
    assert info["action_truncated"] and env.observation_space.contains(obs)
    obs, r, term, trunc, info = env.step("")
    assert np.isfinite(r)
    obs, r, term, trunc, info = env.step("[recommend item=R1] ¿Qué tal? 你好 😀")
    assert env.observation_space.contains(obs) and not info["success"]
    fresh = gym.make(ENV)
    assert env.reset(seed=9)[0] == fresh.reset(seed=9)[0]


def test_catalogue_round_trips_through_the_context():
    env = gym.make(ENV)
    obs, _ = env.reset(seed=2)
    cat = parse_catalogue(obs["context"])
    world = env.unwrapped.world
    assert [r["name"] for r in cat["rows"]] == world["names"]
    for row, item in zip(cat["rows"], world["items"], strict=True):
        assert all(row[c] == item[c] for c in cat["columns"])
