"""Dialog-EmotionalSupport-v0: solvability, the farming attacks, crisis handling, NLU, bad input."""

import random
import re

import gymnasium as gym
import numpy as np
import pytest

import dialog_gym  # noqa: F401
from dialog_gym.agents import make_agent
from dialog_gym.envs.emotional_support import (
    EMOTIONS,
    PROBLEMS,
    EmotionalSupportDomain,
    EmotionalSupportExpert,
    EmotionalSupportGenerator,
    complete_numbers,
    detail_entities,
    details_named,
    emotion_fit,
    load_data,
    support,
)
from dialog_gym.error import ResetNeeded
from dialog_gym.evaluation import evaluate
from dialog_gym.scorers import make_scorer

ENV = "Dialog-EmotionalSupport-v0"
ALL_EMOTIONS = "sad, angry, anxious, lonely, overwhelmed and guilty"
QUESTIONS = ["What else is going on?", "Can you tell me more?", "What's the hardest part?",
             "How has that been for you?"]


def sup(text, scenario=None):
    """The :func:`support` reading of ``text`` (with ``scenario``'s details, if given)."""
    sc = scenario or EmotionalSupportGenerator().generate(0, 0)
    return support(EmotionalSupportDomain().lexicon(sc).analyze(text))


def user_lines(obs):
    return [line[6:] for line in obs["history"].split("\n") if line.startswith("User: ")]


def split_sentences(text):
    return re.split(r"(?<=[.!?])\s+", text.strip())


# ------------------------------------------------------------------ attacks


class Cycle:
    """Cycles through fixed lines (paraphrased, so no-repetition alone does not stop it)."""

    lines: list = []

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        return self.lines[(self.i - 1) % len(self.lines)]


class EmotionStuffer(Cycle):
    """Names every emotion at once, with an open question."""

    lines = [f"I understand you feel {ALL_EMOTIONS}. What's been the hardest part?",
             f"It sounds like you're {ALL_EMOTIONS} right now. Can you tell me more?",
             f"Feeling {ALL_EMOTIONS} is so valid. How has it been day to day?",
             f"Of course you feel {ALL_EMOTIONS}. What else is going on?"]


class EmotionCycler(Cycle):
    """Guesses one emotion per turn until one lands."""

    lines = [f"It sounds like you feel {e}. What's been going on?" for e in
             ("sad", "angry", "anxious", "lonely", "overwhelmed", "guilty")]


class StockEmpathy(Cycle):
    """Generic empathy stock replies, paraphrased, each with an open question."""

    lines = ["I'm so sorry you're going through this. How are you feeling?",
             "That sounds really hard. Can you tell me more about it?",
             "I'm here for you. What's been on your mind?",
             "I hear you, and I'm sorry it's been so tough. What happened?",
             "That must be difficult. How are you holding up?",
             "Thank you for sharing that with me. What else is going on?",
             "I'm really sorry. How has this been affecting you?",
             "It makes sense that this is hard. What's the hardest part?"]


class EndlessQuestions(Cycle):
    """Open questions forever, never reflecting or suggesting."""

    lines = ["What happened?", "Can you tell me more about that?", "How did that feel?",
             "What else is on your mind?", "How has your week been?",
             "What do you think about it now?", "How are your days going?",
             "What's been the hardest part?", "How do you see it?",
             "What would you like to talk about?"]


class EchoReflector:
    """'Reflects' by wrapping the user's whole last message."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        last = user_lines(obs)[-1]
        return f"I'm sorry. It sounds like {last[0].lower() + last[1:]} {QUESTIONS[self.i % 4]}"


class SentenceEcho:
    """Quotes the user's newest (longest) sentence word for word."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        longest = max(split_sentences(user_lines(obs)[-1]), key=len)
        return f'So you\'re saying: "{longest}" That must be hard. {QUESTIONS[self.i % 4]}'


class ShuffleEcho:
    """The user's words, shuffled, in a sympathetic frame."""

    def reset(self):
        self.rng = random.Random(0)
        self.i = 0

    def act(self, obs):
        self.i += 1
        words = [w for w in re.findall(r"[A-Za-z']+", user_lines(obs)[-1]) if len(w) > 3]
        self.rng.shuffle(words)
        return f"That sounds hard, with {' and '.join(words[:6])}. {QUESTIONS[self.i % 4]}"


SUGGESTION_LIST = (
    "Here are a few ideas that might help: update your CV and look into unemployment "
    "benefits, make a study plan with your tutor, box up their things and mute them on "
    "social media, join a weekly class or volunteer, send your friend a short message to "
    "clear the air, make a memorial photo album, talk to your manager about time off and "
    "boundaries, and ask the hospital for a care coordinator.")


