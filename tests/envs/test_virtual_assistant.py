"""Dialog-VirtualAssistant-v0: solvability, confirmation and correction, attacks, bad input."""

import re
from datetime import date

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
    durations,
    human_date,
    human_time,
    make_tools,
    resolve_dates,
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
    def _consume(st, who, text, today, cities):
        before = dict(st["values"])
        VirtualAssistantExpert._consume(st, who, text, today, cities)
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


def test_scenarios_are_deterministic_by_index():
    assert GEN.generate(77, 1) == GEN.generate(77, 1)
    assert GEN.generate(77, 1) != GEN.generate(78, 1)


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
    today = date(2026, 3, 10)  # a Tuesday
    assert resolve_dates("on Friday", today) == {"2026-03-13"}
    assert resolve_dates("the day after tomorrow", today) == {"2026-03-12"}
    assert resolve_dates("Friday 13 March, not the 14th of March", today) == {
        "2026-03-13", "2026-03-14"}
    assert resolve_dates("on January 2", today) == {"2027-01-02"}
    assert resolve_dates("on the 5th of May", today) == {"2026-05-05"}
    assert time_values("at 2:30 p.m. or 14:45") == ["14:30", "14:45"]
    assert durations("half an hour, a 25-minute timer, an hour") == [30, 60, 25]


def test_reward_and_rules_are_configurable():
    from dialog_gym.rules import ForbiddenContent

    env = gym.make(ENV, reward={"task_success": 1.0},
                   rules=[ForbiddenContent("no_upsell", [r"\bpremium\b"])])
    env.reset(seed=0)
    _, r, _, _, info = env.step("Try our premium plan!")
    assert set(info["scores"]) == {"task_success"}
    assert "no_upsell" in info["violations"]
    assert isinstance(env.unwrapped.tools, ToolSet)
