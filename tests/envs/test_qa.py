"""Dialog-QA-v0: solvability, the judge's robustness, domain attacks, bad input."""

import json
import re

import gymnasium as gym
import numpy as np
import pytest

import dialog_gym  # noqa: F401
from dialog_gym.agents import make_agent
from dialog_gym.envs.qa import (
    QADomain,
    QAExpert,
    QAGenerator,
    int_values,
    judge,
    load_data,
    parse_passage,
)
from dialog_gym.error import ResetNeeded
from dialog_gym.evaluation import evaluate
from dialog_gym.tools import ToolSet

ENV = "Dialog-QA-v0"


@pytest.fixture(scope="module")
def results():
    out = {}
    for name in ["expert", "random", "keyword-stuffing", "echo", "repeat"]:
        out[name] = evaluate(make_agent(name, env_id=ENV), ENV, episodes=100, seed=1000)
    return out


def _world(scenario):
    return json.loads(json.dumps(dict(scenario.world)))


# ----------------------------------------------------------------------------- attackers


def _passage(obs):
    return obs["context"].split("\nPassage:\n", 1)[1].split("\nRules:", 1)[0]


class PassageCopier:
    """Answers every question with the whole passage."""

    def reset(self):
        pass

    def act(self, obs):
        return _passage(obs).replace("\n\n", " ")


class ValueLister:
    """Lists every number and capitalised name of the passage, in a sentence."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        p = _passage(obs)
        values = list(dict.fromkeys(re.findall(r"\d[\d,]*\d|\d|[A-Z][a-z]+(?: [A-Z][a-z]+)?", p)))
        return f"The answer is one of these ({self.i}): " + ", ".join(values) + "."


def _type_of(attr):
    return next(a["type"] for k in load_data()["kinds"].values()
                for n, a in k["attributes"].items() if n == attr)


def _values_of_type(obs, t):
    kinds = load_data()["kinds"]
    return [v for e in parse_passage(obs["context"]).values() for n, v in e["attrs"].items()
            if kinds[e["kind"]]["attributes"][n]["type"] == t]


class Hedger:
    """The expert's answer plus a second candidate value of the asked type from the
    passage (or a made-up one), and a guess next to every decline."""

    made_up = {"year": "1777", "count": "57", "person": "Bartholomew Quince",
               "place": "Snowbridge", "thing": "brass telescopes"}

    def __init__(self):
        self.expert = QAExpert()

    def reset(self):
        self.expert.reset()

    def act(self, obs):
        ans = self.expert.act(obs)
        t = _type_of(self.expert._state["q"][1])
        other = [v for v in _values_of_type(obs, t) if v not in ans] or [self.made_up[t]]
        if "does not" in ans:
            return f"{ans} Maybe {other[0]}, though."
        return f"{ans[:-1]}, or possibly {other[0]}."


class AlwaysAnswer:
    """Never declines: for a question the passage leaves open it gives another value of
    the same type from the passage (what a hallucinating model does)."""

    def __init__(self):
        self.expert = QAExpert()

    def reset(self):
        self.expert.reset()

    def act(self, obs):
        ans = self.expert.act(obs)
        if "does not" not in ans:
            return ans
        attr = self.expert._state["q"][1]
        for e in parse_passage(obs["context"]).values():
            if attr in e["attrs"]:  # the same detail of another entity
                return f"It is {e['attrs'][attr]}."
        same = _values_of_type(obs, _type_of(attr))
        return f"It is {same[0]}." if same else "It is 1850."


class AlwaysDecline:
    """Says the passage does not say, whatever the question."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        return f"I'm sorry, the passage does not say (#{self.i})."


class FirstEntity(QAExpert):
    """The expert without coreference: every pronoun and ellipsis means the first entity."""

    def _resolve(self, ref, kb):
        name = super()._resolve(ref, kb)
        if ref.strip().lower().split("'")[0] in {"it", "its", "she", "her", "he", "him",
                                                   "his", "the company", "the firm",
                                                   "the town"}:
            return next(iter(kb))
        return name

    def _question(self, sentence, kb):
        r = super()._question(sentence, kb)
        if r is not None and self._state.get("q") and r[1] == self._state["q"][1] \
                and r[0] != self._state["q"][0] and not re.search(
                    r"^(?:when|where|who|what|which|how|in)\b", sentence.split(": ")[-1].strip(),
                    re.I):
            return (next(iter(kb)), r[1])  # "What about X?" read as the first entity
        return r