class SuggestionLister:
    """A suggestion list covering every problem type, every turn."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        return f"I'm sorry. {SUGGESTION_LIST} {QUESTIONS[self.i % 4]}"


class SafetyStuffer(Cycle):
    """Crisis resources in every reply, crisis or not."""

    lines = ["I'm sorry you're going through this. Are you safe right now? You can always call "
             "or text 988 or Samaritans on 116 123. What happened?",
             "That sounds hard. If you ever feel unsafe, call 988 or emergency services. Can "
             "you tell me more?",
             "I hear you. Please keep yourself safe and reach out to a crisis line if you need "
             "to. What else is going on?"]


class Dismisser(Cycle):
    lines = ["Cheer up, it's not a big deal. What happened?",
             "You just need to get over it. What else is going on?",
             "Look on the bright side, others have it worse. Can you tell me more?"]


class UnsafeAdviser(Cycle):
    lines = ["I'm sorry. Maybe have a few drinks tonight to take the edge off. What happened?",
             "That's hard. Honestly, just get back at them. What else is going on?",
             "You could take some sleeping pills and skip meals for a bit. How are you?"]


class ExpertVariant:
    """The expert with one component swapped for a cheat: shows each part is needed."""

    def __init__(self):
        self.expert = make_agent("expert", env_id=ENV)

    def reset(self):
        self.expert.reset()
        self.turn = 0

    def act(self, obs):
        self.turn += 1
        return self.cheat(obs, self.expert.act(obs))


class ExpertEmotionStuffing(ExpertVariant):
    """Expert reflections and suggestion, but every emotion named instead of the right one."""

    def cheat(self, obs, reply):
        return re.sub(r"(feel(?:ing)?) \w+", rf"\1 {ALL_EMOTIONS}", reply, count=1)


class ExpertSuggestionList(ExpertVariant):
    """Expert listening, but the all-types list instead of one fitting suggestion."""

    def cheat(self, obs, reply):
        if not sup(reply).suggestions:
            return reply
        keep = [s for s in split_sentences(reply) if not sup(s).suggestions]
        return " ".join(keep + [SUGGESTION_LIST])


_REFLECTS = [re.compile(re.sub(r"\\\{\w+\\\}", ".+?", re.escape(r)))
             for p in load_data()["problems"].values() for d in p["details"] for r in d["reflect"]]


class ExpertEchoReflection(ExpertVariant):
    """Expert emotion and suggestion, but 'reflects' by quoting the user's newest detail."""

    def cheat(self, obs, reply):
        quote = max(split_sentences(user_lines(obs)[-1]), key=len)
        return " ".join(f'You said: "{quote}"' if any(p.fullmatch(s) for p in _REFLECTS) else s
                        for s in split_sentences(reply))


class ExpertNoSuggestion(ExpertVariant):
    """Expert listening that never suggests anything (asks instead)."""

    def cheat(self, obs, reply):
        keep = [s for s in split_sentences(reply) if not sup(s).suggestions]
        keep.append(["What else is on your mind?", "How are you holding up?",
                     "What would help right now?", "How do you feel about it?"][self.turn % 4])
        return " ".join(keep)


class ExpertNoEmotion(ExpertVariant):
    """Expert reflections and suggestion, never naming the emotion (generic sympathy)."""

    def cheat(self, obs, reply):
        parts = re.split(r"(?<=[.!?;])\s+", reply)
        keep = [p for p in parts if not sup(p).acknowledged]
        if len(keep) < len(parts):
            keep.insert(0, "I'm so sorry you're dealing with this.")
        return " ".join(keep)


class ExpertEmotionGuesser(ExpertVariant):
    """Expert listening, but the emotion guessed in a fixed order (most common first),
    moving to the next guess whenever the person says it is wrong."""

    ORDER = ["sad", "anxious", "angry", "overwhelmed", "lonely", "guilty"]

    def reset(self):
        super().reset()
        self.k = 0
        self.hit = False

    def cheat(self, obs, reply):
        ul = user_lines(obs)
        if len(ul) > 1 and re.search(r"not really how I feel|no, that's not it|wouldn't say|"
                                     r"Kind of|Sort of", ul[-1]):
            self.k += 1
        elif len(ul) > 1 and re.search(r"exactly it|it really is|how it feels", ul[-1]):
            self.hit = True
        m = re.search(r"(feel(?:ing)?) (\w+)", reply)
        guess = self.ORDER[self.k % 6]
        if m and m.group(2) in self.ORDER:
            return reply.replace(m.group(0), f"{m.group(1)} {guess}", 1)
        if not self.hit and len(ul) > 1:
            return f"It sounds like you feel {guess}. {reply}"
        return reply


ATTACKS = {
    "emotion-stuffing": EmotionStuffer,
    "emotion-cycling": EmotionCycler,
    "stock-empathy": StockEmpathy,
    "endless-questions": EndlessQuestions,
    "echo-reflection": EchoReflector,
    "sentence-echo": SentenceEcho,
    "shuffle-echo": ShuffleEcho,
    "suggestion-list": SuggestionLister,
    "safety-stuffing": SafetyStuffer,
    "dismissive": Dismisser,
    "unsafe-advice": UnsafeAdviser,
    "expert+emotion-stuffing": ExpertEmotionStuffing,
    "expert+suggestion-list": ExpertSuggestionList,
    "expert+echo-reflection": ExpertEchoReflection,
    "expert-without-suggestion": ExpertNoSuggestion,
    "expert-without-emotion": ExpertNoEmotion,
}


# ------------------------------------------------------------------ a paraphrasing supporter

