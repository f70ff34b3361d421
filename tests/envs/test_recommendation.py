"""Dialog-Recommendation-v0: solvability, unstated needs, anti-gaming attacks, bad input."""

import copy
import zlib

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
    catalogue,
    fits,
    lexicon_for,
    offer,
)
from dialog_gym.evaluation import evaluate
from dialog_gym.testing import NegatingAgent, attack_success_rate

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
        rows = catalogue(obs["messages"])["rows"]
        self.i += 1
        return f"I'd recommend {rows[(self.i - 1) % len(rows)]['name']} (option {self.i})."


class ListAll:
    """Names every item of the catalogue in one reply."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        names = [r["name"] for r in catalogue(obs["messages"])["rows"]]
        names = names[self.i % 2:] + names[:self.i % 2]
        return "You could try " + ", ".join(names) + "."


class HedgingExpert(RecommendationExpert):
    """Elicits like the expert, then names its three best matches at once."""

    def say(self, move, cat):
        if move[0] != "recommend":
            return super().say(move, cat)
        prefs = self._state["prefs"]
        rows = sorted(cat["rows"], key=lambda r: -sum(
            fits(cat["attrs"][c], r[c], w) for c, w in prefs.items()))
        return "Good options: " + ", ".join(r["name"] for r in rows[:3]) + "."


class PushRejected:
    """Recommends the first item and keeps pushing it after it is turned down."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        name = catalogue(obs["messages"])["rows"][0]["name"]
        return [f"I'd recommend {name}.", f"Honestly, {name} is really the best choice.",
                f"Please reconsider {name}, you will love it."][min(self.i - 1, 2)]


