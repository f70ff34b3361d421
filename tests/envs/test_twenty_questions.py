"""Dialog-TwentyQuestions-v0: the knowledge base, the player's NLU, attacks, bad input."""

import re

import gymnasium as gym
import numpy as np
import pytest

import dialog_gym  # noqa: F401
from dialog_gym.agents import make_agent
from dialog_gym.envs.twenty_questions import (
    N_CANDIDATES,
    SPARE_GUESSES,
    Ask,
    TwentyQuestionsExpert,
    TwentyQuestionsGenerator,
    load_data,
    parse_ask,
    parse_board,
    value,
)
from dialog_gym.error import ResetNeeded
from dialog_gym.evaluation import evaluate

ENV = "Dialog-TwentyQuestions-v0"
KB = load_data()


@pytest.fixture(scope="module")
def results():
    out = {}
    for name in ["expert", "random", "keyword-stuffing", "echo", "repeat"]:
        out[name] = evaluate(make_agent(name, env_id=ENV), ENV, episodes=100, seed=1000)
    return out


def _candidates(obs):
    return parse_board(obs["context"])[0]


# ----------------------------------------------------------------------------- attackers


class SequentialGuesser:
    """Names the candidates in the order listed, one per turn."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        return f"Is it the {_candidates(obs)[self.i - 1]}?"


class Enumerator:
    """Names every candidate in one question."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        return f"Is it the {', the '.join(_candidates(obs))}? ({self.i})"


class AttributeStuffer:
    """Asks about every property at once, in well-formed English."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        qs = [q for _, q in parse_board(obs["context"])[1]]
        return " ".join(qs[self.i % 3::3])


class RandomGuesser:
    """Guesses a random entity of the whole knowledge base every turn."""

    def reset(self):
        self.rng = np.random.default_rng(0)

    def act(self, obs):
        names = list(KB["entities"])
        return f"My guess: the {names[int(self.rng.integers(len(names)))]}!"


class NeverGuesses(TwentyQuestionsExpert):
    """The expert's questions, but it never commits to a guess."""

    def act(self, obs):
        a = super().act(obs)
        return "Is it something you would find outdoors?" if a.startswith("Is it the ") else a


class LinearAsker(TwentyQuestionsExpert):
    """Plays correctly but asks the properties in the listed order (no splitting)."""

    def act(self, obs):
        cands, attrs, table = parse_board(obs["context"])
        st = self._parse(obs["history"], attrs)
        left = [c for c in cands if c not in st["wrong"] and all(
            table[c].get(a, "no") == v for a, v in st["known"].items())]
        if len(left) == 1:
            return f"Is it the {left[0]}?"
        for name, q in attrs:
            if name not in st["known"] and len({table[c].get(name, "no") for c in left}) > 1:
                return q
        return f"Is it the {left[0]}?"


ATTACKS = {"enumerator": Enumerator, "attribute-stuffer": AttributeStuffer,
           "random-guesser": RandomGuesser, "never-guesses": NeverGuesses}


# ----------------------------------------------------------------------------- knowledge base


def test_knowledge_base_size_and_identifiability():
    attrs, ents = KB["attributes"], KB["entities"]
    assert len(ents) >= 60 and len(attrs) >= 20
    vectors = {tuple(value(e, a) for a in attrs) for e in ents}
    assert len(vectors) == len(ents)  # every entity can be told apart by questions
    for name, a in attrs.items():
        assert a["question"].endswith("?") and a["patterns"] and a["yes"] and a["no"]
        assert parse_ask(a["question"]) == Ask("attr", name)
    for e in ents.values():
        assert set(e["yes"]) <= set(attrs) and set(e["sometimes"]) <= set(attrs)


def test_entity_names_never_read_as_properties():
    for name, e in KB["entities"].items():
        for alias in e["aliases"]:
            assert parse_ask(f"Is it the {alias}?") == Ask("guess", name), alias
            assert parse_ask(f"{alias.upper()}S?").kind == "guess"


# ----------------------------------------------------------------------------- NLU