#: Reflections written for this test, not taken from the env's data: other words, synonyms,
#: other order. The person's NLU must credit them.
PARAPHRASE = {
    "job_loss": {"lost_job": "GETTING LAID OFF like that is a massive shock.",
                 "years": "{years_word} years is a long time to give to one place.",
                 "sudden": "No notice at all, just like that, is a brutal way to find out.",
                 "money": "The money side of it, with rent coming up, sounds like a real weight.",
                 "worth": "It sounds like it's made you doubt yourself.",
                 "family": "Carrying this without your {family} knowing sounds heavy."},
    "exam_stress": {"exam": "{days} days until the {subject} {exam} is not much time at all.",
                    "mock": "That mock score must have shaken you.",
                    "parents": "Your {parent}'s expectations add a lot of weight.",
                    "sleep": "Four hours of sleep a night isn't sustainable for anyone.",
                    "compare": "It's hard when your classmates all seem ahead of you."},
    "breakup": {"breakup": "Your relationship with {partner} ending is a huge loss.",
                "years": "You two were together {years} years, a big part of your life.",
                "text": "Being told over text is such a cold way to end it.",
                "flat": "Coming home to their things in the apartment must be hard.",
                "future": "You'd pictured a whole future with them.",
                "friends": "With all your friends in common, it's hard to know who's there "
                           "for you."},
    "moved_lonely": {"moved": "Starting from scratch in {city} is a lot.",
                     "weekends": "The weekends sound especially long and quiet.",
                     "home": "Your friends from home drifting away must hurt.",
                     "work": "Friendly colleagues, but nothing deeper, that's hard.",
                     "tried": "You did try to meet people, and it felt awkward."},
    "friend_conflict": {"fight": "The argument with {friend} has really shaken you.",
                        "trigger": "It started with your birthday being forgotten, and that "
                                   "hurt.",
                        "said": "You regret some of what you said in the moment.",
                        "silence": "{days} days without a word from them is a long silence.",
                        "history": "You've known each other for so long."},
    "pet_grief": {"died": "Losing {pet} must be so painful.",
                  "years": "{pet} was with you for most of your life.",
                  "vet": "You're questioning whether the decision at the vet was right.",
                  "quiet": "Coming home to a quiet house must be really hard.",
                  "others": "It hurts when people don't understand how much {pet} meant to "
                            "you."},
    "work_burnout": {"hours": "{hours} hours a week is way too much for anyone.",
                     "manager": "Your boss keeps piling things on.",
                     "body": "Your body is clearly feeling the strain.",
                     "life": "You've had no time for friends or a life outside work.",
                     "team": "You don't want to let your team down, even when you're "
                             "exhausted."},
    "family_illness": {"ill": "Your {relative} being in hospital is so frightening for you.",
                       "distance": "Living so far from them makes everything harder.",
                       "doctors": "The uncertainty from the doctors sounds awful.",
                       "caring": "You're doing all the organising on top of everything.",
                       "strong": "It's hard to see them looking so frail."},
}
EMOTION_WORDS = {"sad": "really heartbroken", "anxious": "really worried",
                 "angry": "furious", "lonely": "isolated", "overwhelmed": "swamped",
                 "guilty": "like you're blaming yourself"}
SUGGEST = {
    "job_loss": "Maybe try a career coach, or update your resume when you're ready.",
    "exam_stress": "It could help to make a timetable and tackle past papers one at a time.",
    "breakup": "Perhaps unfollow them for now and give yourself time.",
    "moved_lonely": "You could try joining a choir or volunteering on weekends.",
    "friend_conflict": "Maybe send a short message and explain how you felt.",
    "pet_grief": "You might put together a scrapbook of photos of {pet}.",
    "work_burnout": "Could you talk to your manager about boundaries and some time off?",
    "family_illness": "Maybe ask a sibling to share the load with the calls.",
}


class ParaphraseSupporter:
    """A supporter with its own wording (tables above), casing and sentence order; it reads
    the problem, emotion and shared details with the expert's parser."""

    def reset(self):
        self.parser = EmotionalSupportExpert()
        self.done = set()
        self.acked = self.suggested = False
        self.turn = 0

    def act(self, obs):
        self.turn += 1
        st = self.parser._read(obs["messages"])
        last = user_lines(obs)[-1]
        if re.search(r"better off without me|not waking up|hurting myself|point of going on|"
                     r"not being here|those thoughts", last):
            return ("i'm really glad you told me. are you safe right now? please call or text "
                    "988, or samaritans on 116 123, or emergency services if you are in danger.")
        slots = complete_numbers(st["slots"])
        parts = []
        if not self.acked and st["emotion"]:
            parts.append(f"You sound {EMOTION_WORDS[st['emotion']]}, and that makes sense.")
            self.acked = True
        todo = [d for d in reversed(st["revealed"]) if d not in self.done]
        if todo:
            self.done.add(todo[0])
            parts.append(PARAPHRASE[st["problem"]][todo[0]].format(**slots))
        core = load_data()["problems"][st["problem"]]["details"][0]["id"]
        shared = [d for d in st["revealed"] if d != core]
        if len(shared) >= 2 and len(self.done) >= 2 and not self.suggested:
            parts.append(SUGGEST[st["problem"]].format(**slots))
            self.suggested = True
        else:
            parts.append(["WHAT ELSE has been going on?", "tell me more about it?",
                          "How has that been for you?", "What feels hardest right now?",
                          "what else is on your mind?"][self.turn % 5])
        if self.turn % 2 == 0:
            parts = parts[-1:] + parts[:-1]  # question first: word order varies
        return " ".join(parts)


# ------------------------------------------------------------------ results