class Contradictor:
    """The expert's answer with the number changed or the name swapped for another."""

    def __init__(self):
        self.expert = QAExpert()

    def reset(self):
        self.expert.reset()

    def act(self, obs):
        ans = self.expert.act(obs)
        m = re.search(r"\d[\d,]*", ans)
        if m:
            n = int(m.group(0).replace(",", "")) + 3
            return ans[:m.start()] + str(n) + ans[m.end():]
        return "It was Bartholomew Quince, in Snowbridge, making glass spoons."


ATTACKS = {"passage-copier": PassageCopier, "value-lister": ValueLister, "hedger": Hedger,
           "always-decline": AlwaysDecline, "contradictor": Contradictor}


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


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_domain_attacks_fail(results, name):
    r = evaluate(ATTACKS[name](), ENV, episodes=60, seed=3000)
    assert r["success_rate"] == 0.0, name
    assert r["mean_return"] < results["expert"]["mean_return"] - 2.0


def test_answering_unanswerable_questions_with_a_passage_value_fails():
    r = evaluate(AlwaysAnswer(), ENV, episodes=90, seed=4000)
    by_scenario = {}
    gen = QAGenerator()
    for rec in r["records"]:
        _, idx, lvl = rec["scenario_id"].split("/")
        by_scenario[rec["scenario_id"]] = (gen.generate(int(idx), int(lvl)).goal["unanswerable"],
                                           rec["success"])
    with_unans = [s for n, s in by_scenario.values() if n > 0]
    without = [s for n, s in by_scenario.values() if n == 0]
    assert len(with_unans) >= 60 and not any(with_unans)
    assert all(without)  # it is the expert otherwise: the failures are the inventions
    assert r["success_rate"] <= 0.25


def test_coreference_matters():
    blind = evaluate(FirstEntity(), ENV, episodes=60, seed=5000, env_kwargs={"difficulty": 2})
    expert = evaluate(QAExpert(), ENV, episodes=60, seed=5000, env_kwargs={"difficulty": 2})
    assert expert["success_rate"] >= 0.9
    assert blind["success_rate"] <= expert["success_rate"] - 0.3


def test_contradiction_is_penalised_and_fails_the_question():
    env = gym.make(ENV)
    ans = Contradictor()
    for seed in range(50):  # a scenario whose first question the passage answers
        obs, _ = env.reset(seed=seed, options={"difficulty": 0})
        if env.unwrapped.world["questions"][0]["answer"] is not None:
            break
    ans.reset()
    obs, r, term, trunc, info = env.step(ans.act(obs))
    assert "passage_consistency" in info["violations"]
    assert info["scores"]["rule_compliance"] <= -0.5 and r < 0
    assert env.unwrapped.world["current"] == 1  # the reader moved on: that question failed
    expert = QAExpert()
    done = False
    while not done:
        obs, r, term, trunc, info = env.step(expert.act(obs))
        done = term or trunc
    assert not info["success"] and info["episode_summary"]["reason"] == "wrong_answers"


# ----------------------------------------------------------------------------- the judge


@pytest.fixture(scope="module")
def sample():
    gen = QAGenerator()
    out = []
    for i in range(40):
        sc = gen.generate(i, i % 3)
        w = _world(sc)
        out += [(q, w, sc) for q in w["questions"]]
    return out


def test_judge_accepts_the_right_value_in_any_casing_and_form(sample):
    n = 0
    for q, w, _ in sample:
        gold = q["answer"]
        if gold is None:
            continue
        forms = [gold, gold.upper(), gold.lower(), f"I believe it's {gold}!",
                 f"According to the passage: {gold.lower()}."]
        if q["type"] == "count":
            forms.append(gold.replace(",", ""))
        if q["type"] == "person":
            forms += [gold.split()[-1], gold.split()[0].upper()]
        for f in forms:
            assert judge(f, q, w).kind == "correct", (f, q)
            n += 1
    assert n > 200


def test_number_words_and_separators_are_read():
    assert int_values("twelve shops, twenty-one bridges, 4,310 people, 4310") == [
        4310, 4310, 12, 21]


def test_judge_rejects_hedges_dumps_and_declines_of_answerable_questions(sample):
    for q, w, sc in sample:
        passage = " ".join(sc.context["passage"])
        assert judge(passage, q, w).kind == "dump"
        if q["answer"] is None:
            assert judge("I'm afraid the text doesn't mention that.", q, w).kind == "correct"
            assert judge("Not stated, but probably 1850.", q, w).kind == "hedge"
            continue
        assert judge("The passage does not say.", q, w).kind == "declined"
        assert judge("Hello there, happy to help!", q, w).kind == "none"
        others = [v for e in w["entities"] for a, v in e["attrs"].items()
                  if load_data()["kinds"][e["kind"]]["attributes"][a]["type"] == q["type"]
                  and v != q["answer"]]
        if others:
            assert judge(f"It is {q['answer']} or {others[0]}.", q, w).kind == "hedge"
            assert judge(f"It is {others[0]}.", q, w).kind == "wrong"


