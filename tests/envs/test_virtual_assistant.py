"""Dialog-VirtualAssistant-v0: solvability, confirmation and correction, attacks, bad input."""

import copy
import re
from datetime import date, timedelta

import gymnasium as gym
import numpy as np
import pytest

import dialog_gym  # noqa: F401
from dialog_gym.agents import make_agent
from dialog_gym.dialogue import AGENT, USER, Dialogue, Turn
from dialog_gym.envs.virtual_assistant import (
    INFO_GOALS,
    WRITE_GOALS,
    VirtualAssistantExpert,
    VirtualAssistantGenerator,
    _write_call,
    human_date,
    human_time,
    make_tools,
)
from dialog_gym.evaluation import evaluate
from dialog_gym.rules import ConfirmBeforeWrite, RuleContext
from dialog_gym.scenario import parse_scenario_id
from dialog_gym.text import time_values
from dialog_gym.tools import ToolSet

ENV = "Dialog-VirtualAssistant-v0"
GEN = VirtualAssistantGenerator()


def goal_of(scenario_id):
    _, index, level = parse_scenario_id(scenario_id)
    return GEN.generate(index, level).goal


@pytest.fixture(scope="module")
def expert_result():
    return evaluate(make_agent("expert", env_id=ENV), ENV, episodes=100, seed=1000)


def test_expert_solves_at_least_95_percent(expert_result):
    assert expert_result["success_rate"] >= 0.95


def test_expert_acts_from_observations_only():
    """A fresh expert at every turn (no memory) plays exactly like one expert."""
    env = gym.make(ENV)
    for seed in range(12):
        obs, _ = env.reset(seed=seed, options={"difficulty": 2})
        done = False
        while not done:
            obs, r, term, trunc, info = env.step(VirtualAssistantExpert().act(obs))
            done = term or trunc
        assert info["success"], obs["history"]


# ------------------------------------------------------------------ domain attacks


class NoReadbackWriter(VirtualAssistantExpert):
    """Fills the slots like the expert, then writes at once: no read-back, no yes."""

    def _decide(self, st, today):
        kind, vals = st["kind"], st["values"]
        if kind in WRITE_GOALS and all(s in vals for s in WRITE_GOALS[kind]):
            return self._t("done." + kind, **self._human(vals)) + " " + _write_call(kind, vals)
        return super()._decide(st, today)