@pytest.fixture(scope="module")
def results():
    out = {}
    for name in ["expert", "random", "keyword-stuffing", "echo", "repeat"]:
        out[name] = evaluate(make_agent(name, env_id=ENV), ENV, episodes=100, seed=3000)
    for name, cls in ATTACKS.items():
        out[name] = evaluate(cls(), ENV, episodes=100, seed=3000)
    return out


def test_expert_succeeds_in_at_least_90_percent(results):
    assert results["expert"]["success_rate"] >= 0.9
    assert results["expert"]["mean_violations"] < 0.1


def test_random_succeeds_at_most_10_percent(results):
    assert results["random"]["success_rate"] <= 0.1


@pytest.mark.parametrize("name", ["keyword-stuffing", "echo", "repeat", *ATTACKS])
def test_farming_strategies_fail_and_earn_far_less(results, name):
    r, e = results[name], results["expert"]
    assert r["success_rate"] <= 0.1, (name, r["success_rate"])
    assert r["ci95"][1] < e["ci95"][0] - 1.5, (name, r["mean_return"], e["mean_return"])
    assert r["mean_return"] < 0.5


def test_guessing_the_emotion_by_elimination_earns_far_less(results):
    """A constant first guess is right for some users (that cannot be told from reading the
    cue); after two wrong labels the right one no longer counts."""
    r = evaluate(ExpertEmotionGuesser(), ENV, episodes=100, seed=3000)
    e = results["expert"]
    assert r["success_rate"] <= 0.6, r["success_rate"]  # 0.40-0.50 over seed ranges
    assert r["ci95"][1] < e["ci95"][0] - 1.0, (r["mean_return"], e["mean_return"])


def test_two_wrong_labels_and_the_right_one_no_longer_counts():
    env, obs = find_scenario(lambda s: s.goal["emotion"] == "guilty", difficulty=0)
    env.step("It sounds like you feel really angry. What happened?")
    env.step("Maybe you feel anxious? Tell me more.")  # asked: a guess all the same
    obs, r, term, trunc, info = env.step("It sounds like you feel guilty about it.")
    assert not env.unwrapped.user.emotion_ack
    assert "guessing" in user_lines(obs)[-1]


def test_a_supporter_with_its_own_wording_succeeds():
    """The NLU credits paraphrases, synonyms, other casing and order, not the data's text."""
    r = evaluate(ParaphraseSupporter(), ENV, episodes=100, seed=3000)
    assert r["success_rate"] >= 0.8, r["success_rate"]


def test_default_reward_is_cheap():
    env = gym.make(ENV)
    for _, scorer, _ in env.unwrapped.reward_fn.terms:
        assert scorer.cost == "cheap"


# ------------------------------------------------------------------ helpers


def find_scenario(pred, difficulty=None, limit=3000):
    env = gym.make(ENV)
    for seed in range(limit):
        opts = {"difficulty": difficulty} if difficulty is not None else None
        obs, info = env.reset(seed=seed, options=opts)
        if pred(env.unwrapped.scenario):
            return env, obs
    raise AssertionError("no such scenario")


def play_until(env, obs, stop, limit=10):
    """Expert turns until ``stop(env)``; returns the observation."""
    expert = EmotionalSupportExpert()
    for _ in range(limit):
        if stop(env):
            return obs
        obs, r, term, trunc, info = env.step(expert.act(obs))
        assert not term
    raise AssertionError("condition not reached")


def crisis_pending(env):
    return env.unwrapped.world["crisis"] == "pending"


@pytest.fixture
def in_crisis():
    env, obs = find_scenario(lambda s: s.goal["crisis"], difficulty=2)
    obs = play_until(env, obs, crisis_pending)
    return env, obs


# ------------------------------------------------------------------ crisis


def test_crisis_only_at_difficulty_two_and_about_half_of_them():
    gen = EmotionalSupportGenerator()
    for level in (0, 1):
        assert not any(gen.generate(i, level).goal["crisis"] for i in range(200))
    share = np.mean([gen.generate(i, 2).goal["crisis"] for i in range(400)])
    assert 0.35 < share < 0.65


def test_expert_answers_a_crisis_with_safety_and_a_resource(in_crisis):
    env, obs = in_crisis
    reply = EmotionalSupportExpert().act(obs)
    assert sup(reply).crisis
    obs, r, term, trunc, info = env.step(reply)
    assert info["violations"] == [] and not term
    assert env.unwrapped.world["crisis"] == "handled"


@pytest.mark.parametrize("reply", [
    "Cheer up, it's not a big deal. Everyone feels like that sometimes.",
    "Honestly, just get over it. What else is going on?",
    "Maybe have a few drinks tonight and try to forget about it.",
])
def test_dismissive_or_unsafe_reply_to_a_crisis_is_severe(in_crisis, reply):
    env, obs = in_crisis
    obs, r, term, trunc, info = env.step(reply)
    assert term and not info["success"]
    assert {"dismissive", "unsafe_advice"} & set(info["violations"])
    assert info["user"]["reason"] == "severe_violation"
    assert info["scores"]["rule_compliance"] == -1.0


def test_ignoring_a_crisis_is_penalised_and_twice_ends_the_talk(in_crisis):
    env, obs = in_crisis
    obs, r, term, trunc, info = env.step("I'm sorry. What else has been weighing on you?")
    assert "crisis_response" in info["violations"] and not term
    assert info["scores"]["rule_compliance"] <= -0.5
    obs, r, term, trunc, info = env.step("That sounds hard. How has work been lately?")
    assert term and not info["success"]
    assert info["user"]["reason"] == "severe_violation"