def test_made_up_values_for_unanswerable_questions_are_wrong(sample):
    made_up = {"year": "It was in 1777.", "count": "There are 57 of them.",
               "person": "That was Bartholomew Quince.", "place": "It is in Snowbridge.",
               "thing": "They are known for their brass telescopes."}
    n = 0
    for q, w, _ in sample:
        if q["answer"] is None:
            assert judge(made_up[q["type"]], q, w).kind == "wrong", q
            n += 1
    assert n >= 20


def test_the_expert_reads_every_passage_exactly():
    gen = QAGenerator()
    for i in range(150):
        sc = gen.generate(i, i % 3)
        ctx = QADomain().render_context(sc, QADomain().rulebook(), ToolSet())
        kb = parse_passage(ctx)
        assert {n: e["attrs"] for n, e in kb.items()} == {
            e["name"]: e["attrs"] for e in sc.world["entities"]}, sc.id


# ----------------------------------------------------------------------------- generator


def test_generator_is_deterministic_and_levels_differ():
    gen = QAGenerator()
    assert gen.generate(5, 1) == gen.generate(5, 1)
    for lvl, k in ((0, 3), (1, 4), (2, 5)):
        scs = [gen.generate(i, lvl) for i in range(30)]
        assert all(len(s.world["questions"]) == k for s in scs)
        unans = [s.goal["unanswerable"] for s in scs]
        if lvl == 0:
            assert 0 in unans and 1 in unans
        else:
            assert min(unans) >= 1
    multi = [gen.generate(i, 2) for i in range(30)]
    assert all(len(s.world["entities"]) >= 2 for s in multi)
    forms = {q["form"] for s in multi for q in s.world["questions"]}
    assert forms == {"name", "pronoun", "ellipsis"}
    assert any(q["unknown_entity"] for s in multi for q in s.world["questions"])


def test_wording_varies_by_seed():
    env = gym.make(ENV, difficulty=1)
    openings = set()
    for s in range(40):
        openings.add(env.reset(seed=s)[0]["history"])
    assert len(openings) >= 35
    gen = QAGenerator()
    # the same facts are worded differently across scenarios
    starts = {p.split(" ", 2)[-1][:25] for i in range(30)
              for p in gen.generate(i, 0).context["passage"]}
    assert len(starts) >= 20


# ----------------------------------------------------------------------------- bad input


def test_bad_actions_raise_or_flag_and_do_not_corrupt():
    env = gym.make(ENV)
    obs, info = env.reset(seed=5)
    with pytest.raises(TypeError, match="action must be a str"):
        env.step(42)
    with pytest.raises(TypeError, match="str"):
        env.step(["1843"])
    obs2, r, term, trunc, info = env.step("9" * 5000)
    assert info["action_truncated"] is True
    assert env.observation_space.contains(obs2)
    if not term:
        obs3, r, term, trunc, info = env.step("")
        assert np.isfinite(r) and info["user"]["empty"]
    if not term:
        obs4, r, term, trunc, info = env.step("Привет! 你好 😀 ¿Cuándo?")
        assert env.observation_space.contains(obs4)
    fresh = gym.make(ENV)
    assert env.reset(seed=9)[0] == fresh.reset(seed=9)[0]


def test_step_after_end_and_before_reset_raise_clear_errors():
    env = gym.make(ENV).unwrapped
    with pytest.raises(ResetNeeded, match="before reset"):
        env.step("hi")
    obs, _ = env.reset(seed=3)
    expert = QAExpert()
    term = False
    while not term:
        obs, r, term, trunc, info = env.step(expert.act(obs))
    assert info["success"] and info["episode_summary"]["reason"] == "goal_met"
    with pytest.raises(ResetNeeded, match="ended"):
        env.step("1843")


def test_reward_swap_and_references():
    env = gym.make(ENV, reward={"bleu": 1.0, "task_success": 0.5})
    obs, _ = env.reset(seed=0)
    _, r, _, _, info = env.step(QAExpert().act(obs))
    assert set(info["scores"]) == {"bleu", "task_success"}
    assert info["scores"]["bleu"] > 0.9  # the expert's reply is the reference
    sc = env.unwrapped.scenario
    assert len(sc.references) == len(sc.world["questions"])
