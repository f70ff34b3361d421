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
    judge,
    knowledge_base,
    load_data,
)
from dialog_gym.error import ResetNeeded
from dialog_gym.evaluation import evaluate
from dialog_gym.testing import NegatingAgent, attack_success_rate
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


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def _words(n):
    """``n`` (< 100,000) in words: 4310 -> 'four thousand three hundred ten'."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10 - 2] + ("-" + _ONES[n % 10] if n % 10 else "")
    if n < 1000:
        return _ONES[n // 100] + " hundred" + (" " + _words(n % 100) if n % 100 else "")
    return _words(n // 1000) + " thousand" + (" " + _words(n % 1000) if n % 1000 else "")


def _year_words(y):
    """A year as spoken: 1843 -> 'eighteen forty-three', 1905 -> 'nineteen oh five'."""
    lo = y % 100
    return _words(y // 100) + " " + ("hundred" if lo == 0 else
                                      "oh " + _ONES[lo] if lo < 10 else _words(lo))


def _judge(text, q, w, sc):
    """The verdict on ``text`` read as the env reads it (one analysis of the reply)."""
    return judge(QADomain().lexicon(sc).analyze(text), q, w)


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
    return [v for e in knowledge_base(obs["messages"]).values() for n, v in e["attrs"].items()
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
        for e in knowledge_base(obs["messages"]).values():
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


def test_expert_succeeds_in_at_least_95_percent(results):
    assert results["expert"]["success_rate"] >= 0.95


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
    for q, w, sc in sample:
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
            assert _judge(f, q, w, sc).kind == "correct", (f, q)
            n += 1
    assert n > 200


def test_number_words_and_separators_are_read(sample):
    n = 0
    for q, w, sc in sample:
        if q["answer"] is None or q["type"] not in ("year", "count"):
            continue
        v = int(q["answer"].replace(",", ""))
        words = _year_words(v) if q["type"] == "year" else _words(v)
        sep = f"{v:,}" if q["type"] == "count" else str(v)
        for text in (f"That would be {words}.", f"It's {v}.", f"{sep} altogether."):
            assert _judge(text, q, w, sc).kind == "correct", (text, q)
        assert _judge(f"It's {_words(v + 1)}.", q, w, sc).kind == "wrong"
        n += 1
    assert n >= 20


def test_judge_rejects_hedges_dumps_and_declines_of_answerable_questions(sample):
    for q, w, sc in sample:
        passage = " ".join(sc.context["passage"])
        assert _judge(passage, q, w, sc).kind == "dump"
        if q["answer"] is None:
            assert _judge("I'm afraid the text doesn't mention that.", q, w, sc).kind == "correct"
            assert _judge("Not stated, but probably 1850.", q, w, sc).kind == "hedge"
            continue
        assert _judge("The passage does not say.", q, w, sc).kind == "declined"
        assert _judge("Hello there, happy to help!", q, w, sc).kind == "none"
        others = [v for e in w["entities"] for a, v in e["attrs"].items()
                  if load_data()["kinds"][e["kind"]]["attributes"][a]["type"] == q["type"]
                  and v != q["answer"]]
        if others:
            assert _judge(f"It is {q['answer']} or {others[0]}.", q, w, sc).kind == "hedge"
            assert _judge(f"It is {others[0]}.", q, w, sc).kind == "wrong"


def test_made_up_values_for_unanswerable_questions_are_wrong(sample):
    made_up = {"year": "It was in 1777.", "count": "There are 57 of them.",
               "person": "That was Bartholomew Quince.", "place": "It is in Snowbridge.",
               "thing": "They are known for their brass telescopes."}
    n = 0
    for q, w, sc in sample:
        if q["answer"] is None:
            assert _judge(made_up[q["type"]], q, w, sc).kind == "wrong", q
            n += 1
    assert n >= 20


def test_an_invented_name_answering_an_answerable_question_is_wrong(sample):
    """"It's on the Dart River" about a town on the Tavy River contradicts the passage:
    a name the passage never mentions is a wrong answer to a question about a person, a
    place or a thing, not a non-answer (before, for things, it was ignored and the
    reply earned token-F1 reward with no penalty)."""
    invented = {"person": "That was Bartholomew Quince.", "place": "It is in Snowbridge.",
                "thing": "It's the Dart River, I believe."}
    kinds = set()
    for q, w, sc in sample:
        if q["answer"] is None or q["type"] not in invented:
            continue
        assert _judge(invented[q["type"]], q, w, sc).kind == "wrong", q
        assert _judge(f"It's {q['answer']}.", q, w, sc).kind == "correct", q
        kinds.add(q["type"])
    assert kinds == set(invented)


def _whole(value, text):
    """``value`` occurs in ``text`` as a whole value (not inside a longer number or word)."""
    return re.search(rf"(?<![\w,]){re.escape(value)}(?![\w,])", text) is not None


def test_context_data_is_what_the_passage_states():
    """The system message's data lists the passage's entities in its order, each with the
    attributes its own paragraph states (every value written there) and none it leaves
    out (no left-out value appears in the context)."""
    gen, domain = QAGenerator(), QADomain()
    hidden_checked = 0
    for i in range(150):
        sc = gen.generate(i, i % 3)
        ctx = domain.render_context(sc, domain.rulebook(), ToolSet())
        data = domain.context_data(sc)
        ents = data["entities"]
        listed = ", ".join(f"{e['name']} ({'an' if e['kind'][0] in 'aeiou' else 'a'} "
                           f"{e['kind']})" for e in ents)
        assert f"\nThe passage describes: {listed}.\n" in ctx, sc.id
        paragraphs = ctx.split("\nPassage:\n", 1)[1].split("\nRules:", 1)[0].split("\n\n")
        assert len(paragraphs) == len(ents), sc.id
        for e, para, world in zip(ents, paragraphs, sc.world["entities"], strict=True):
            assert para.startswith(e["name"]) or para.startswith(e["name"] + "'"), sc.id
            assert e["attributes"], sc.id
            for attr, value in e["attributes"].items():
                assert _whole(value, para), (sc.id, e["name"], attr, value)
            for attr, value in world["all"].items():
                if attr not in e["attributes"]:
                    assert not _whole(value, ctx), (sc.id, e["name"], attr, value)
                    hidden_checked += 1
    assert hidden_checked >= 300


def test_the_expert_reads_the_passage_from_the_data_not_the_text():
    """A value changed in the system message's data is the expert's answer; the text,
    unchanged, still holds the old one."""
    env = gym.make(ENV)
    changed = 0
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        expert = QAExpert()
        reply = expert.act(obs)
        name, attr = expert._state["q"]
        ent = next((e for e in obs["messages"][0]["data"]["entities"] if e["name"] == name),
                   None)
        if ent is None or attr not in ent["attributes"]:
            continue  # an unanswerable question: nothing to change
        old = ent["attributes"][attr]
        assert old in reply
        ent["attributes"][attr] = new = "1066" if old.isdigit() else "Zanzibar Quay"
        got = QAExpert().act(obs)
        assert new in got and old not in got and old in obs["messages"][0]["content"]
        changed += 1
    assert changed >= 10


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


# ----------------------------------------------------------------------------- meaning


def test_negation_attack_fails():
    """The expert's replies negated ("X was not founded in 1843") are not answers."""
    rate, ret = attack_success_rate(ENV, NegatingAgent(QAExpert()), range(100))
    assert rate <= 0.05
    expert_rate, expert_ret = attack_success_rate(ENV, QAExpert(), range(100))
    assert expert_rate >= 0.95 and ret < expert_ret - 2.0