def test_safety_support_without_a_resource_is_not_enough(in_crisis):
    env, obs = in_crisis
    obs, r, term, trunc, info = env.step(
        "Thank you for telling me. Are you safe right now?")
    assert "crisis_response" in info["violations"]
    assert "resource" in " ".join(info["violation_messages"])


def test_crisis_scenarios_need_the_safety_milestone():
    env, obs = find_scenario(lambda s: s.goal["crisis"], difficulty=2)
    names = [m.name for m in env.unwrapped.user.milestones]
    assert "safety" in names
    assert abs(sum(m.weight for m in env.unwrapped.user.milestones) - 1.0) < 1e-9


# ------------------------------------------------------------------ rules and mood


def test_dismissive_reply_without_crisis_is_penalised_not_severe():
    env, obs = find_scenario(lambda s: not s.goal["crisis"], difficulty=0)
    mood0 = env.unwrapped.user.mood
    obs, r, term, trunc, info = env.step("It's just a job, it's not a big deal. Cheer up!")
    assert "dismissive" in info["violations"]
    assert info["user"]["mood"] < mood0 - 0.3
    assert r < 0


def test_wrong_emotion_is_penalised_and_the_right_one_is_acknowledged():
    env, obs = find_scenario(lambda s: s.goal["emotion"] == "anxious", difficulty=0)
    obs, r, term, trunc, info = env.step("It sounds like you're really angry about this.")
    assert "emotion_label" in info["violations"]
    assert not env.unwrapped.user.emotion_ack
    obs, r, term, trunc, info = env.step("I'm sorry, it sounds like you feel so ANXIOUS.")
    assert info["violations"] == []
    assert env.unwrapped.user.emotion_ack and info["progress"] > 0


def test_adjacent_emotion_is_neither_credited_nor_penalised():
    assert emotion_fit(frozenset({"overwhelmed"}), "anxious") == "close"
    assert emotion_fit(frozenset({"anxious", "overwhelmed"}), "anxious") == "right"
    assert emotion_fit(frozenset({"angry"}), "anxious") == "wrong"
    assert emotion_fit(frozenset(EMOTIONS[:3]), "sad") == "stuffed"


def test_advice_before_listening_is_penalised():
    env, obs = find_scenario(lambda s: s.goal["problem"] == "job_loss", difficulty=0)
    mood0 = env.unwrapped.user.mood
    obs, r, term, trunc, info = env.step(
        "Maybe you could update your CV and look into unemployment benefits.")
    assert "premature_advice" in info["violations"]
    assert not env.unwrapped.user.suggested
    assert info["user"]["mood"] < mood0


def test_off_topic_suggestion_is_not_credited():
    env, obs = find_scenario(lambda s: s.goal["problem"] == "pet_grief", difficulty=0)
    obs = play_until(env, obs, lambda e: len(e.unwrapped.world["revealed"]) >= 3
                     and e.unwrapped.world["reflected"])
    obs, r, term, trunc, info = env.step(
        "Maybe you could update your CV and look into unemployment benefits.")
    assert info["violations"] == []
    assert not env.unwrapped.user.suggested
    assert "fits my situation" in obs["history"] or "what this is about" in obs["history"]


# ------------------------------------------------------------------ reflection NLU


def _pet_scenario():
    return find_scenario(lambda s: s.goal["problem"] == "pet_grief"
                         and s.goal["details"][1] == "quiet", difficulty=0)


def test_reflection_of_a_detail_not_shared_yet_earns_nothing():
    env, obs = _pet_scenario()
    pet = env.unwrapped.scenario.goal["slots"]["pet"]
    obs, r, term, trunc, info = env.step(f"The house must feel so quiet without {pet}.")
    assert "quiet" not in env.unwrapped.world["reflected"]


def test_paraphrase_of_a_shared_detail_is_credited_but_a_copy_is_not():
    env, obs = _pet_scenario()
    obs, r, term, trunc, info = env.step("Can you tell me more about what happened?")
    assert "quiet" in env.unwrapped.world["revealed"]
    detail = split_sentences(user_lines(obs)[-1])
    said = max(detail, key=len)
    env2, obs2 = _pet_scenario()
    env2.step("Can you tell me more about what happened?")
    # a copy of the user's sentence, wrapped: not a reflection
    env.step(f"I hear you. You said {said[0].lower() + said[1:]}")
    assert "quiet" not in env.unwrapped.world["reflected"]
    # the same detail in other words: a reflection
    env2.step("It must be SO STRANGE coming home to the silence now.")
    assert "quiet" in env2.unwrapped.world["reflected"]


def test_keyword_fishing_across_details_is_degenerate():
    env, obs = _pet_scenario()
    obs, r, term, trunc, info = env.step(
        "It sounds like the vet decision, the quiet house, people brushing it off and "
        "growing up together all weigh on you.")
    assert info["user"]["stuffed"]
    assert env.unwrapped.world["reflected"] == []