class PreferenceStuffer:
    """Strings together every attribute value and feature word of the catalogue."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        cat = catalogue(obs["messages"])
        words = [v for a in cat["attrs"].values() for v in a.get("values", ())] + cat["columns"]
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
    assert set(g["stated"]) <= set(user.said)
    assert not set(g["hidden"]) & set(user.said)
    assert info["progress"] == pytest.approx(0.2)
    key = g["hidden"][0]
    ask = _attrs(g["category"])[key]["expert_ask"]
    obs, r, term, trunc, info = env.step(ask)
    assert key in set(user.said)


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
    assert key in set(env.unwrapped.user.said) and not term
    obs, r, term, trunc, info = env.step(
        f"Are you sure? I'd still go with {near['name']}, it's lovely.")
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
    assert not set(env.unwrapped.user.said)
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


def _cell(value, unit):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return (f"${value}" if unit == "$" else f"{value} {unit}") if unit else str(value)


def test_context_data_is_the_catalogue_table_of_the_text():
    """The system message's data is the catalogue the text shows: its header line, one
    text line per row in the same order (each cell as the data's value), nothing else;
    and the rows are the world's items."""
    env = gym.make(ENV)
    for seed in range(40):
        obs, _ = env.reset(seed=seed, options={"difficulty": seed % 3})
        text, data = obs["messages"][0]["content"], obs["messages"][0]["data"]
        lines = text.split("\n")
        header = f"Catalogue of {len(data['rows'])} {data['plural']} " \
                 f"({' | '.join(data['columns'])}):"
        start = lines.index(header)
        assert f"choose a {data['noun']}" in text
        assert data["columns"][0] == "name"
        table = [" | ".join(_cell(r[c], data["units"].get(c)) if c != "name" else r[c]
                            for c in data["columns"]) for r in data["rows"]]
        assert lines[start + 1:] == table
        assert all(set(r) == set(data["columns"]) for r in data["rows"])
        world = env.unwrapped.world
        assert data["category"] == world["category"]
        assert [r["name"] for r in data["rows"]] == world["names"]
        for row, item in zip(data["rows"], world["items"], strict=True):
            assert all(row[c] == item[c] for c in data["columns"])


def test_context_data_does_not_depend_on_the_goal():
    """The user's constraints and target are hidden: another goal, the same data."""
    import dataclasses

    from dialog_gym.envs.recommendation import RecommendationDomain

    domain = RecommendationDomain()
    for i in range(20):
        sc = GEN.generate(i, i % 3)
        other = dataclasses.replace(sc, goal={"category": sc.goal["category"]})
        data = domain.context_data(sc)
        assert domain.context_data(other) == data
        assert "target" not in data and "constraints" not in data


def test_the_expert_reads_the_catalogue_from_the_data_not_the_text():
    """Renaming the item the expert is about to recommend in the system message's data
    makes it recommend the new name, which the text never shows."""
    env = gym.make(ENV)
    renamed = 0
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        expert, done = RecommendationExpert(), False
        while not done:
            reply = expert.act(obs)
            move = expert.plan(catalogue(obs["messages"]))
            if move[0] == "recommend":
                changed = copy.deepcopy(obs)
                row = next(r for r in changed["messages"][0]["data"]["rows"]
                           if r["name"] == move[1])
                row["name"] = "The Quizzical Yak"
                got = RecommendationExpert().act(changed)
                assert "The Quizzical Yak" in got and move[1] not in got, got
                assert "Quizzical" not in changed["messages"][0]["content"]
                renamed += 1
                break
            obs, _, term, trunc, _ = env.step(reply)
            done = term or trunc
    assert renamed == 10


# ------------------------------------------------------------------ meaning, not keywords


def test_negated_expert_never_succeeds():
    # "I would not recommend X. It is not a good fit ..." recommends nothing
    rate, _ = attack_success_rate(ENV, NegatingAgent(RecommendationExpert()), range(100))
    assert rate <= 0.05, rate


#: natural wording of every expert move, different from the expert's templates
OPEN = ["Hi! Tell me a bit about what you're looking for.",
        "Happy to dig through the list for you. Any preferences I should know about?",
        "Sure thing! What do you have in mind?",
        "Hello! What matters most to you here?"]
ASK = {
    "cuisine": ["What sort of food are you craving?", "Which cuisine sounds good tonight?"],
    "area": ["Is there a neighbourhood you'd prefer?", "Where in town would suit you best?"],
    "price": ["Roughly what budget are you working with?",
              "How much are you hoping to spend?"],
    "vegetarian": ["Any dietary restrictions I should know about?",
                   "Is anyone in your group vegetarian?"],
    "outdoor": ["Would you like to sit outside if possible?",
                "Is a terrace or patio important to you?"],
    "wheelchair": ["Does anyone need step-free or wheelchair access?",
                   "Is accessibility a concern for anyone in your party?"],
    "genre": ["What genre do you fancy?", "Are you after a comedy, a thriller, or something else?"],
    "language": ["Are subtitles okay, or do you want a particular language?",
                 "Which language should it be in?"],
    "runtime": ["How much time do you have for the film?", "How long a movie are you up for?"],
    "family": ["Will any children be watching?", "Does it need to be suitable for kids?"],
    "service": ["What streaming platforms do you have?", "Which subscriptions can you watch on?"],
    "pets": ["Will you be travelling with a pet?", "Is a dog or cat coming along?"],
    "parking": ["Will you have a car with you?", "Do you need somewhere to park?"],
    "breakfast": ["Should breakfast be part of the deal?",
                  "Do you want your morning meal included?"],
}
LEADS = ["", "Quick questions. ", "Got it. ", "Thanks, that helps. "]
LINKS = ["", "Also, ", "And "]
RECOMMEND = ["I'd go with {name}.", "Honestly, {name} is your best bet.",
             "Unlike {o1} and {o2}, {name} fits everything you told me, so I'd go with it.",
             "My pick would be {name}: it ticks every box.",
             "{name} looks like the perfect fit for you.",
             "You'd probably love {name}, it checks all your boxes.",
             "Rather than {o1}, I'd recommend {name}.",
             "You can't go wrong with {name}.",
             "{o1} and {o2} miss something you need, so {name} is your best bet."]


class Paraphraser(RecommendationExpert):
    """The expert's moves in other words (variants chosen by the episode), up to three
    needs asked per reply."""

    per_turn = 3

    def act(self, observation):
        self.rng = np.random.default_rng(zlib.crc32(observation["history"].encode()))
        return super().act(observation)

    def say(self, move, cat):
        kind, arg = move
        pick = lambda xs: xs[int(self.rng.integers(len(xs)))]  # noqa: E731
        if kind == "open":
            return pick(OPEN)
        if kind == "ask":
            qs = [pick(ASK[c]) for c in arg]
            for i in range(1, len(qs)):
                link = pick(LINKS)
                qs[i] = link + qs[i][0].lower() + qs[i][1:] if link else qs[i]
            return pick(LEADS) + " ".join(qs)
        if kind == "recommend":
            others = [n for n in cat["names"] if n != arg]
            o1, o2 = others[0], others[1]
            return pick(RECOMMEND).format(name=arg, o1=o1, o2=o2)
        return super().say(move, cat)


def test_paraphrased_expert_succeeds():
    rate, _ = attack_success_rate(ENV, lambda seed: Paraphraser(), range(30),
                                  cycle_difficulty=True)
    assert rate >= 0.9, rate


def _play_to_level(level=2, seed=0):
    env = gym.make(ENV)
    obs, _ = env.reset(seed=seed, options={"difficulty": level})
    return env, env.unwrapped.scenario.goal


def test_three_needs_in_one_reply_are_all_answered():
    env, g = _play_to_level(2, seed=4)
    keys = (g["stated"] + g["hidden"])[:3]
    text = " ".join([ASK[k][0] for k in keys[:2]] + ["And " + ASK[keys[2]][1].lower()])
    obs, r, term, trunc, info = env.step(text)
    user = env.unwrapped.user
    assert not info["user"]["stuffed"] and set(keys) <= set(user.said)
    answer = env.unwrapped.dialogue[-1].text
    assert all(user.said[k] in answer for k in keys), answer


@pytest.mark.parametrize("text", [
    "I would not recommend {target}.",
    "I don't think {target} is right for you.",
    "Would {target} work for you?",
    "How does {target} sound?",
    "If you were not so picky, {target} would have been my pick.",
])
def test_negated_asked_or_supposed_recommendations_are_not_accepted(text):
    env, g = _play_to_level(0, seed=11)
    obs, r, term, trunc, info = env.step(text.format(target=g["target"]))
    user = env.unwrapped.user
    assert not info["success"] and user.accepted is None and user.rejections == 0


def test_a_contrasted_recommendation_names_the_pick():
    env, g = _play_to_level(0, seed=11)
    o1, o2 = [n for n in env.unwrapped.world["names"] if n != g["target"]][:2]
    obs, r, term, trunc, info = env.step(
        f"Unlike {o1} and {o2}, {g['target']} fits your budget, so I'd go with it.")
    assert info["success"] and env.unwrapped.user.accepted == g["target"]


def test_contrasted_items_are_not_put_forward():
    lex = lexicon_for(["Green Orchid", "Blue Lotus", "Casa Luna"])
    o = offer(lex.analyze("Unlike Blue Lotus and Casa Luna, Green Orchid fits your budget, "
                          "so I'd go with it."))
    assert o.recommended == ("Green Orchid",) and not o.listed
    o = offer(lex.analyze("You could try Green Orchid, Blue Lotus or Casa Luna."))
    assert o.listed == ("Green Orchid", "Blue Lotus", "Casa Luna")
    o = offer(lex.analyze("Blue Lotus and Casa Luna are both too pricey, so Green Orchid is "
                          "your best bet."))
    assert o.recommended == ("Green Orchid",) and not o.listed
    o = offer(lex.analyze("Would Green Orchid work?"))
    assert o.asked == ("Green Orchid",) and not o.recommended


def test_user_refers_back_only_to_what_it_said():
    env, g = _play_to_level(2, seed=7)
    key = g["hidden"][0]
    obs, r, term, trunc, info = env.step(ASK[key][0])
    first = env.unwrapped.dialogue[-1].text
    assert "As I said" not in first and "already told" not in first
    obs, r, term, trunc, info = env.step(ASK[key][1])
    again = env.unwrapped.dialogue[-1].text
    assert "As I said" in again or "already told" in again
    assert env.unwrapped.user.said[key] in first
    # whole episodes, every need asked again before the pick: each reference back quotes
    # what an earlier user turn said
    refs = 0
    for seed in range(15):
        obs, _ = env.reset(seed=seed, options={"difficulty": seed % 3})
        agent, done = Paraphraser(), False
        while not done:
            reply = agent.act(obs)
            if agent.plan(catalogue(obs["messages"]))[0] == "recommend":
                break  # every need is asked; the reply is the pick
            obs, r, term, trunc, info = env.step(reply)
            done = term or trunc
        keys = list(_attrs(env.unwrapped.scenario.goal["category"]))
        for i in range(0, len(keys), 2):
            if not done:
                obs, r, term, trunc, info = env.step(
                    "Just to double-check: " + " ".join(ASK[k][1] for k in keys[i:i + 2]))
                done = term or trunc
        earlier = []
        for t in env.unwrapped.dialogue:
            if t.speaker != "user":
                continue
            for marker in ("As I said: ", "I already told you: "):
                for quoted in t.text.split(marker)[1:]:
                    refs += 1
                    said = [v for v in env.unwrapped.user.said.values() if quoted.startswith(v)]
                    assert said and any(said[0] in e for e in earlier), t.text
            earlier.append(t.text)
    assert refs >= 30


def test_a_terse_pick_with_a_long_name_is_not_a_word_salad():
    env = gym.make(ENV)
    for seed in range(50):
        obs, _ = env.reset(seed=seed)
        target = env.unwrapped.scenario.goal["target"]
        if target.startswith("The "):
            break
    obs, r, term, trunc, info = env.step(f"I'd recommend {target} (option 1).")
    assert not info["user"]["stuffed"] and info["success"]


def test_an_umbrella_question_naming_needs_asks_those_needs():
    env, g = _play_to_level(1, seed=2)
    keys = g["stated"][:1] + g["hidden"][:2]
    words = {"cuisine": "cuisine", "area": "neighbourhood", "price": "budget",
             "vegetarian": "dietary needs", "outdoor": "outdoor seating",
             "wheelchair": "wheelchair access", "genre": "genre", "language": "language",
             "runtime": "running time", "family": "kids", "service": "streaming service",
             "pets": "pets", "parking": "parking", "breakfast": "breakfast"}
    obs, r, term, trunc, info = env.step(
        "Could you share a bit more about your preferences: "
        + ", ".join(words[k] for k in keys) + "?")
    assert not info["user"]["stuffed"] and set(info["user"]["requests"]) == set(keys)


def test_a_question_that_puts_the_pick_forward_is_a_recommendation():
    """"How about X?" recommends X (found on Schema-Guided Dialogue offers); it wins."""
    import gymnasium as gym

    from dialog_gym.agents import make_agent

    wins = 0
    for seed in range(10):
        env = gym.make("Dialog-Recommendation-v0")
        expert = make_agent("expert", env_id="Dialog-Recommendation-v0")
        obs, _ = env.reset(seed=seed)
        lex = env.unwrapped.lexicon
        asked = 0
        for _ in range(20):
            reply = expert.act(obs)
            picks = [a.arg for a in lex.analyze(reply).acts if a.name == "recommend"]
            if picks:
                reply = [f"How about {picks[0]}?", f"Have you considered {picks[0]}?",
                         f"What about trying {picks[0]}? It matches what you said."][seed % 3]
                asked += 1
            obs, _, term, trunc, info = env.step(reply)
            if term or trunc:
                break
        assert asked
        wins += info["success"]
    assert wins == 10
    lex = gym.make("Dialog-Recommendation-v0").unwrapped
    lex.reset(seed=0)
    item = next(iter(lex.lexicon.data["entities"][lex.lexicon.recommend_kind]))
    assert not [a for a in lex.lexicon.analyze(f"How about not {item}?").acts
                if a.name == "recommend"]
    assert not [a for a in lex.lexicon.analyze("How about something quieter?").acts
                if a.name == "recommend"]