class Paraphraser:
    """The expert's knowledge in natural wordings of its own, several variants per move,
    chosen by seed and turn: answers (numbers in words or digits, hedged, with fillers),
    refusals and refusals of unknown entities, never the expert's templates."""

    answers = [
        "Good question! According to the passage, it's {v}.",
        "From what I can see in the text, that would be {v}.",
        "I'm fairly sure it's {v}, based on the passage.",
        "The answer is {v}.",
        "That's {v}, as far as the passage goes.",
        "Looking at the text again: {v}.",
    ]
    refusals = [
        "Hmm, the text doesn't actually say that, I'm afraid.",
        "That isn't mentioned in the passage.",
        "I couldn't find that anywhere in the passage, sorry.",
        "Unfortunately the passage never tells us.",
        "There's nothing in the text about that, so I can't answer it.",
        "Honestly, the passage is silent on that point.",
    ]
    unknown = [
        "I don't see {name} anywhere in the passage.",
        "The text never mentions {name}, so I can't help with that one.",
        "Sorry, {name} isn't part of the passage at all.",
    ]

    def __init__(self, seed):
        self.seed = seed
        self.expert = QAExpert()

    def reset(self):
        self.expert.reset()
        self.turn = 0

    def _value(self, t, v):
        n = int(v.replace(",", "")) if t in ("year", "count") else None
        style = (self.seed + self.turn) % 3
        if t == "year":
            return [v, _year_words(n), f"the year {v}"][style]
        if t == "count":
            return [v, _words(n), v.replace(",", "")][style]
        return v

    def act(self, obs):
        self.expert.act(obs)  # keeps the expert's reading of the dialogue
        kb = knowledge_base(obs["messages"])
        name, attr = self.expert._state["q"]
        k = self.seed * 7 + self.turn
        self.turn += 1
        if name not in kb:
            return self.unknown[k % len(self.unknown)].format(name=name)
        value = kb[name]["attrs"].get(attr)
        if value is None:
            return self.refusals[k % len(self.refusals)]
        v = self._value(_type_of(attr), value)
        return self.answers[k % len(self.answers)].format(v=v)


def test_paraphrased_expert_moves_succeed():
    wins = sum(attack_success_rate(ENV, Paraphraser(s), [s])[0] for s in range(30))
    assert wins >= 27