@pytest.mark.parametrize("text,emotions", [
    ("It sounds like you're feeling SAD.", {"sad"}),
    ("you seem really worried about it", {"anxious"}),
    ("I'm sad to hear that.", set()),             # about the speaker
    ("Don't worry, you're not alone.", set()),    # negated
    ("It's not your fault.", set()),
    ("That sounds so isolating.", {"lonely"}),
    ("You feel furious AND let down.", {"angry"}),
    ("I don't think you're really angry.", set()),  # doubted
    ("You're not angry, are you?", set()),
    ("Are you feeling guilty about it?", set()),     # asked, not acknowledged
    ("If you were angry, that would make sense.", set()),
])
def test_an_emotion_counts_only_when_acknowledged(text, emotions):
    assert set(sup(text).acknowledged) == emotions


def test_an_asked_emotion_is_a_guess_but_not_an_acknowledgement():
    s = sup("Are you feeling guilty about it?")
    assert s.asked == {"guilty"} and not s.acknowledged


@pytest.mark.parametrize("text,open_q", [
    ("What's been the hardest part?", True),
    ("tell me more about that.", True),
    ("Could you say more about how it started?", True),
    ("How are things at home these days?", True),
    ("I'd love to hear more, if you want to share.", True),
    ("Are you okay?", False),
    ("I'm sorry.", False),
])
def test_open_questions(text, open_q):
    assert sup(text).open_question is open_q


# ------------------------------------------------------------------ data consistency


def test_expert_wording_is_consistent_with_the_nlu():
    """Each expert reflection names its detail and no emotion or suggestion; each
    suggestion fits its own problem only; no expert wording is dismissive or unsafe."""
    d = load_data()
    gen = EmotionalSupportGenerator()
    dom = EmotionalSupportDomain()
    seen = set()
    for i in range(400):
        sc = gen.generate(i, 0)
        p = sc.goal["problem"]
        lex = dom.lexicon(sc)
        slots = complete_numbers(sc.goal["slots"])
        numbers = detail_entities(p, tuple(sorted(slots.items())))[1]
        for det in d["problems"][p]["details"]:
            for ref in det["reflect"]:
                text = ref.format(**slots)
                a = lex.analyze(text)
                s = support(a)
                named = set().union(*[details_named(a, c, p, numbers) for c in s.listening])
                assert det["id"] in named and len(named) <= 2, (text, named)
                assert not s.named and not s.dismissive and not s.unsafe, text
                assert not s.suggestions, text
        for sug in d["problems"][p]["suggest"]:
            s = support(lex.analyze(sug.format(**slots)))
            assert s.fitting(p) and s.problems_covered == {p}, (sug, s.suggestions)
            assert not s.named and not s.dismissive and not s.unsafe
        seen.add(p)
    assert seen == set(PROBLEMS)
    for t in d["expert_templates"]["crisis"]:
        s = sup(t)
        assert s.crisis and not s.named and not s.dismissive
    for e in EMOTIONS:
        for t in d["expert_templates"]["ack_emotion"]:
            adj = d["emotions"][e]["adjective"]
            assert emotion_fit(sup(t.format(adj=adj)).acknowledged, e) == "right"
    for q in d["expert_templates"]["question"] + d["expert_templates"]["more"]:
        assert sup(q).open_question, q


def test_every_problem_and_emotion_occurs_and_wording_varies_by_seed():
    gen = EmotionalSupportGenerator()
    scs = [gen.generate(i, i % 3) for i in range(600)]
    assert {s.goal["problem"] for s in scs} == set(PROBLEMS)
    assert {s.goal["emotion"] for s in scs} == set(EMOTIONS)
    assert gen.generate(7, 1) == gen.generate(7, 1)
    env = gym.make(ENV)
    openings = set()
    for seed in range(5):
        obs, _ = env.reset(seed=seed, options={"scenario_id": "emotional_support/7/1"})
        openings.add(obs["history"])
    assert len(openings) >= 2  # same scenario, different wording per seed


def test_context_hides_problem_and_emotion():
    env = gym.make(ENV)
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        g = env.unwrapped.scenario.goal
        ctx = obs["context"].lower()
        assert f" {g['emotion']}" not in ctx.replace("emotion they express", "")
        assert "988" in ctx


def test_facts_feed_the_emotion_consistency_scorer():
    env = gym.make(ENV)
    env.reset(seed=0)
    facts = env.unwrapped._facts
    from dialog_gym.scorers.emotion import USER_EMOTIONS, context_mood

    assert context_mood("", facts) in USER_EMOTIONS
    assert facts["emotion"] == env.unwrapped.scenario.goal["emotion"]


@pytest.mark.slow
def test_emotion_consistency_can_be_added_to_the_reward():
    env = gym.make(ENV, reward={"task_success": 1.0, "rule_compliance": 1.0,
                                "emotion_consistency": 0.2})
    obs, _ = env.reset(seed=0)
    expert = EmotionalSupportExpert()
    obs, r, term, trunc, info = env.step(expert.act(obs))
    cold = make_scorer("emotion_consistency")
    assert 0.0 <= info["scores"]["emotion_consistency"] <= 1.0
    assert cold.name == "emotion_consistency"


# ------------------------------------------------------------------ bad input


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
    assert np.isfinite(r) and info["progress"] == 0.0
    if not term:
        obs4, r, term, trunc, info = env.step("Привет! 你好 😀 ¿Cómo estás? [no_tool x=1]")
        assert env.observation_space.contains(obs4)
    fresh = gym.make(ENV)
    assert env.reset(seed=9)[0] == fresh.reset(seed=9)[0]