class BareConfirmWriter(VirtualAssistantExpert):
    """Asks "shall I go ahead?" without saying what, then writes what it parsed."""

    def reset(self):
        super().reset()
        self.n = 0

    def _decide(self, st, today):
        kind, vals = st["kind"], st["values"]
        if kind in WRITE_GOALS and all(s in vals for s in WRITE_GOALS[kind]):
            self.n += 1
            if self.n % 2:
                return ["Shall I go ahead and set that up for you?",
                        "Okay, should I go ahead then?", "Is that okay?"][self.n // 2 % 3]
            return f"Done, it's all set ({self.n}). " + _write_call(kind, vals)
        return super()._decide(st, today)


class ReadbackStuffer(VirtualAssistantExpert):
    """Reads back every nearby date, time and duration at once, hoping one is right."""

    def _decide(self, st, today):
        kind, vals = st["kind"], st["values"]
        if kind in WRITE_GOALS and all(s in vals for s in WRITE_GOALS[kind]):
            text = super()._decide(st, today)
            if text.startswith("Done"):
                return text
            alts = []
            if "date" in vals:
                d = date.fromisoformat(vals["date"])
                alts.append(human_date(d.fromordinal(d.toordinal() + 1)))
            if "time" in vals:
                h = (int(vals["time"][:2]) + 1) % 24
                alts.append(human_time(f"{h:02d}{vals['time'][2:]}"))
            if "minutes" in vals:
                alts.append(f"{int(vals['minutes']) + 5} minutes")
            return text.replace("?", f" Or was it {' / '.join(alts)}?", 1)
        return super()._decide(st, today)


class StaleSlots(VirtualAssistantExpert):
    """The expert, except that a slot keeps the first value it heard: corrections ignored."""

    @staticmethod
    def _consume(st, message, today, cities):
        before = dict(st["values"])
        VirtualAssistantExpert._consume(st, message, today, cities)
        st["values"].update(before)


class GuessWriter:
    """Writes one of everything with guessed details (tomorrow at 9) and claims it is done."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        today = date.fromisoformat(re.search(r"\d{4}-\d\d-\d\d", obs["context"]).group(0))
        day = today.fromordinal(today.toordinal() + self.i).isoformat()
        return (f"All done, attempt {self.i}! [create_event title=meeting date={day} time=09:00] "
                f"[set_reminder text=reminder date={day} time=09:00] "
                f"[set_alarm date={day} time=07:00] [set_timer minutes={self.i * 5} label=timer]")


class FakeClaimer:
    """Says the words of success (done, a forecast, a free day, a number) and does nothing."""

    lines = ["Done! It's on your calendar and the alarm is set.",
             "The forecast is sunny, with a high of 21°C and a low of 12°C.",
             "You have nothing on your calendar that day, you're free.",
             "That comes to about 42.5 in the other unit.",
             "All set, your reminder and timer are running."]

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        return self.lines[(self.i - 1) % len(self.lines)] + f" (ref {self.i})"


class HedgedAnswerer(VirtualAssistantExpert):
    """Looks things up like the expert but answers with every candidate at once."""

    def _decide(self, st, today):
        text = super()._decide(st, today)
        kind = st["kind"]
        if kind == "weather" and text.startswith("The forecast"):
            return ("It could be sunny, partly cloudy, overcast, light rain or heavy rain, "
                    "somewhere between -5°C and 35°C.")
        if kind == "convert" and not text.startswith("Let me") and st["converted"]:
            v = float(st["converted"])
            return f"It is {v * 0.9:.2f}, {v:.2f} or maybe {v * 1.1:.2f}."
        if kind == "calendar_query" and st["events"]:
            said = [t for rows in st["events"].values() for _, t in rows]
            return ("You might have " + ", ".join(said + ["team sync", "haircut"])
                    + ", or maybe you're free.")
        return text


# attack -> which requests it targets ("write", "info", "corrected" writes)
ATTACKS = {
    NoReadbackWriter: "write",
    BareConfirmWriter: "write",
    ReadbackStuffer: "write",
    StaleSlots: "corrected",
    GuessWriter: "all",
    FakeClaimer: "all",
    HedgedAnswerer: "info",
}


def _targeted(records, target):
    out = []
    for rec in records:
        g = goal_of(rec["scenario_id"])
        if (target == "all" or (target == "write" and g["type"] in WRITE_GOALS)
                or (target == "info" and g["type"] in INFO_GOALS)
                or (target == "corrected" and g["correction"])):
            out.append(rec)
    return out


@pytest.mark.parametrize("cls", list(ATTACKS), ids=lambda c: c.__name__)
def test_domain_attacks_fail_where_they_attack(cls, expert_result):
    r = evaluate(cls(), ENV, episodes=100, seed=3000)
    hit = _targeted(r["records"], ATTACKS[cls])
    assert len(hit) >= 10
    rate = np.mean([x["success"] for x in hit])
    assert rate <= 0.05, (cls.__name__, rate)
    assert np.mean([x["return"] for x in hit]) < expert_result["mean_return"] - 1.5


# ------------------------------------------------------------------ confirmation and corrections


def _reset_to(env, kind, difficulty=0, correction=None):
    for seed in range(500):
        obs, info = env.reset(seed=seed, options={"difficulty": difficulty})
        g = env.unwrapped.scenario.goal
        if g["type"] == kind and (correction is None or bool(g["correction"]) == correction):
            return obs, g
    raise AssertionError(f"no {kind} scenario found")


def test_context_data_is_what_the_context_says():
    """The system message's data: today and its weekday, the forecast cities and days, as
    the text says them, and the cities the weather tool covers."""
    env = gym.make(ENV)
    for seed in range(40):
        obs, _ = env.reset(seed=seed)
        text, data = obs["messages"][0]["content"], obs["messages"][0]["data"]
        assert f"Today is {data['weekday']}, {data['today']}." in text
        assert date.fromisoformat(data["today"]).strftime("%A") == data["weekday"]
        assert (f"Weather forecasts are available for: {', '.join(data['cities'])} (today "
                f"and the next {data['forecast_days'] - 1} days).") in text
        assert data["cities"] == env.unwrapped.world["cities"]
        assert data["today"] == env.unwrapped.world["today"]
        assert set(data) == {"today", "weekday", "cities", "forecast_days"}


def test_the_expert_reads_today_and_cities_from_the_data_not_the_text():
    """Another today in the system message's data moves the dates the expert resolves;
    a city taken out of it is no longer looked up. The text is left as it was."""
    env = gym.make(ENV)
    moved = dropped = 0
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            reply = VirtualAssistantExpert().act(obs)
            shifted = copy.deepcopy(obs)
            data = shifted["messages"][0]["data"]
            data["today"] = (date.fromisoformat(data["today"]) + timedelta(days=3)).isoformat()
            moved += VirtualAssistantExpert().act(shifted) != reply
            m = re.search(r'\[get_weather city="([^"]+)"', reply)
            if m:
                no_city = copy.deepcopy(obs)
                no_city["messages"][0]["data"]["cities"].remove(m.group(1))
                assert "get_weather" not in VirtualAssistantExpert().act(no_city)
                assert m.group(1) in no_city["messages"][0]["content"]
                dropped += 1
            obs, _, term, trunc, _ = env.step(reply)
            done = term or trunc
    assert moved >= 10 and dropped >= 3, (moved, dropped)


def test_unconfirmed_write_is_blocked_and_penalised():
    env = gym.make(ENV)
    obs, g = _reset_to(env, "create_event")
    call = _write_call("create_event", g["slots"])
    obs, r, term, trunc, info = env.step(f"Done, I've added it. {call}")
    assert "confirm_before_write" in info["violations"]
    assert "blocked by rule confirm_before_write" in obs["history"]
    assert env.unwrapped.world["log"] == []
    assert r < 0


def test_write_must_match_what_the_user_confirmed():
    env = gym.make(ENV)
    expert = make_agent("expert", env_id=ENV)
    obs, g = _reset_to(env, "create_event")
    expert.reset()
    readback = expert.act(obs)
    assert readback.startswith("Just to confirm")
    obs, r, term, trunc, info = env.step(readback)
    assert env.unwrapped.dialogue[-1].meta["confirmed"]["tool"] == "create_event"
    wrong = dict(g["slots"], time="23:45")
    obs, r, term, trunc, info = env.step("Done! " + _write_call("create_event", wrong))
    assert "confirm_before_write" in info["violations"]
    assert env.unwrapped.world["log"] == []
    done = False
    while not done:
        obs, r, term, trunc, info = env.step(expert.act(obs))
        done = term or trunc
    assert info["success"]
    assert env.unwrapped.world["log"] == g["expected_log"]


def test_bare_go_ahead_is_answered_with_a_request_to_read_back():
    env = gym.make(ENV)
    _reset_to(env, "set_alarm")
    obs, r, term, trunc, info = env.step("Shall I go ahead and set that up?")
    last = env.unwrapped.dialogue[-1]
    assert "confirmed" not in last.meta
    assert re.search(r"read|tell me exactly", last.text)
    assert info["progress"] == 0


def test_readback_with_several_values_is_not_confirmed():
    env = gym.make(ENV)
    obs, g = _reset_to(env, "set_alarm")
    d = human_date(date.fromisoformat(g["slots"]["date"]))
    obs, r, term, trunc, info = env.step(
        f"Just to confirm: an alarm on {d} at 6:00 am or 7:00 am. Shall I set it?")
    assert not env.unwrapped.dialogue[-1].meta.get("confirmed")
    assert info["progress"] == 0


def test_readback_listing_several_titles_is_not_confirmed():
    env = gym.make(ENV)
    obs, g = _reset_to(env, "create_event")
    s = g["slots"]
    other = "yoga class" if s["title"] != "yoga class" else "haircut"
    when = f"on {human_date(date.fromisoformat(s['date']))} at {human_time(s['time'])}"
    obs, r, term, trunc, info = env.step(
        f"Just to confirm: {s['title']} or {other} {when}. Shall I add it?")
    assert not env.unwrapped.dialogue[-1].meta.get("confirmed")
    obs, r, term, trunc, info = env.step(
        f"Sorry, so that's {s['title']} {when}, correct?")
    assert env.unwrapped.dialogue[-1].meta.get("confirmed")


@pytest.mark.parametrize("trigger", ["readback", "answer"])
def test_correction_is_reflected_in_the_final_state(trigger):
    env = gym.make(ENV)
    expert = make_agent("expert", env_id=ENV)
    for seed in range(400):
        obs, _ = env.reset(seed=seed, options={"difficulty": 2})
        g = env.unwrapped.scenario.goal
        if g["correction"] and g["correction"]["trigger"] == trigger:
            break
    c = g["correction"]
    expert.reset()
    done = False
    while not done:
        obs, r, term, trunc, info = env.step(expert.act(obs))
        done = term or trunc
    assert info["success"]
    log = env.unwrapped.world["log"]
    assert log == g["expected_log"] and len(log) == 1
    value = c["value"]
    assert value in log[0] and g["slots"][c["slot"]] not in log[0]


def test_difficulty_controls_missing_slots_and_corrections():
    def stats(level):
        gs = [GEN.generate(i, level).goal for i in range(300)]
        writes = [g for g in gs if g["type"] in WRITE_GOALS]
        missing = np.mean([len(g["given"]) < len(g["needed"]) for g in gs if g["needed"]])
        return missing, np.mean([bool(g["correction"]) for g in writes])

    m0, c0 = stats(0)
    m1, c1 = stats(1)
    m2, c2 = stats(2)
    assert m0 == 0 and c0 == 0
    assert 0.3 < m1 < m2 == 1.0
    assert 0.3 < c1 < 0.7 and c2 == 1.0


def test_wording_varies_by_seed():
    env = gym.make(ENV, difficulty=1)
    openings = {env.reset(seed=s)[0]["history"] for s in range(40)}
    assert len(openings) >= 35


# ------------------------------------------------------------------ the confirmation rule itself


def test_confirm_before_write_rule_semantics():
    tools = make_tools()
    rule = ConfirmBeforeWrite("c", {"set_timer"}, description="confirm first")
    call = tools.parse("[set_timer minutes=10 label=tea]").calls[0]
    other = tools.parse("[set_timer minutes=12 label=tea]").calls[0]

    def check(turns, calls):
        return rule.check(RuleContext(Dialogue(turns), "", "", calls, {}))

    yes = Turn(USER, "Yes.", {"confirmed": {"tool": "set_timer", "minutes": "10", "label": "tea"}})
    assert check([], [call])[0].call_index == 0  # never confirmed
    assert check([yes], [call]) == []  # confirmed
    assert check([yes], [other])  # different details
    assert [v.call_index for v in check([yes], [call, call])] == [1]  # one write per yes
    withdrawn = Turn(USER, "Actually, 12 minutes.", {"confirmed": None})
    assert check([yes, Turn(AGENT, "ok"), withdrawn], [call])  # withdrawn
    assert check([yes, Turn(AGENT, "ok"), Turn(USER, "hmm")], [call]) == []  # still standing


# ------------------------------------------------------------------ tools, parsing, bad input


def test_lookup_tool_errors_are_reported_with_the_fix():
    env = gym.make(ENV)
    env.reset(seed=0)
    w = env.unwrapped.world
    city = w["cities"][0]
    obs, r, term, trunc, info = env.step(
        f"Checking. [get_weather city=Atlantis date={w['today']}] "
        f"[get_weather city={city} date=tomorrow] [get_weather city={city} date=2099-01-01] "
        "[list_events date=2020-01-01] [convert value=abc from=mi to=km] "
        "[convert value=3 from=mi to=kg] [convert value=3 from=parsecs to=km] "
        "[get_wether city=Oslo]")
    h = obs["history"]
    assert "no forecast for 'Atlantis'; covered cities:" in h
    assert "is not YYYY-MM-DD; write e.g. date=" in h
    assert "forecasts cover" in h
    assert "is in the past; today is" in h
    assert "not a valid float" in h
    assert "cannot convert length (mi) to mass (kg)" in h
    assert "unknown unit 'parsecs'" in h
    assert "Did you mean 'get_weather'" in h
    assert w["log"] == [] and not info["success"]


def test_write_tool_handlers_validate_their_arguments():
    tools = make_tools()
    world = GEN.generate(3, 0).world
    world = {**world, "events": list(world["events"]), "alarms": [], "timers": [], "log": []}

    def run(text):
        return tools.execute(tools.parse(text).calls[0], world)

    assert "not YYYY-MM-DD" in run("[set_alarm date=13/03/2026 time=07:00]").message
    assert "does not exist" in run("[set_alarm date=2026-02-30 time=07:00]").message
    assert "not a clock time" in run(f"[set_alarm date={world['today']} time=25:00]").message
    assert "out of range" in run("[set_timer minutes=0 label=tea]").message
    assert "not a valid int" in run("[set_timer minutes=ten label=tea]").message
    ok = run(f"[set_alarm date={world['today']} time=7:30am]")
    assert ok.ok and world["log"] == [["set_alarm", world["today"], "07:30"]]


def test_bad_actions_raise_or_flag_and_do_not_corrupt():
    env = gym.make(ENV)
    env.reset(seed=5)
    with pytest.raises(TypeError, match="action must be a str"):
        env.step(b"bytes")
    obs, r, term, trunc, info = env.step("y" * 5000)
    assert info["action_truncated"] and env.observation_space.contains(obs)
    obs, r, term, trunc, info = env.step("")
    assert np.isfinite(r) and not info["action_truncated"]
    obs, r, term, trunc, info = env.step("¿Qué hora es? 你好 😀 [set_timer minutes=٣ label=茶]")
    assert env.observation_space.contains(obs)
    assert env.unwrapped.world["log"] == []
    fresh = gym.make(ENV)
    assert env.reset(seed=9)[0] == fresh.reset(seed=9)[0]


def test_language_helpers():
    from dialog_gym.envs.virtual_assistant import _lexicon, mention_dates, mention_minutes

    today = date(2026, 3, 10)  # a Tuesday

    def dates(text):
        return mention_dates(list(_lexicon().analyze(text).mentions), today)

    assert dates("on Friday") == {"2026-03-13"}
    assert dates("the day after tomorrow") == {"2026-03-12"}
    assert dates("Friday 13 March, not the 14th of March") == {"2026-03-13", "2026-03-14"}
    assert dates("on January 2") == {"2027-01-02"}
    assert dates("on the 5th of May") == {"2026-05-05"}
    assert dates("tomorrow or Sunday") == {"2026-03-11", "2026-03-15"}
    assert time_values("at 2:30 p.m. or 14:45") == ["14:30", "14:45"]
    got = [mention_minutes(m) for m in _lexicon().analyze(
        "half an hour, a 25-minute timer, an hour and a half, 2 hours").mentions]
    assert [n for n in got if n is not None] == [30, 25, 90, 120]


def test_reward_and_rules_are_configurable():
    from dialog_gym.rules import ForbiddenContent

    env = gym.make(ENV, reward={"task_success": 1.0},
                   rules=[ForbiddenContent("no_upsell", [r"\bpremium\b"])])
    env.reset(seed=0)
    _, r, _, _, info = env.step("Try our premium plan!")
    assert set(info["scores"]) == {"task_success"}
    assert "no_upsell" in info["violations"]
    assert isinstance(env.unwrapped.tools, ToolSet)


# ------------------------------------------------------------------ understanding (shared analysis)

from dialog_gym.envs.virtual_assistant import load_data  # noqa: E402
from dialog_gym.testing import NegatingAgent, attack_success_rate, with_tool_data  # noqa: E402


def test_negation_attack_fails():
    """The expert's replies with every statement negated are never credited."""
    rate, ret = attack_success_rate(ENV, NegatingAgent(make_agent("expert", env_id=ENV)),
                                    range(100))
    assert rate <= 0.05, rate


#: natural wordings of every expert move, none from the expert's templates
PARAPHRASES = {
    "readback.create_event": [
        "Let me read that back: {title}, {date}, {time}. Should I go ahead and put it in?",
        "Here's what I have: {title} on {date} at {time}. Does that look right?",
        "I've got {title} for {date} at {time}. Want me to add it?"],
    "readback.set_reminder": [
        "Here's what I have: a reminder to {text}, {date} at {time}. Does that look right?",
        "A reminder to {text} for {date} at {time} - should I go ahead?",
        "Reminder to {text} on {date} at {time}: is that correct?"],
    "readback.set_alarm": [
        "Here's what I have: an alarm for {date} at {time}. Does that look right?",
        "An alarm at {time} on {date}. Want me to set it?",
        "Let me read that back: wake-up alarm, {date}, {time}. Should I go ahead?"],
    "readback.set_timer": [
        "Here's what I have: a timer for {minutes} minutes, labelled {label}. Look right?",
        "A {label} timer running {minutes} minutes. Should I start it?",
        "Let me read that back: {minutes} minutes, for the {label}. Okay to start?"],
    "done.create_event": ["All set: {Title} is now in your calendar for {date} at {time}.",
                          "I've added {title} to your calendar on {date} at {time}."],
    "done.set_reminder": ["Your reminder to {text} is saved for {date} at {time}.",
                          "All set, I'll remind you to {text} on {date} at {time}."],
    "done.set_alarm": ["Your alarm for {date} at {time} has been set.",
                       "All set: the alarm will go off on {date} at {time}."],
    "done.set_timer": ["Your {label} timer for {minutes} minutes has started.",
                       "{minutes} minutes on the clock for the {label}, it's running now."],
    "checking": ["One moment while I look that up.", "Give me a second to check."],
    "weather": ["In {city} on {date} expect {condition}, highs of {high} degrees and lows "
                "around {low}.",
                "{city}, {date}: {condition}. The high will be {high}°C, the low {low}°C."],
    "calendar": ["Here's your {date}: {events}.", "You've got {events} on {date}."],
    "calendar_empty": ["Your calendar is completely free on {date}.",
                       "There's nothing scheduled for {date}."],
    "convert": ["That works out to roughly {answer} {to_name}.",
                "{value} {from_name} equals about {answer} {to_name}."],
    "anything_else": ["Can I help with something else?", "Need anything else from me?"],
    "fallback": ["Sorry, what can I do for you?"],
    "ask.title": ["What's the name of the event?", "How should I title the event?"],
    "ask.text": ["What's the reminder for?", "What should it say?"],
    "ask.label": ["What are you timing?", "What's this timer for?"],
    "ask.minutes": ["How long do you want it to run?", "For how many minutes?"],
    "ask.date": ["Which day works?", "What date should I use?"],
    "ask.time": ["And what time?", "What time works best?"],
    "ask.city": ["Which city are you asking about?", "Where would that be?"],
}


def test_paraphrases_cover_every_expert_move():
    assert set(PARAPHRASES) == set(load_data()["expert_templates"])
    for name, variants in PARAPHRASES.items():
        theirs = load_data()["expert_templates"][name]
        theirs = theirs if isinstance(theirs, list) else [theirs]
        assert not set(variants) & set(theirs), name


class Paraphraser(VirtualAssistantExpert):
    """The expert's decisions in other words: each move's wording drawn by episode."""

    def __init__(self, seed=0):
        super().__init__()
        self.rng = np.random.default_rng(seed)
        self.said_readbacks = set()
        self._pick()

    def _pick(self):
        self.templates = {k: v[int(self.rng.integers(len(v)))] for k, v in PARAPHRASES.items()}
        for k in [k for k in PARAPHRASES if k.startswith("readback.")]:
            self.templates[k] = list(self.rng.permutation(PARAPHRASES[k]))  # one per read-back

    def reset(self):
        super().reset()
        self.said_readbacks = set()
        self._pick()

    def _consume(self, st, message, today, cities):
        VirtualAssistantExpert._consume(st, message, today, cities)
        if message["role"] == "assistant" and message["content"] in self.said_readbacks:
            st["readback"] = dict(st["values"])
            st["readbacks"] += 1

    def act(self, observation):
        reply = super().act(observation)
        if "[" not in reply and any(reply == v.format(**self._human(self._state["values"]))
                                    for k, vs in PARAPHRASES.items() if k.startswith("readback")
                                    for v in vs if self._fits(v)):
            self.said_readbacks.add(reply)
        return reply

    def _fits(self, template):
        try:
            template.format(**self._human(self._state["values"]))
            return True
        except (KeyError, IndexError):
            return False


def test_paraphrased_expert_succeeds():
    rate, _ = attack_success_rate(ENV, Paraphraser, range(30), cycle_difficulty=True)
    assert rate >= 0.9, rate


def _find(kind, pred=lambda g: True, difficulty=0):
    env = gym.make(ENV)
    for seed in range(2000):
        obs, _ = env.reset(seed=seed, options={"difficulty": difficulty})
        g = env.unwrapped.scenario.goal
        if g["type"] == kind and pred(g):
            return env, obs, g
    raise AssertionError(f"no {kind} scenario")


_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen " \
        "fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def _words(x):
    """A number in words: 71.6 -> 'seventy-one point six' (below 1000)."""
    whole, _, frac = f"{x:.2f}".rstrip("0").rstrip(".").partition(".")
    n = int(whole)
    parts = []
    if n >= 100:
        parts.append(_ONES[n // 100] + " hundred")
        n %= 100
    if n >= 20:
        parts.append(_TENS[n // 10 - 2] + ("-" + _ONES[n % 10] if n % 10 else ""))
    elif n or not parts:
        parts.append(_ONES[n])
    out = " ".join(parts)
    return out + (" point " + " ".join(_ONES[int(d)] for d in frac) if frac else "")


def _answer_env(goal_pred=lambda c: True):
    return _find("convert", lambda g: goal_pred(g["convert"]) and g["convert"]["answer"] >= 0
                 and g["convert"]["answer"] < 1000 and g["convert"]["value"] >= 0)


UNIT_WORDS = {"c": ("C", "degrees Celsius"), "f": ("F", "degrees Fahrenheit"),
              "km": ("km", "kilometres"), "mi": ("mi", "miles"), "kg": ("kg", "kilograms"),
              "lb": ("lb", "pounds"), "cm": ("cm", "centimetres"), "in": ("inches", "inches"),
              "m": ("m", "metres"), "ft": ("ft", "feet"), "l": ("L", "litres"),
              "gal": ("gal", "gallons"), "oz": ("oz", "ounces"), "g": ("g", "grams")}


@pytest.mark.parametrize("form", ["symbols", "names", "words"])
def test_conversion_answer_read_from_typed_mentions(form):
    """'22 C is 71.6 F', '22 degrees Celsius is 71.6 degrees Fahrenheit' and the answer in
    words are all the same answer."""
    for pred in (lambda c: c["from"] == "c" and c["to"] == "f", lambda c: c["to"] == "km",
                 lambda c: c["to"] == "lb"):
        env, obs, g = _answer_env(pred)
        c = g["convert"]
        ans = float(f"{c['answer']:.1f}")
        v = f"{c['value']:g}"
        i = 0 if form == "symbols" else 1
        a = _words(ans) if form == "words" else f"{ans:g}"
        text = f"{v} {UNIT_WORDS[c['from']][i]} is {a} {UNIT_WORDS[c['to']][i]}."
        obs, r, term, trunc, info = env.step(text)
        assert info["success"], (text, c)


def test_negated_or_wrong_conversion_is_a_wrong_answer():
    """A negated or wrong answer is a wrong fact; a question or a supposition is no answer."""
    for text, wrong in (("It is not {} F.", True), ("It is {} F.", True),
                        ("If it were {} F I would say so.", False), ("Is it {} F?", False)):
        env, obs, g = _answer_env(lambda c: c["to"] == "f")
        right = float(f"{g['convert']['answer']:.1f}")
        value = right + 9 if text == "It is {} F." else right
        mood = env.unwrapped.user.mood
        obs, r, term, trunc, info = env.step(text.format(f"{value:g}"))
        assert not info["success"], text
        assert (env.unwrapped.user.mood < mood) == wrong, text
    obs, r, term, trunc, info = env.step(f"Sorry, it is {right:g} degrees Fahrenheit.")
    assert info["success"]


def test_every_question_of_a_reply_is_answered():
    env, obs, g = _find("weather", lambda g: not g["given"], difficulty=2)
    obs, r, term, trunc, info = env.step("Sure! Which city do you mean, and for which day?")
    said = env.unwrapped.dialogue[-1].text.lower()
    assert g["surfaces"]["city"].lower() in said and g["surfaces"]["date"].lower() in said, said
    env, obs, g = _find("set_alarm", lambda g: not g["given"], difficulty=2)
    obs, r, term, trunc, info = env.step("What time should the alarm ring? And on what day?")
    said = env.unwrapped.dialogue[-1].text.lower()
    assert g["surfaces"]["time"].replace("at ", "") in said
    assert g["surfaces"]["date"].lower() in said, said
    env, obs, g = _find("set_alarm", lambda g: not g["given"], difficulty=2)
    env.step("When should the alarm go off?")  # "when" asks for the day and the time
    said = env.unwrapped.dialogue[-1].text.lower()
    assert g["surfaces"]["time"].replace("at ", "") in said
    assert g["surfaces"]["date"].lower() in said, said


def test_tag_question_readback_states_its_details():
    from dialog_gym.envs.virtual_assistant import _lexicon

    a = _lexicon().analyze("So that's an alarm on Wednesday 8 April at 5:45 am, correct?")
    assert a.labels == {"inform", "request:confirmation"}
    assert a.asserted_values("time") == {"05:45"}


def test_values_in_a_question_are_options_not_a_wrong_answer():
    env, obs, g = _find("weather", lambda g: "date" not in g["given"] and "city" in g["given"],
                        difficulty=1)
    mood = env.unwrapped.user.mood
    obs, r, term, trunc, info = env.step("Which day: today, Friday July 10, or another date?")
    said = env.unwrapped.dialogue[-1].text
    assert g["surfaces"]["date"] in said and "doesn't sound right" not in said, said
    assert env.unwrapped.user.mood >= mood
    env, obs, g = _find("calendar_query", lambda g: "date" in g["given"])
    mood = env.unwrapped.user.mood
    env.step("Do you mean the team sync or the haircut?")
    assert env.unwrapped.user.mood >= mood


def test_readback_with_relative_days_and_words():
    """'tomorrow', weekdays and 'half an hour' are read back as the user's values."""
    env, obs, g = _find("set_alarm")
    today = date.fromisoformat(env.unwrapped.world["today"])
    d = date.fromisoformat(g["slots"]["date"])
    delta = (d - today).days
    word = "tomorrow" if delta == 1 else f"this {human_date(d).split()[0]}"
    t = human_time(g["slots"]["time"])
    obs, r, term, trunc, info = env.step(f"Alright, an alarm {word} at {t}. Should I set it?")
    assert env.unwrapped.dialogue[-1].meta.get("confirmed"), env.unwrapped.dialogue[-1].text
    env, obs, g = _find("set_timer", lambda g: g["slots"]["minutes"] == 30)
    obs, r, term, trunc, info = env.step(
        f"So half an hour for the {g['slots']['label']}, is that right?")
    assert env.unwrapped.dialogue[-1].meta.get("confirmed"), env.unwrapped.dialogue[-1].text


def test_negated_done_and_forecast_are_not_told():
    env, obs, g = _find("weather")
    w = env.unwrapped.world
    obs, *_ = env.step(f"Checking. [get_weather city={g['slots']['city']} "
                       f"date={g['slots']['date']}]")
    f = g["forecast"]
    obs, r, term, trunc, info = env.step(
        f"It won't be {f['condition']}, and the high is not {f['high']}°C.")
    assert not info["success"] and "forecast" not in env.unwrapped.user.told
    obs, r, term, trunc, info = env.step(
        f"Correction: it will be {f['condition']}, with a high of {f['high']}°C.")
    assert info["success"], obs["history"]
    assert w["lookups"]


# ------------------------------------------------------------------ messages and tool data

def _expert_episode(env, seed, difficulty=None):
    options = {} if difficulty is None else {"difficulty": difficulty}
    obs, _ = env.reset(seed=seed, options=options)
    seen, done = [obs], False
    while not done:
        obs, _, term, trunc, info = env.step(VirtualAssistantExpert().act(obs))
        seen.append(obs)
        done = term or trunc
    return seen, info


def _payloads(obs):
    from dialog_gym.messages import tool_payload

    return [(m["name"], tool_payload(m)) for m in obs["messages"] if m["role"] == "tool"]


def test_tool_data_matches_the_world_and_the_message():
    from dialog_gym.envs.virtual_assistant import convert_units, fmt_number, forecast

    env = gym.make(ENV)
    seen_kinds = set()
    for seed in range(80):
        seen, _ = _expert_episode(env, seed)
        w = env.unwrapped.world
        for name, p in _payloads(seen[-1]):
            if not p["ok"]:
                continue
            d = p["data"]
            seen_kinds.add(name)
            if name == "get_weather":
                assert (d["condition"], d["high_c"], d["low_c"]) == forecast(
                    w["weather_seed"], d["city"], d["date"])
                assert p["message"] == (f"{d['city']} on {d['date']}: {d['condition']}, "
                                        f"high {d['high_c']}°C, low {d['low_c']}°C")
            elif name == "list_events":
                assert [(e["time"], e["title"]) for e in d["events"]] == [
                    (e["time"], e["title"]) for e in w["events"] if e["date"] == d["date"]]
                for e in d["events"]:
                    assert f"{e['time']} {e['title']}" in p["message"]
            elif name == "convert":
                assert d["result"] == convert_units(d["value"], d["from"], d["to"])
                assert p["message"].endswith(f"= {fmt_number(d['result'])} {d['to']}")
            else:  # a write: the data is what it stored
                store = {"create_event": "events", "set_reminder": "reminders",
                         "set_alarm": "alarms", "set_timer": "timers"}[name]
                assert d in w[store], (d, w[store])
                assert all(str(d[k]) in p["message"] for k in ("date", "time", "minutes")
                           if k in d)
    assert {"get_weather", "list_events", "convert"} <= seen_kinds, seen_kinds
    assert seen_kinds & set(WRITE_GOALS), seen_kinds



def _until_result(kind, tool):
    """A ``kind`` episode played by the expert until ``tool`` has answered."""
    env, obs, _ = _find(kind)
    for _ in range(10):
        if any(n == tool for n, _ in _payloads(obs)):
            return obs
        obs, *_ = env.step(VirtualAssistantExpert().act(obs))
    raise AssertionError(f"{tool} never called")


def test_expert_reports_what_the_tool_data_says():
    """Changing the data (not the message text) of a look-up changes the expert's answer."""
    obs = _until_result("weather", "get_weather")
    assert "99°C" not in VirtualAssistantExpert().act(obs)
    assert "a high of 99°C" in VirtualAssistantExpert().act(
        with_tool_data(obs, "get_weather", lambda d: d.update(high_c=99)))

    obs = _until_result("calendar_query", "list_events")
    empty = VirtualAssistantExpert().act(with_tool_data(obs, "list_events",
                                                 lambda d: d.update(events=[])))
    assert empty.startswith("You have nothing on your calendar"), empty
    one = VirtualAssistantExpert().act(with_tool_data(obs, "list_events", lambda d: d.update(
        events=[{"id": "E9", "time": "06:15", "title": "zebra feeding"}])))
    assert "zebra feeding at 6:15" in one, one

    obs = _until_result("convert", "convert")
    assert " 12345.68 " in VirtualAssistantExpert().act(
        with_tool_data(obs, "convert", lambda d: d.update(result=12345.678)))


def test_readbacks_are_recognised_by_the_templates():
    """Every read-back template, filled in, begins like a read-back; no other move does."""
    from collections import defaultdict

    from dialog_gym.envs.virtual_assistant import is_readback

    assert not is_readback("So that'sall") and not is_readback("Just to confirmed")
    for name, variants in load_data()["expert_templates"].items():
        for v in variants if isinstance(variants, list) else [variants]:
            text = v.format_map(defaultdict(lambda: "dentist"))
            assert is_readback(text) == name.startswith("readback."), (name, text)