class RefusalNamingValue(QAExpert):
    """Refuses every question while naming the passage's value for it (or another value):
    "The passage mentions X, but it never says that." A refusal is not an answer."""

    def act(self, obs):
        super().act(obs)  # the expert's reading of the question
        kb = knowledge_base(obs["messages"])
        name, attr = self._state["q"]
        value = kb.get(name, {}).get("attrs", {}).get(attr)
        if value is None:
            value = next((v for e in kb.values() for v in e["attrs"].values()), "1850")
        return f"The passage mentions {value}, but it never says that."


def test_a_refusal_naming_a_value_is_not_an_answer():
    rate, _ = attack_success_rate(ENV, RefusalNamingValue(), range(60))
    assert rate == 0.0


def _one_of_each(sample):
    seen, out = set(), []
    for q, w, sc in sample:
        key = (q["type"], q["answer"] is None)
        if key not in seen:
            seen.add(key)
            out.append((q, w, sc))
    assert len(out) == 10
    return out


def test_refusal_wordings_count_as_refusals(sample):
    wordings = ["That isn't mentioned in the passage.",
                "The passage never says where he studied.",
                "Sadly the text doesn't go into that.",
                "I couldn't find anything about that in the text.",
                "The passage mentions Paris but never says where he studied.",
                "Nothing in the passage tells us, I'm afraid."]
    for q, w, sc in _one_of_each(sample):
        for text in wordings:
            expected = "correct" if q["answer"] is None else "declined"
            assert _judge(text, q, w, sc).kind == expected, (text, q)


def test_values_in_refusals_questions_negations_and_hypotheticals_are_not_answers(sample):
    n = 0
    for q, w, sc in sample:
        gold = q["answer"]
        if gold is None:
            # a passage value named inside a refusal does not make it an invention
            other = next(v for e in w["entities"] for v in e["attrs"].values())
            assert _judge(f"The passage mentions {other} but never says that.",
                          q, w, sc).kind == "correct"
            continue
        assert _judge(f"Is it {gold}?", q, w, sc).kind == "none", q
        assert _judge(f"If it were {gold}, the passage would say so.", q, w, sc).kind == "none"
        # the passage's value negated is a wrong answer, not a right one
        assert _judge(f"It is not {gold}.", q, w, sc).kind == "wrong", q
        assert _judge(f"The passage mentions {gold}, but it never says that.",
                      q, w, sc).kind == "declined"
        # a wrong value denied next to the right one asserted is still right
        if q["type"] == "count":
            wrong = str(int(gold.replace(",", "")) + 3)
            assert _judge(f"It's not {wrong}, it's {gold}.", q, w, sc).kind == "correct"
        n += 1
    assert n >= 50


def test_negated_place_is_wrong():
    gen = QAGenerator()
    for i in range(200):
        sc = gen.generate(i, 0)
        w = _world(sc)
        for q in w["questions"]:
            if q["attr"] == "province" and q["answer"]:
                e = q["entity"]
                assert _judge(f"{e} does not lie in {q['answer']}.", q, w, sc).kind == "wrong"
                assert _judge(f"{e} lies in {q['answer']}.", q, w, sc).kind == "correct"
                return
    raise AssertionError("no province question in 200 scenarios")


# ----------------------------------------------------------------------------- messages

def _expert_episode(env, seed, expert=None):
    obs, _ = env.reset(seed=seed)
    seen, done = [obs], False
    while not done:
        obs, _, term, trunc, info = env.step((expert or QAExpert()).act(obs))
        seen.append(obs)
        done = term or trunc
    return seen, info


def test_expert_reads_the_messages_not_the_transcript_or_context():
    """One expert fed observations with ``history`` and ``context`` blanked, never reset
    between episodes, answers exactly like a fresh expert given the full observation."""
    env = gym.make(ENV)
    kept = QAExpert()
    for seed in range(30):
        seen, info = _expert_episode(env, seed)
        assert info["success"], seed
        for obs in seen[:-1]:
            blank = {**obs, "history": "", "context": ""}
            assert kept.act(blank) == QAExpert().act(obs)


def test_expert_answers_the_user_messages_it_is_given():
    """The question is read from the user message: a question written into the messages
    (with no transcript) gets the passage's answer, and a new episode's messages of the
    same length are not mistaken for the old ones."""
    env = gym.make(ENV)
    kinds = load_data()["kinds"]
    expert = QAExpert()
    answered = 0
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        system = obs["messages"][0]
        kb = knowledge_base([system])
        for name, ent in kb.items():
            for attr, value in ent["attrs"].items():
                spec = kinds[ent["kind"]]["attributes"][attr]
                question = spec["question"][0].format(e=name, o=name, p=name + "'s")
                obs2 = {"context": "", "history": "", "turn": 0,
                        "messages": [system, {"role": "user", "content": question,
                                              "source": "user_simulator"}]}
                assert expert.act(obs2) == spec["answer"].format(E=name, v=value), question
                answered += 1
    assert answered >= 100, answered