@pytest.mark.parametrize("text,expected", [
    ("Can it fly?", Ask("attr", "fly")),
    ("CAN IT FLY", Ask("attr", "fly")),
    ("is it able to fly?", Ask("attr", "fly")),
    ("Flying: is that something it does?", Ask("attr", "fly")),
    ("Can't it fly?", Ask("attr", "fly")),
    ("OK, so it's an animal. Does it have fur?", Ask("attr", "fur")),
    ("Is it edible?", Ask("attr", "food")),
    ("Is it something people eat?", Ask("attr", "food")),
    ("Does it eat meat?", Ask("attr", "meat")),
    ("Would you find it in the ocean?", Ask("attr", "water")),
    ("Is it larger than a human?", Ask("attr", "large")),
    ("Tell me whether it lays eggs.", Ask("attr", "eggs")),
    ("Is it the PENGUIN?", Ask("guess", "penguin")),
    ("My guess is penguins.", Ask("guess", "penguin")),
    ("Is it a fridge?", Ask("guess", "refrigerator")),
    ("Is it an ice-cream?", Ask("guess", "ice cream")),
    ("Is it a dog or a cat?", Ask("several")),
    ("Is it a large animal?", Ask("several")),
    ("Can it fly? Does it swim?", Ask("several")),
    ("Is it red?", Ask("unknown")),
    ("Hello there!", Ask("statement")),
])
def test_question_understanding(text, expected):
    assert parse_ask(text) == expected


def test_answers_are_truthful_from_the_knowledge_base():
    env = gym.make(ENV)
    for seed in range(6):
        obs, _ = env.reset(seed=seed)
        target = env.unwrapped.scenario.goal["target"]
        for name, a in list(KB["attributes"].items())[seed::6][:5]:
            obs, r, term, trunc, info = env.step(a["question"].upper())
            answer = obs["history"].rsplit("\nPlayer: ", 1)[1].lower()
            truth = value(target, name)
            first = answer.split()[0].strip(",.:")
            assert first in {"yes": ("yes", "yep"), "no": ("no", "nope"),
                             "sometimes": ("sometimes",)}[truth], (name, answer)
            if term:
                break


def test_unknown_and_multiple_questions_get_no_answer():
    env = gym.make(ENV)
    obs, _ = env.reset(seed=1)
    obs, r, term, trunc, info = env.step("Is it purple?")
    assert "know" in obs["history"].rsplit("\n", 1)[1].lower()
    obs, r, term, trunc, info = env.step("Can it fly, and does it have legs?")
    last = obs["history"].rsplit("\n", 1)[1].lower()
    assert "one" in last and not last.startswith(("player: yes", "player: no"))
    assert "one_question" in info["violations"] and r < 0
    assert env.unwrapped.user.known == {}


# ----------------------------------------------------------------------------- game rules


def test_second_wrong_guess_loses_and_non_candidates_count():
    env = gym.make(ENV)
    obs, _ = env.reset(seed=4, options={"difficulty": 1})
    target = env.unwrapped.scenario.goal["target"]
    cands = _candidates(obs)
    outsider = next(e for e in KB["entities"] if e not in cands)
    wrong = next(c for c in cands if c != target)
    obs, r, term, trunc, info = env.step(f"Is it the {outsider}?")
    assert not term and "isn't even one of the candidates" in obs["history"]
    assert SPARE_GUESSES[1] == 1
    obs, r, term, trunc, info = env.step(f"Is it the {wrong}?")
    assert term and not info["success"]
    assert info["episode_summary"]["reason"] == "out_of_guesses"
    assert target in obs["history"].rsplit("\n", 1)[1]


def test_sequential_guessing_rarely_wins():
    r = evaluate(SequentialGuesser(), ENV, episodes=150, seed=6000)
    assert r["success_rate"] <= 0.10
    expected = [(s + 1) / n for s, n in zip(SPARE_GUESSES, N_CANDIDATES, strict=True)]
    assert np.mean(expected) <= 0.07