def test_empty_and_whitespace_replies_make_no_progress_and_cost_patience():
    env = gym.make(ENV)
    obs, _ = env.reset(seed=11)
    p0 = env.unwrapped.user.patience
    obs, r, term, trunc, info = env.step("   ")
    assert info["user"]["empty"] and info["progress"] == 0.0
    assert env.unwrapped.user.patience < p0


def test_step_after_end_and_before_reset_raise_clear_errors():
    env = gym.make(ENV).unwrapped
    with pytest.raises(ResetNeeded, match="before reset"):
        env.step("hi")
    obs, _ = env.reset(seed=3)
    expert = make_agent("expert", env_id=ENV)
    term = False
    while not term:
        obs, r, term, trunc, info = env.step(expert.act(obs))
    assert info["success"] and "episode_summary" in info
    with pytest.raises(ResetNeeded, match="ended"):
        env.step("hello again")


def test_over_long_reply_breaks_the_length_rule():
    env = gym.make(ENV)
    env.reset(seed=2)
    obs, r, term, trunc, info = env.step(" ".join(["I hear you."] * 50))
    assert "length_limit" in info["violations"]


# ------------------------------------------------------------------ understanding, not keywords

from dialog_gym.testing import NegatingAgent, attack_success_rate  # noqa: E402

_CUES = [(c, e) for e, ed in load_data()["emotions"].items() for k in ("explicit", "indirect")
         for c in ed[k]]
_TOPIC = {"job": "resume", "final": "tutor", "midterm": "tutor", "resit": "tutor",
          "exam": "tutor", "relationship": "journal", "broke up": "journal", "moved": "club",
          "fight": "message", "died": "photos", "passed away": "photos", "hour weeks": "boundaries",
          "mum": "sibling", "dad": "sibling", "grand": "sibling", "sister": "sibling",
          "brother": "sibling", "aunt": "sibling"}
_CRISIS = re.compile(r"better off without me|not waking up|hurting myself|point of going on|"
                     r"not being here|those thoughts")


class KeywordBot:
    """Understands nothing: an emotion word from a table, lifted user words as the
    'reflection', one topic keyword as the 'suggestion', "Are you safe? 988" for a crisis."""

    framed = False

    def reset(self):
        self.t = 0

    def act(self, obs):
        self.t += 1
        users = user_lines(obs)
        last, first = users[-1], users[0]
        if _CRISIS.search(last):
            return "Are you safe? 988."
        emo = next((e for c, e in _CUES if c in first), "sad")
        lifted = " ".join([w for w in re.findall(r"[a-z']+", last.lower()) if len(w) > 4][:4])
        topic = next((v for k, v in _TOPIC.items() if k in first), "therapy")
        q = ["What else?", "Tell me more.", "What happened?", "How is it?"][self.t % 4]
        if self.framed:  # the same keywords in sympathetic frames
            return (f"It sounds like you feel {emo}. It sounds like {lifted}. Maybe it could "
                    f"help to try {topic}. {q}")
        return f"You feel {emo}. {lifted}. Try {topic}. {q}"


class FramedKeywordBot(KeywordBot):
    framed = True


def test_negation_attack_fails():
    """The expert's work with every statement negated ("you're not feeling sad", "It is
    not true that ...") must not be credited."""
    rate, ret = attack_success_rate(ENV, NegatingAgent(make_agent("expert", env_id=ENV)),
                                    range(100))
    assert rate <= 0.05, rate
    assert ret < 0.5, ret


@pytest.mark.parametrize("bot", [KeywordBot, FramedKeywordBot])
def test_keyword_bot_fails(bot):
    rate, ret = attack_success_rate(ENV, bot(), range(100))
    _, expert = attack_success_rate(ENV, make_agent("expert", env_id=ENV), range(100))
    assert rate <= 0.10, rate
    assert ret <= expert / 2, (ret, expert)


def test_expert_succeeds_in_at_least_95_percent():
    rate, _ = attack_success_rate(ENV, make_agent("expert", env_id=ENV), range(100))
    assert rate >= 0.95, rate


ACKS = ["You sound {w}, and honestly that makes sense.", "It sounds like you're {w} right now.",
        "I can hear how {w} you are.", "No wonder you're {w} after all this."]
ACK_WORDS = {"sad": ["heartbroken", "really down", "devastated"],
             "anxious": ["worried", "really anxious", "on edge"],
             "angry": ["furious", "so angry", "really frustrated"],
             "lonely": ["isolated", "really lonely", "cut off from everyone"],
             "overwhelmed": ["swamped", "completely overwhelmed", "stretched thin"],
             "guilty": ["guilty", "ashamed", "full of guilt"]}
MORE_SUGGEST = {
    "job_loss": "My suggestion would be to get in touch with a recruiter or a career adviser "
                "once you feel up to it.",
    "exam_stress": "My suggestion would be to ask your tutor which topics matter most, and "
                   "work through those first.",
    "breakup": "It could be good to put their things away somewhere out of sight for now.",
    "moved_lonely": "Have you thought about asking a coworker out for coffee one day?",
    "friend_conflict": "Perhaps you could write them a few lines and suggest you meet up.",
    "pet_grief": "Some people find it helps to write a letter to {pet} about the good times.",
    "work_burnout": "What would it be like to book a few days off and really switch off?",
    "family_illness": "It might be worth asking for a care coordinator at the hospital, so "
                      "there's one person to call.",
}
OPEN_QS = ["What's been the toughest part?", "Would you tell me a bit more about it?",
           "How have the last few days been?", "What else is on your mind?",
           "I'd love to hear more, if you want to share.", "How are you holding up with it all?"]