def test_no_spare_guess_at_the_hardest_level():
    env = gym.make(ENV)
    obs, _ = env.reset(seed=2, options={"difficulty": 2})
    assert "Your first wrong guess loses." in obs["context"]
    target = env.unwrapped.scenario.goal["target"]
    wrong = next(c for c in _candidates(obs) if c != target)
    obs, r, term, trunc, info = env.step(f"Is it the {wrong}?")
    assert term and info["episode_summary"]["reason"] == "out_of_guesses"


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_domain_attacks_fail(results, name):
    r = evaluate(ATTACKS[name](), ENV, episodes=40, seed=3000)
    assert r["success_rate"] <= 0.05, name
    assert r["mean_return"] < results["expert"]["mean_return"] - 1.0


def test_fewer_turns_earn_more():
    expert = evaluate(TwentyQuestionsExpert(), ENV, episodes=60, seed=7000)
    linear = evaluate(LinearAsker(), ENV, episodes=60, seed=7000)
    assert expert["success_rate"] >= 0.95 and linear["success_rate"] >= 0.8
    assert linear["mean_turns"] > expert["mean_turns"] + 1
    assert linear["ci95"][1] < expert["ci95"][0]  # every turn saved earns more
    env = gym.make(ENV)
    env.reset(seed=0)
    user = env.unwrapped.user
    lo, hi = env.unwrapped.scenario.goal["speed_turns"]
    speed = [m for m in user.milestones if m.name.startswith("won_by_turn_")]
    assert len(speed) == hi - lo + 1 and sum(m.weight for m in speed) == pytest.approx(0.5)


# ----------------------------------------------------------------------------- solvability


def test_expert_succeeds_in_at_least_90_percent(results):
    assert results["expert"]["success_rate"] >= 0.9


def test_random_succeeds_at_most_10_percent(results):
    assert results["random"]["success_rate"] <= 0.1


@pytest.mark.parametrize("probe", ["keyword-stuffing", "echo", "repeat"])
def test_degenerate_strategies_fail_and_earn_far_less(results, probe):
    r, e = results[probe], results["expert"]
    assert r["success_rate"] == 0.0
    assert r["ci95"][1] < e["ci95"][0] - 2.0
    assert r["mean_return"] < 0.0


def test_generator_is_deterministic_and_levels_differ():
    gen = TwentyQuestionsGenerator()
    assert gen.generate(3, 2) == gen.generate(3, 2)
    for lvl, n in enumerate(N_CANDIDATES):
        sc = gen.generate(11, lvl)
        assert len(sc.world["candidates"]) == n == len(set(sc.world["candidates"]))
        assert sc.goal["target"] in sc.world["candidates"]
    targets = {gen.generate(i, 1).goal["target"] for i in range(60)}
    assert len(targets) >= 35


def test_wording_varies_by_seed():
    env = gym.make(ENV)
    answers = set()
    for s in range(30):
        env.reset(seed=s)
        obs, *_ = env.step("Is it an animal?")
        answers.add(re.sub(r"it is (not )?an animal", "", obs["history"].split("\n")[-1]))
    assert len(answers) >= 4


# ----------------------------------------------------------------------------- bad input


def test_bad_actions_raise_or_flag_and_do_not_corrupt():
    env = gym.make(ENV)
    obs, info = env.reset(seed=5)
    with pytest.raises(TypeError, match="action must be a str"):
        env.step(3.5)
    with pytest.raises(TypeError, match="str"):
        env.step(None)
    obs2, r, term, trunc, info = env.step("Can it fly? " * 400)
    assert info["action_truncated"] is True and env.observation_space.contains(obs2)
    obs3, r, term, trunc, info = env.step("")
    assert np.isfinite(r) and info["user"]["empty"]
    obs4, r, term, trunc, info = env.step("Это животное? 你好 😀")
    assert env.observation_space.contains(obs4)
    fresh = gym.make(ENV)
    assert env.reset(seed=9)[0] == fresh.reset(seed=9)[0]


def test_step_after_end_raises_and_expert_wins_from_observations():
    env = gym.make(ENV).unwrapped
    with pytest.raises(ResetNeeded, match="before reset"):
        env.step("Can it fly?")
    obs, _ = env.reset(seed=3)
    expert = TwentyQuestionsExpert()
    term = False
    while not term:
        obs, r, term, trunc, info = env.step(expert.act(obs))
    assert info["success"] and info["episode_summary"]["reason"] == "goal_met"
    with pytest.raises(ResetNeeded, match="ended"):
        env.step("Is it the cat?")