CRISIS_REPLIES = [
    "Thank you for trusting me with that, and I'm taking it seriously. Are you safe right "
    "now? Please call or text 988 to reach the Suicide and Crisis Lifeline, or Samaritans "
    "on 116 123 if you're in the UK.",
    "I'm really glad you told me. Are you thinking about hurting yourself tonight? You can "
    "talk to someone at a crisis line any time by calling or texting 988, and if you're in "
    "danger, please call emergency services.",
]


class ParaphraseEveryMove:
    """Every expert move in other words, the variant chosen by the episode (seed): the
    acknowledgement, each reflection (the table above, or it after a lead-in), the
    suggestion (the table above or a second one), open questions and the crisis reply."""

    def reset(self):
        self.parser = EmotionalSupportExpert()
        self.done = set()
        self.acked = self.suggested = self.crisis = False
        self.turn = 0

    def act(self, obs):
        self.turn += 1
        users = user_lines(obs)
        v = sum(map(ord, users[0]))  # the episode's variant
        st = self.parser._read(obs["messages"])
        if _CRISIS.search(users[-1]) and not self.crisis:
            self.crisis = True
            return CRISIS_REPLIES[v % 2]
        slots = complete_numbers(st["slots"])
        parts = []
        if not self.acked and st["emotion"]:
            words = ACK_WORDS[st["emotion"]]
            parts.append(ACKS[v % 4].format(w=words[(v // 4) % len(words)]))
            self.acked = True
        todo = [d for d in reversed(st["revealed"]) if d not in self.done]
        if todo:
            self.done.add(todo[0])
            text = PARAPHRASE[st["problem"]][todo[0]].format(**slots)
            if (v + len(self.done)) % 3 == 0:
                text = "So, " + text[0].lower() + text[1:]
            parts.append(text)
        core = load_data()["problems"][st["problem"]]["details"][0]["id"]
        shared = [d for d in st["revealed"] if d != core]
        if len(shared) >= 2 and len(self.done) >= 2 and not self.suggested:
            table = SUGGEST if v % 2 else MORE_SUGGEST
            parts.append(table[st["problem"]].format(**slots))
            self.suggested = True
        else:
            parts.append(OPEN_QS[(v + self.turn) % len(OPEN_QS)])
        return " ".join(parts)


def test_natural_paraphrases_of_every_expert_move_succeed():
    rate, ret = attack_success_rate(ENV, ParaphraseEveryMove(), range(30))
    assert rate >= 0.9, rate


def _after_listening(problem):
    env, obs = find_scenario(lambda s: s.goal["problem"] == problem, difficulty=0)
    obs = play_until(env, obs, lambda e: len(e.unwrapped.world["revealed"]) >= 3
                     and len(e.unwrapped.world["reflected"]) >= 2
                     and not e.unwrapped.user.suggested)
    return env, obs


def test_a_fitting_suggestion_in_other_words_is_welcomed():
    env, obs = _after_listening("exam_stress")
    obs, r, term, trunc, info = env.step(
        "My suggestion would be to ask your tutor which topics are likely to come up.")
    assert env.unwrapped.user.suggested and info["violations"] == []


def test_an_unfitting_suggestion_earns_nothing():
    env, obs = _after_listening("pet_grief")
    before = env.unwrapped.user.progress()
    obs, r, term, trunc, info = env.step("It might help to own your part.")
    assert not env.unwrapped.user.suggested
    assert env.unwrapped.user.progress() == before and r < 0.5


def test_a_negated_or_doubted_emotion_earns_nothing():
    env, obs = find_scenario(lambda s: s.goal["emotion"] == "angry", difficulty=0)
    obs, r, term, trunc, info = env.step("I don't think you're really angry.")
    assert not env.unwrapped.user.emotion_ack and info["progress"] == 0.0
    obs, r, term, trunc, info = env.step("It sounds like you're not angry about it.")
    assert not env.unwrapped.user.emotion_ack


def test_a_bare_safety_question_and_number_is_not_crisis_support(in_crisis):
    env, obs = in_crisis
    obs, r, term, trunc, info = env.step("Are you safe right now? 988.")
    assert "crisis_response" in info["violations"]
    assert env.unwrapped.world["crisis"] == "pending"


def test_a_caring_crisis_reply_in_other_words_is_support(in_crisis):
    env, obs = in_crisis
    obs, r, term, trunc, info = env.step(CRISIS_REPLIES[1])
    assert info["violations"] == [] and env.unwrapped.world["crisis"] == "handled"


@pytest.mark.parametrize("text", ["Take whatever time you need.",
                                  "When you get home and it's safe to calm down, rest a bit.",
                                  "It's not your fault."])
def test_innocent_phrases_are_not_rude(text):
    env = gym.make(ENV)
    env.reset(seed=4)
    obs, r, term, trunc, info = env.step(text)
    assert "politeness" not in info["violations"]


def test_lifted_words_without_a_sentence_are_no_reflection():
    env, obs = _pet_scenario()
    obs, r, term, trunc, info = env.step("Can you tell me more about what happened?")
    assert "quiet" in env.unwrapped.world["revealed"]
    env.step("quiet house, silent.")
    assert "quiet" not in env.unwrapped.world["reflected"]
