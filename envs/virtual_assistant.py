"""Dialog-VirtualAssistant-v0: calendar, reminders, alarms, timers, weather and units.

The domain module holds the data, tools, confirmation rule, simulated user and scripted
expert; the turn loop is the shared :class:`~dialog_gym.env.DialogueEnv`.
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from dialog_gym.dialogue import AGENT, SYSTEM, USER, Dialogue
from dialog_gym.domain import Domain
from dialog_gym.env import DialogueEnv
from dialog_gym.messages import context_data, observed, tool_payload
from dialog_gym.rules import (
    ConfirmBeforeWrite,
    LengthLimit,
    NoRepetition,
    Politeness,
    RuleBook,
    profanity,
)
from dialog_gym.scenario import Scenario, make_scenario_id
from dialog_gym.simulator import AgendaUser, AgentReply, Fact, Milestone, ReplyAnalysis
from dialog_gym.text import normalize, time_values, tokens
from dialog_gym.tools import Tool, ToolCall, ToolParam, ToolResult, ToolSet
from dialog_gym.understanding import HYPOTHETICAL, QUESTION, Analysis, Lexicon, Mention, core_data

DOMAIN = "virtual_assistant"
#: goal type -> the slots the user must give, in the order they are asked
WRITE_GOALS: dict[str, tuple[str, ...]] = {
    "create_event": ("title", "date", "time"),
    "set_reminder": ("text", "date", "time"),
    "set_alarm": ("date", "time"),
    "set_timer": ("minutes", "label"),
}
INFO_GOALS: dict[str, tuple[str, ...]] = {
    "weather": ("city", "date"),
    "calendar_query": ("date",),
    "convert": (),
}
GOALS = (*WRITE_GOALS, *INFO_GOALS)
#: slots a user may change after giving them (at difficulty >= 1)
CORRECTABLE = ("date", "time", "minutes")
TEXT_SLOTS = ("title", "text", "label")
FORECAST_DAYS = 7
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
_SOUTH = frozenset({"Sydney", "Lima"})


@lru_cache(maxsize=1)
def load_data() -> dict[str, Any]:
    """Names, titles, cities, units and wording tables (``envs/data/virtual_assistant.json``)."""
    text = resources.files("dialog_gym.envs").joinpath("data/virtual_assistant.json").read_text(
        encoding="utf-8")
    return json.loads(text)


# ============================================================================ language helpers


def human_date(d: date) -> str:
    """``Friday 13 March``: a date as the assistant reads it back."""
    return f"{WEEKDAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]}"


def human_time(hhmm: str) -> str:
    """``2:30 pm`` from ``14:30``."""
    h, m = int(hhmm[:2]), int(hhmm[3:])
    return f"{h % 12 or 12}:{m:02d} {'am' if h < 12 else 'pm'}"


def minutes_surface(n: int, rng: random.Random) -> str:
    """How a user says a duration of ``n`` minutes."""
    words = {15: ["a quarter of an hour"], 30: ["half an hour"], 60: ["an hour", "one hour"],
             90: ["an hour and a half"]}.get(n, [])
    return rng.choice([*words, f"{n} minutes"])


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def date_surface(d: date, today: date, rng: random.Random) -> str:
    """How a user says a date: ``tomorrow``, ``on Friday``, ``on March 13``, ..."""
    delta = (d - today).days
    month = MONTHS[d.month - 1]
    forms = [f"on the {_ordinal(d.day)} of {month}", f"on {d.day} {month}"]
    if d.month != 5:  # "May 5" without a year reads as the verb to many parsers
        forms.append(f"on {month} {d.day}")
    if delta == 0:
        forms += ["today"] * 3
    elif delta == 1:
        forms += ["tomorrow"] * 3
    elif delta == 2:
        forms += ["the day after tomorrow"]
    if 2 <= delta <= 6:
        forms += [f"on {WEEKDAYS[d.weekday()]}", f"this {WEEKDAYS[d.weekday()]}"]
    return rng.choice(forms)


def time_surface(hhmm: str, rng: random.Random) -> str:
    """How a user says a clock time: ``at 2:30 pm``, ``at 14:30``, ``at 2 pm``."""
    h, m = int(hhmm[:2]), int(hhmm[3:])
    h12, ampm = h % 12 or 12, "am" if h < 12 else "pm"
    forms = [f"at {h12}:{m:02d} {ampm}", f"at {hhmm}", f"at {h12}:{m:02d} {ampm[0]}.m."]
    if m == 0:
        forms.append(f"at {h12} {ampm}")
    return rng.choice(forms)


# ============================================================================ units, weather

#: unit code -> (dimension, factor to the dimension's base unit); temperatures are special
UNITS: dict[str, tuple[str, float]] = {
    "km": ("length", 1000.0), "mi": ("length", 1609.344), "m": ("length", 1.0),
    "ft": ("length", 0.3048), "cm": ("length", 0.01), "in": ("length", 0.0254),
    "kg": ("mass", 1.0), "lb": ("mass", 0.45359237), "g": ("mass", 0.001),
    "oz": ("mass", 0.028349523125), "l": ("volume", 1.0), "gal": ("volume", 3.785411784),
    "c": ("temperature", 1.0), "f": ("temperature", 1.0),
}
#: every accepted spelling of a unit (tool arguments, user turns) -> unit code: the codes
#: and the core lexicon's phrases of each unit
UNIT_ALIASES: dict[str, str] = {code: code for code in UNITS}
UNIT_ALIASES.update({p: code for code, unit in load_data()["unit_lexicon"].items()
                     for p in core_data()["units"][unit]})
_UNIT_MENTION = re.compile(
    r"(?<![\w°])(" + "|".join(sorted((re.escape(w) for w in UNIT_ALIASES
                                     if len(w) > 1 and w != "in"),
                                     key=len, reverse=True)) + r")\b", re.IGNORECASE)


def convert_units(value: float, src: str, dst: str) -> float:
    """``value`` in unit ``src`` expressed in unit ``dst`` (codes of :data:`UNITS`)."""
    if src == dst:
        return value
    if UNITS[src][0] == "temperature":
        return value * 9 / 5 + 32 if src == "c" else (value - 32) * 5 / 9
    return value * UNITS[src][1] / UNITS[dst][1]


def fmt_number(x: float) -> str:
    """A number with at most two decimals and no trailing zeros."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def forecast(seed: str, city: str, day: str) -> tuple[str, int, int]:
    """The seeded forecast ``(condition, high, low)`` in °C for ``city`` on ``day``."""
    base = dict(load_data()["cities"])[city]
    d = date.fromisoformat(day)
    rng = random.Random(f"{seed}/weather/{city}/{day}")
    season = 8 * math.cos((d.timetuple().tm_yday - 200) / 365 * 2 * math.pi)
    high = round(base + (-season if city in _SOUTH else season)) + rng.randint(-4, 4)
    low = high - rng.randint(4, 9)
    conditions = [c for c in load_data()["conditions"] if c != "snow showers" or high <= 3]
    return rng.choice(conditions), high, low


# ============================================================================ scenarios


class VirtualAssistantGenerator:
    """Seeded scenarios for the assistant.

    Scenario ``index`` at ``difficulty`` is drawn from
    ``random.Random("virtual_assistant/<index>/<difficulty>")``: today's date, the user's
    calendar (3-7 events over the next two weeks), the cities with forecasts (the weather
    itself is a seeded function of city and day), and one goal among :data:`GOALS`:
    create a calendar event, set a reminder, an alarm or a timer (slot filling with a
    read-back the user must confirm), ask for the weather, for a day's calendar or for a
    unit conversion. The user's wording of dates (``tomorrow``, ``on Friday``,
    ``on the 13th of March``), times and durations is drawn here too.

    Difficulty 0: every slot is in the opening request. Difficulty 1: each slot is left
    out with probability 0.4 (the agent must ask), and half the write requests contain a
    correction (the user changes a date, time or duration after giving it). Difficulty 2:
    at least one slot left out, every write request has a correction, hurried users with
    less patience.
    """

    domain = DOMAIN
    difficulties = (0, 1, 2)

    def generate(self, index: int, difficulty: int) -> Scenario:
        """Scenario number ``index`` at ``difficulty``."""
        d = load_data()
        seed = f"{DOMAIN}/{int(index)}/{int(difficulty)}"
        rng = random.Random(seed)
        today = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
        user_name = rng.choice(d["first_names"])
        cities = rng.sample([c for c, _ in d["cities"]], 8)

        def a_time(lo: int = 7, hi: int = 21) -> str:
            return f"{rng.randint(lo, hi):02d}:{rng.choice([0, 15, 30, 45]):02d}"

        titles = rng.sample(d["event_titles"], 8)
        events = []
        for i, title in enumerate(titles[: rng.randint(3, 7)]):
            day = today + timedelta(days=rng.randint(0, 13))
            events.append({"id": f"E{i + 1}", "title": title, "date": day.isoformat(),
                           "time": a_time(8, 19)})
        events.sort(key=lambda e: (e["date"], e["time"]))
        spare_title = titles[7]

        goal_type = rng.choice(GOALS)
        needed = WRITE_GOALS.get(goal_type) or INFO_GOALS[goal_type]
        slots: dict[str, Any] = {}
        surfaces: dict[str, str] = {}
        extra: dict[str, Any] = {}

        def set_date(lo: int, hi: int) -> None:
            day = today + timedelta(days=rng.randint(lo, hi))
            slots["date"] = day.isoformat()
            surfaces["date"] = date_surface(day, today, rng)

        if goal_type == "create_event":
            slots["title"] = surfaces["title"] = spare_title
            set_date(1, 13)
            slots["time"] = a_time(8, 20)
        elif goal_type == "set_reminder":
            slots["text"] = surfaces["text"] = rng.choice(d["reminder_texts"])
            set_date(1, 13)
            slots["time"] = a_time(7, 21)
        elif goal_type == "set_alarm":
            set_date(1, 6)
            slots["time"] = a_time(5, 9)
        elif goal_type == "set_timer":
            slots["minutes"] = rng.choice(d["timer_minutes"])
            surfaces["minutes"] = minutes_surface(slots["minutes"], rng)
            slots["label"] = surfaces["label"] = rng.choice(d["timer_labels"])
        elif goal_type == "weather":
            slots["city"] = surfaces["city"] = rng.choice(cities)
            set_date(0, FORECAST_DAYS - 1)
            cond, high, low = forecast(seed, slots["city"], slots["date"])
            extra["forecast"] = {"condition": cond, "high": high, "low": low}
        elif goal_type == "calendar_query":
            busy = sorted({e["date"] for e in events})
            if rng.random() < 0.7:
                day = date.fromisoformat(rng.choice(busy))
                if day == today:
                    day = today + timedelta(days=1)
            else:
                free = [today + timedelta(days=k) for k in range(1, 14)
                        if (today + timedelta(days=k)).isoformat() not in busy]
                day = rng.choice(free) if free else today + timedelta(days=1)
            slots["date"] = day.isoformat()
            surfaces["date"] = date_surface(day, today, rng)
        else:  # convert
            src, dst, values = rng.choice(d["conversions"])
            value = float(rng.choice(values))
            names = d["unit_names"]
            extra["convert"] = {"value": value, "from": src, "to": dst,
                                "answer": round(convert_units(value, src, dst), 4),
                                "from_name": rng.choice(names[src]),
                                "to_name": rng.choice(names[dst])}
        if "time" in slots:
            surfaces["time"] = time_surface(slots["time"], rng)

        if difficulty == 0:
            given = list(needed)
        else:
            p_omit = 0.4 if difficulty == 1 else 0.6
            given = [s for s in needed if rng.random() >= p_omit]
            if difficulty == 2 and needed and len(given) == len(needed):
                given.remove(rng.choice(needed))

        correction = None
        p_correct = (0.0, 0.5, 1.0)[difficulty]
        if goal_type in WRITE_GOALS and rng.random() < p_correct:
            options = [s for s in needed if s in CORRECTABLE]
            in_opening = [s for s in options if s in given]
            slot = rng.choice(in_opening or options)
            if slot == "date":
                while True:
                    day = today + timedelta(days=rng.randint(1, 13 if goal_type != "set_alarm"
                                                             else 6))
                    if day.isoformat() != slots["date"]:
                        break
                new, surface = day.isoformat(), date_surface(day, today, rng)
            elif slot == "time":
                while True:
                    new = a_time(5, 9) if goal_type == "set_alarm" else a_time(8, 20)
                    if new != slots["time"]:
                        break
                surface = time_surface(new, rng)
            else:
                new = rng.choice([m for m in d["timer_minutes"] if m != slots["minutes"]])
                surface = minutes_surface(new, rng)
            trigger = "answer" if (slot in given and len(given) < len(needed)
                                   and rng.random() < 0.5) else "readback"
            correction = {"slot": slot, "value": new, "surface": surface, "trigger": trigger}

        final = dict(slots)
        if correction:
            final[correction["slot"]] = correction["value"]
        expected = [log_entry(goal_type, final)] if goal_type in WRITE_GOALS else []

        if difficulty == 2:
            mood_name = rng.choice(["hurried", "hurried", "calm"])
        else:
            mood_name = rng.choice(["calm", "calm", "cheerful"])
        mood_value = {"calm": 0.2, "cheerful": 0.4, "hurried": -0.2}[mood_name]
        goal = {"type": goal_type, "needed": list(needed), "slots": slots, "surfaces": surfaces,
                "given": given, "correction": correction, "expected_log": expected, **extra}
        world = {
            "today": today.isoformat(),
            "events": events,
            "reminders": [],
            "alarms": [],
            "timers": [],
            "cities": cities,
            "weather_seed": seed,
            "lookups": [],
            "log": [],
        }
        context = {
            "assistant": rng.choice(d["assistant_names"]),
            "persona": user_name,
            "role": "voice assistant",
            "mood": mood_name,
            "mood_value": mood_value,
            "today": today.isoformat(),
            "weekday": WEEKDAYS[today.weekday()],
            "cities": cities,
        }
        return Scenario(id=make_scenario_id(DOMAIN, index, difficulty), domain=DOMAIN,
                        context=context, goal=goal, world=world, difficulty=difficulty)


def log_entry(kind: str, slots: Mapping[str, Any]) -> list[Any]:
    """The action-log entry a write of ``kind`` with canonical ``slots`` produces."""
    if kind == "create_event":
        return [kind, normalize(slots["title"]), slots["date"], slots["time"]]
    if kind == "set_reminder":
        return [kind, normalize(slots["text"]), slots["date"], slots["time"]]
    if kind == "set_alarm":
        return [kind, slots["date"], slots["time"]]
    return [kind, int(slots["minutes"]), normalize(slots["label"])]


# ============================================================================ tools


def _parse_date(world: Mapping[str, Any], value: str, *, horizon: int | None = None
                ) -> tuple[str | None, str]:
    value = str(value).strip()
    if not re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        return None, f"date {value!r} is not YYYY-MM-DD; write e.g. date={world['today']}"
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None, f"date {value!r} does not exist"
    today = date.fromisoformat(world["today"])
    if day < today:
        return None, f"date {value} is in the past; today is {world['today']}"
    if horizon is not None and (day - today).days >= horizon:
        last = (today + timedelta(days=horizon - 1)).isoformat()
        return None, f"forecasts cover {world['today']} to {last} only"
    return value, ""


def _parse_time(value: str) -> tuple[str | None, str]:
    found = time_values(str(value))
    if len(found) != 1:
        return None, f"time {value!r} is not a clock time; write 24-hour HH:MM, e.g. time=14:30"
    return found[0], ""


def _log(world: MutableMapping[str, Any], entry: list[Any]) -> None:
    world["log"].append(entry)


def _create_event(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    day, err = _parse_date(world, args["date"])
    hhmm, err2 = _parse_time(args["time"])
    if day is None or hhmm is None:
        return ToolResult("create_event", False, err or err2)
    eid = f"E{len(world['events']) + 1}"
    world["events"].append({"id": eid, "title": args["title"], "date": day, "time": hhmm})
    _log(world, log_entry("create_event", {"title": args["title"], "date": day, "time": hhmm}))
    return ToolResult("create_event", True, f"event {eid} '{args['title']}' on {day} at {hhmm}",
                      {"id": eid, "title": args["title"], "date": day, "time": hhmm})


def _set_reminder(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    day, err = _parse_date(world, args["date"])
    hhmm, err2 = _parse_time(args["time"])
    if day is None or hhmm is None:
        return ToolResult("set_reminder", False, err or err2)
    world["reminders"].append({"text": args["text"], "date": day, "time": hhmm})
    _log(world, log_entry("set_reminder", {"text": args["text"], "date": day, "time": hhmm}))
    return ToolResult("set_reminder", True, f"reminder '{args['text']}' on {day} at {hhmm}",
                      {"text": args["text"], "date": day, "time": hhmm})


def _set_alarm(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    day, err = _parse_date(world, args["date"])
    hhmm, err2 = _parse_time(args["time"])
    if day is None or hhmm is None:
        return ToolResult("set_alarm", False, err or err2)
    world["alarms"].append({"date": day, "time": hhmm, "label": args.get("label", "")})
    _log(world, log_entry("set_alarm", {"date": day, "time": hhmm}))
    return ToolResult("set_alarm", True, f"alarm on {day} at {hhmm}",
                      {"date": day, "time": hhmm, "label": args.get("label", "")})


def _set_timer(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    minutes = int(args["minutes"])
    if not 1 <= minutes <= 24 * 60:
        return ToolResult("set_timer", False,
                          f"minutes={minutes} is out of range; timers run 1 to 1440 minutes")
    world["timers"].append({"minutes": minutes, "label": args["label"]})
    _log(world, log_entry("set_timer", {"minutes": minutes, "label": args["label"]}))
    return ToolResult("set_timer", True, f"{minutes}-minute timer '{args['label']}' started",
                      {"minutes": minutes, "label": args["label"]})


def _list_events(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    day, err = _parse_date(world, args["date"])
    if day is None:
        return ToolResult("list_events", False, err)
    entry = ["events", day]
    if entry not in world["lookups"]:
        world["lookups"].append(entry)
    events = [{"id": e["id"], "time": e["time"], "title": e["title"]}
              for e in world["events"] if e["date"] == day]
    rows = [f"{e['time']} {e['title']}" for e in events]
    return ToolResult("list_events", True, f"{day}: " + ("; ".join(rows) if rows else "no events"),
                      {"date": day, "events": events})


def _get_weather(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    city = next((c for c in world["cities"] if c.lower() == str(args["city"]).strip().lower()),
                None)
    if city is None:
        return ToolResult("get_weather", False, f"no forecast for {args['city']!r}; covered "
                          f"cities: {', '.join(world['cities'])}")
    day, err = _parse_date(world, args["date"], horizon=FORECAST_DAYS)
    if day is None:
        return ToolResult("get_weather", False, err)
    entry = ["weather", city, day]
    if entry not in world["lookups"]:
        world["lookups"].append(entry)
    cond, high, low = forecast(world["weather_seed"], city, day)
    return ToolResult("get_weather", True,
                      f"{city} on {day}: {cond}, high {high}°C, low {low}°C",
                      {"city": city, "date": day, "condition": cond, "high_c": high,
                       "low_c": low})


def _convert(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    src = UNIT_ALIASES.get(str(args["from"]).strip().lower())
    dst = UNIT_ALIASES.get(str(args["to"]).strip().lower())
    if src is None or dst is None:
        bad = args["from"] if src is None else args["to"]
        return ToolResult("convert", False, f"unknown unit {bad!r}; units: "
                          f"{', '.join(sorted(UNITS))}")
    if UNITS[src][0] != UNITS[dst][0]:
        return ToolResult("convert", False, f"cannot convert {UNITS[src][0]} ({src}) to "
                          f"{UNITS[dst][0]} ({dst})")
    value = float(args["value"])
    out = convert_units(value, src, dst)
    world["lookups"].append(["convert", value, src, dst])
    return ToolResult("convert", True, f"{fmt_number(value)} {src} = {fmt_number(out)} {dst}",
                      {"value": value, "from": src, "to": dst, "result": out})


def make_tools() -> ToolSet:
    """The assistant's tools."""
    s = ToolParam(str)
    return ToolSet([
        Tool("list_events", {"date": s}, _list_events, "the user's calendar events on a date"),
        Tool("get_weather", {"city": s, "date": s}, _get_weather,
             "forecast (condition, high and low in °C) for a covered city, today to 6 days "
             "ahead"),
        Tool("convert", {"value": ToolParam(float), "from": s, "to": s}, _convert,
             "convert between units (km, mi, m, ft, cm, in, kg, lb, g, oz, l, gal, c, f)"),
        Tool("create_event", {"title": s, "date": s, "time": s}, _create_event,
             "add a calendar event (date YYYY-MM-DD, time HH:MM)", writes=True),
        Tool("set_reminder", {"text": s, "date": s, "time": s}, _set_reminder,
             "set a reminder (date YYYY-MM-DD, time HH:MM)", writes=True),
        Tool("set_alarm", {"date": s, "time": s, "label": ToolParam(str, required=False)},
             _set_alarm, "set an alarm (date YYYY-MM-DD, time HH:MM)", writes=True),
        Tool("set_timer", {"minutes": ToolParam(int), "label": s}, _set_timer,
             "start a countdown timer", writes=True),
    ])


_WRITE_TOOLS = frozenset(WRITE_GOALS)


def canonical_call(call: ToolCall) -> dict[str, str]:
    """A write call's arguments in the form the user confirms (see :func:`confirmation`)."""
    out: dict[str, str] = {}
    for k, v in call.args.items():
        if k in TEXT_SLOTS:
            out[k] = normalize(str(v))
        elif k == "time":
            found = time_values(str(v))
            out[k] = found[0] if len(found) == 1 else str(v).strip()
        elif k == "minutes":
            out[k] = str(int(v))
        else:
            out[k] = str(v).strip()
    return out


def confirmation(kind: str, slots: Mapping[str, Any]) -> dict[str, str]:
    """What the user confirms for a write of ``kind`` (the ``Turn.meta["confirmed"]`` value)."""
    out = {"tool": kind}
    for k in WRITE_GOALS[kind]:
        out[k] = normalize(str(slots[k])) if k in TEXT_SLOTS else str(slots[k])
    return out


# ============================================================================ understanding

#: text slot -> the entity kind of its values in the lexicon
_TEXT_KINDS = {"title": "title", "text": "reminder", "label": "label"}
_TEMPERATURE_UNITS = frozenset({"celsius", "fahrenheit", "degree"})
#: mention kinds that carry a told value (a new one means the reply is no echo)
_VALUE_KINDS = frozenset({"number", "quantity", "duration", "time", "date", "weekday",
                          "condition", "title", "schedule", "status"})


@lru_cache(maxsize=1)
def understanding_data() -> dict[str, Any]:
    """The domain's understanding data (``understanding`` of the data file, with entities).

    Entities are built from the data file's lists: event titles, reminder texts, timer
    labels, cities, weather conditions with their ``condition_phrases``.
    """
    d = load_data()
    out = copy.deepcopy(d["understanding"])
    ents = out.setdefault("entities", {})
    for kind, key in (("title", "event_titles"), ("reminder", "reminder_texts"),
                      ("label", "timer_labels")):
        ents[kind] = {t: [] for t in d[key]}
    ents["city"] = {c: [] for c, _ in d["cities"]}
    ents["condition"] = {c: list(d["condition_phrases"].get(c, ())) for c in d["conditions"]}
    return out


def _unit_code(unit: str) -> str | None:
    """The tool's unit code of a lexicon unit (``"kilometer"`` -> ``"km"``)."""
    return _UNIT_CODES.get(unit)


_UNIT_CODES = {v: k for k, v in load_data()["unit_lexicon"].items()}


def mention_dates(mentions: list[Mention], today: date) -> set[str]:
    """ISO dates that date and weekday mentions refer to, resolved against ``today``.

    In a clause an explicit date wins over a weekday (``Friday`` in ``Friday 13 March``);
    a year-less date already past means next year, a weekday the next such day (1-7 days
    ahead), ``tomorrow`` today + 1.
    """
    out: set[str] = set()
    dated = {m.clause for m in mentions if m.kind == "date" and m.value[0] != "relative"}
    for m in mentions:
        if m.kind == "date" and m.value[0] == "relative":
            out.add((today + timedelta(days=int(m.value[1]))).isoformat())
        elif m.kind == "date":
            y, mo, d = m.value
            try:
                cand = date(y if y is not None else today.year, mo, d)
                if y is None and cand < today:
                    cand = date(today.year + 1, mo, d)
            except ValueError:
                continue
            out.add(cand.isoformat())
        elif m.kind == "weekday" and m.clause not in dated:
            out.add((today + timedelta(days=(m.value - today.weekday()) % 7 or 7)).isoformat())
    return out


def mention_minutes(m: Mention) -> int | None:
    """Minutes of a duration mention (``25 minutes``, ``1.5 hours``, ``half an hour``)."""
    if m.kind == "duration_words":
        return int(m.value)
    if m.kind != "duration":
        return None
    amount, unit = m.value
    value = amount * {"minute": 1, "hour": 60, "second": 1 / 60}.get(unit, 0)
    return round(value) if value and abs(value - round(value)) < 1e-6 else None


def mention_celsius(m: Mention) -> float | None:
    """A temperature mention in °C (``21°C``, ``70 degrees Fahrenheit``, ``21 degrees``)."""
    if m.kind != "quantity" or m.value[1] not in _TEMPERATURE_UNITS:
        return None
    v, unit = m.value
    return (v - 32) * 5 / 9 if unit == "fahrenheit" else v


# ============================================================================ simulator


def _tidy(text: str) -> str:
    """Drop the doubled full stop after values such as ``a.m.``."""
    return text.replace("..", ".")


class VirtualAssistantUser(AgendaUser):
    """The simulated user: asks for one thing, answers slot questions, confirms read-backs.

    The user reads a reply's analysis (``reply.analysis``, from the domain's understanding
    data) and answers every slot it asks for. A told fact counts only when asserted; an
    asserted wrong value, or the true value negated, is a wrong fact; values in a
    question ("which day: today or Friday?") are options. For write requests the user
    confirms only a read-back (a request for ``confirmation`` naming the details) with
    every detail at the user's current value and one value per detail (several dates
    or times are answered with a correction, a bare "shall I go ahead?" with a request
    to read the details back). At difficulty >= 1 the user may change a detail after
    giving it (answering the next question or the first read-back); the confirmation is
    ``Turn.meta["confirmed"]``, for :class:`~dialog_gym.rules.ConfirmBeforeWrite`.

    Milestones: writes: confirmed (0.3), written (0.4: the log holds the exact entry),
    told (0.3: told it is done, after it was). Weather and calendar: looked up with the
    right arguments (0.5), told (0.5: the condition and high / every event of the day and
    no other). Conversions: the right number in the target unit (1.0). Success also needs
    the action log to be exactly what the request needs.
    """

    def __init__(self) -> None:
        super().__init__(patience=(10, 8, 6), max_requests=3)
        self.templates = load_data()["user_templates"]
        self.meaning: Analysis | None = None

    def analyze(self, dialogue: Dialogue, reply: AgentReply) -> ReplyAnalysis:
        """The shared labels; a terse answer or a read-back is no echo or word salad.

        "18 degrees Celsius is 64.4 degrees Fahrenheit." reuses the user's words and has
        few function words, but every clause has a verb and it asserts a new value; "So
        half an hour for the pasta, is that right?" repeats the user's details to have
        them confirmed.
        """
        a = super().analyze(dialogue, reply)
        m = reply.analysis
        if m is not None and a.stuffed and len(a.requests) <= self.max_requests and all(
                set(c.tokens) & _lexicon().aux for c in m.clauses):
            a.stuffed = False
        if a.echo and m is not None:
            last = next((t.text for t in reversed(dialogue) if t.speaker == USER), "")
            heard = set(tokens(last))
            readback = self.kind in WRITE_GOALS and self._asks_confirmation(m)
            a.echo = not readback and not any(
                x.asserted and x.kind in _VALUE_KINDS and not set(tokens(x.text)) <= heard
                for x in m.mentions)
        return a

    # -- state ---------------------------------------------------------------------
    def reset_goal_state(self) -> None:
        """Copy the goal's slots (they may change by correction) and build milestones."""
        assert self.scenario is not None
        g = self.scenario.goal
        self.goal = g
        self.kind = g["type"]
        self.today = date.fromisoformat(self.world["today"])
        self.values: dict[str, Any] = dict(g["slots"])
        self.surfaces: dict[str, str] = dict(g["surfaces"])
        self.needed: tuple[str, ...] = tuple(g["needed"])
        self.given: set[str] = set(g["given"])
        self.correction: Mapping[str, Any] | None = g["correction"]
        self.corrected = self.correction is None
        self.confirmed = False
        self.harmed = False
        self.meaning = None
        self.facts = self._facts()
        self.milestones = self._milestones()

    def entry(self) -> list[Any]:
        """The log entry the request needs, with the current (possibly corrected) slots."""
        return log_entry(self.kind, self.values)

    def _facts(self) -> list[Fact]:
        k = self.kind
        if k in WRITE_GOALS:
            return [Fact("done", self._told(self._told_done),
                         lambda w: self.entry() in w["log"])]
        if k == "weather":
            return [Fact("forecast", self._told(self._told_weather), lambda w: [
                "weather", self.values["city"], self.values["date"]] in w["lookups"])]
        if k == "calendar_query":
            return [Fact("events", self._told(self._told_events),
                         lambda w: ["events", self.values["date"]] in w["lookups"])]
        return [Fact("answer", self._told(self._told_conversion))]

    def _told(self, judge: Callable[[Analysis], bool]) -> Callable[[str, str], bool]:
        """A :attr:`Fact.told` reading the analysis of the reply being judged."""
        return lambda raw, low: self.meaning is not None and judge(self.meaning)

    def _milestones(self) -> list[Milestone]:
        w = self.world
        told = ("told", self.all_told)
        if self.kind in WRITE_GOALS:
            steps = [(("confirmed", lambda: self.confirmed), 0.3),
                     (("written", lambda: self.entry() in w["log"]), 0.4), (told, 0.3)]
        elif self.kind == "convert":
            steps = [(told, 1.0)]
        else:
            steps = [(("looked_up", lambda: self.facts[0].ready(w)), 0.5), (told, 0.5)]
        return [Milestone(name, weight, pred) for (name, pred), weight in steps]

    def is_complete(self) -> bool:
        """Every milestone reached and the action log is exactly what the request needs."""
        if self.harmed or self.progress() < 1.0 - 1e-9:
            return False
        expected = [self.entry()] if self.kind in WRITE_GOALS else []
        return self.world["log"] == expected

    # -- understanding ---------------------------------------------------------------
    def _canon(self, slot: str) -> str:
        v = self.values[slot]
        return normalize(v) if slot in TEXT_SLOTS else str(v)

    def _slot_values(self, m: Analysis, slot: str,
                     pick: Callable[[Mention], bool]) -> set[str]:
        """The values of ``slot`` among the mentions ``pick`` keeps."""
        ms = [x for x in m.mentions if pick(x)]
        if slot == "date":
            return mention_dates(ms, self.today)
        if slot == "time":
            return {x.value for x in ms if x.kind == "time"}
        if slot == "minutes":
            return {str(n) for x in ms if (n := mention_minutes(x)) is not None}
        kind = _TEXT_KINDS.get(slot, slot)
        return {normalize(x.value) if slot in TEXT_SLOTS else x.value
                for x in ms if x.kind == kind}

    def _stated(self, m: Analysis, slot: str) -> set[str]:
        """Values of ``slot`` the reply proposes: mentioned in any clause, not negated."""
        return self._slot_values(m, slot, lambda x: not x.negated)

    def _consistent(self, m: Analysis) -> bool:
        """No asserted date, time or duration contradicts the request."""
        for slot in self.needed:
            if slot in TEXT_SLOTS:
                continue
            got = self._slot_values(m, slot, lambda x: x.asserted)
            if got and got != {self._canon(slot)}:
                return False
        return True

    @staticmethod
    def _asks_confirmation(m: Analysis) -> bool:
        return "confirmation" in m.requests

    def _claims_done(self, m: Analysis) -> bool:
        return "done" in m.asserted_values("status") and not self._asks_confirmation(m)

    def _told_done(self, m: Analysis) -> bool:
        return self._claims_done(m) and self._consistent(m)

    @staticmethod
    def _temperatures(m: Analysis, pick: Callable[[Mention], bool]) -> set[int]:
        """Temperatures in °C among the mentions ``pick`` keeps.

        Quantities with a temperature unit, and bare numbers in a clause that has one
        ("a high of 21 and a low of 12°C").
        """
        out: set[int] = set()
        hot = set()
        for x in m.mentions:
            c = mention_celsius(x)
            if c is not None and pick(x):
                out.add(round(c))
                hot.add(x.clause)
        out.update(round(x.value) for x in m.mentions
                   if x.kind == "number" and x.clause in hot and pick(x))
        return out

    def _told_weather(self, m: Analysis) -> bool:
        f = self.goal["forecast"]
        said = m.asserted_values("condition")
        temps = self._temperatures(m, lambda x: x.asserted)
        return said == {f["condition"]} and f["high"] in temps and \
            temps <= {f["high"], f["low"]} and f["condition"] not in m.negated_values(
                "condition")

    def _day_titles(self) -> set[str]:
        """Titles on the asked day."""
        day = self.values["date"]
        return {e["title"] for e in self.world["events"] if e["date"] == day}

    def _told_events(self, m: Analysis) -> bool:
        on = self._day_titles()
        said = m.asserted_values("title")
        if (said - on) or (on & m.negated_values("title")):
            return False
        if not on:
            return "busy" in m.negated_values("schedule") or \
                "free" in m.asserted_values("schedule")
        return on <= said

    def _answers(self, m: Analysis, pick: Callable[[Mention], bool]) -> list[float]:
        """Candidate answers of the conversion among the mentions ``pick`` keeps.

        Values in the target unit, and bare numbers in their clauses (not the question's
        value).
        """
        c = self.goal["convert"]
        target = [x for x in m.mentions if x.kind == "quantity" and pick(x)
                  and _unit_code(x.value[1]) == c["to"]]
        clauses = {x.clause for x in target}
        bare = [x.value for x in m.mentions if x.kind == "number" and x.clause in clauses
                and pick(x) and abs(x.value - c["value"]) > 1e-9]
        return [x.value[0] for x in target] + bare

    def _told_conversion(self, m: Analysis) -> bool:
        """Asserted values in the target unit, every one right (rounding aside)."""
        c = self.goal["convert"]
        tol = max(0.01 * abs(c["answer"]), 0.1)
        got = self._answers(m, lambda x: x.asserted)
        return bool(got) and all(abs(v - c["answer"]) <= tol for v in got)

    def _claims(self, m: Analysis) -> bool:
        """The reply states an answer of the goal's kind (right or wrong, or negated)."""
        k = self.kind

        def stated(x: Mention) -> bool:
            return x.modality != QUESTION and x.modality != HYPOTHETICAL

        if k in WRITE_GOALS:
            return self._claims_done(m)
        kinds = {"weather": ("condition",), "calendar_query": ("title", "schedule")}.get(k)
        if kinds is not None:
            if any(x.kind in kinds and stated(x) for x in m.mentions):
                return True
            return k == "weather" and bool(self._temperatures(m, stated))
        c = self.goal["convert"]
        return bool(self._answers(m, stated)) or any(
            x.kind in ("number", "quantity") and stated(x)
            and abs((x.value if x.kind == "number" else x.value[0]) - c["value"]) > 1e-9
            for x in m.mentions)


    # -- language --------------------------------------------------------------------
    def _when(self) -> str:
        parts = [self.surfaces[s] for s in ("date", "time") if s in self.given]
        return (" " + " ".join(parts)) if parts else ""

    def opening(self, rng: np.random.Generator) -> str:
        """State the request with the slots given up front."""
        k, s, given = self.kind, self.surfaces, self.given
        slots: dict[str, Any] = {"when": self._when(), **s}
        if k == "create_event":
            act = "open.create_event" + ("" if "title" in given else ".untitled")
        elif k == "set_reminder":
            act = "open.set_reminder" + ("" if "text" in given else ".untexted")
        elif k == "set_alarm":
            act = "open.set_alarm"
        elif k == "set_timer":
            has = ("minutes" in given, "label" in given)
            act = "open.set_timer." + {(True, True): "both", (False, True): "label",
                                       (True, False): "minutes"}.get(has, "none")
        elif k == "weather":
            has = ("city" in given, "date" in given)
            act = "open.weather." + {(True, True): "both", (True, False): "city",
                                     (False, True): "date"}.get(has, "none")
        elif k == "calendar_query":
            act = "open.calendar_query" + ("" if "date" in given else ".none")
        else:
            c = self.goal["convert"]
            act = "open.convert"
            slots.update({"value": fmt_number(c["value"]), "from": c["from_name"],
                          "to": c["to_name"]})
        text = _tidy(self.say(act, rng, **slots))
        if self.mood < 0:
            text = self.say("open_prefix.upset", rng) + " " + text
        return text

    def restate(self, rng: np.random.Generator) -> str:
        """Say again what is still needed."""
        return self.say("restate." + self.kind, rng)

    def _value(self, act: str, slot: str, rng: np.random.Generator) -> str:
        v = self.surfaces[slot]
        return _tidy(self.say(act, rng, value=v, Value=v[:1].upper() + v[1:]))

    # -- reactions ---------------------------------------------------------------------
    def react(self, a: ReplyAnalysis, reply: AgentReply,
              rng: np.random.Generator) -> tuple[list[str], bool]:
        """Answer every request, judge read-backs, check what was done and told."""
        m = reply.analysis if reply.analysis is not None else _lexicon().analyze(reply.text)
        self.meaning = m
        parts: list[str] = []
        useful = False
        raw = reply.text
        write = self.kind in WRITE_GOALS

        expected = [self.entry()] if write else []
        log = self.world["log"]
        if not self.harmed and (len(log) > len(expected) or any(e not in expected for e in log)):
            self.harmed = True
            self.mood -= 0.4
            parts.append(self.say("unwanted_action", rng))
        wrote = any(r.ok and r.name in _WRITE_TOOLS for r in reply.results)
        if wrote:
            self.turn_meta["confirmed"] = None  # a confirmation is used up by its write

        if self.check_facts(raw):
            useful = True
            parts.append(self.say("ack_info", rng))
        elif self._claims(m) and not self._told_any(raw):
            self.mood -= 0.2
            parts.append(self.say("wrong_fact", rng))

        asked = [s for s in a.requests if s != "confirmation"]
        pending = write and not wrote and "done" not in self.told
        if pending and self._asks_confirmation(m):
            stated = [s for s in self.needed if self._stated(m, s)]
            if stated:
                useful = self._judge_readback(m, parts, rng) or useful
                asked = [s for s in asked if s not in stated]  # the read-back covers them
            elif not asked:
                parts.append(self.say("need_readback", rng))
        if asked:
            useful = self._answer(set(asked), parts, rng) or useful

        if not parts:
            parts.append(self.say("ack_wait", rng) if a.calls_ok else self.restate(rng))
        if self.patience <= 2 and not useful:
            parts.insert(0, self.say("low_patience", rng))
        return parts, useful

    def _told_any(self, raw: str) -> bool:
        return any(f.told(raw, raw.lower()) for f in self.facts)

    def _answer(self, requests: set[str], parts: list[str], rng: np.random.Generator) -> bool:
        relevant = [s for s in self.needed if s in requests]
        if not relevant:
            parts.append(self.say("no_need", rng))
            return False
        before = set(self.given)
        useful = False
        for slot in relevant:
            if slot in self.given:
                parts.append(self._value("already_gave", slot, rng))
            else:
                self.given.add(slot)
                useful = True
                parts.append(self._value("give." + slot, slot, rng))
        c = self.correction
        if useful and not self.corrected and c is not None and c["trigger"] == "answer" \
                and c["slot"] in before:
            parts.append(self._correct(rng))
        return useful

    def _correct(self, rng: np.random.Generator) -> str:
        c = self.correction
        assert c is not None
        self.values[c["slot"]] = c["value"]
        self.surfaces[c["slot"]] = c["surface"]
        self.corrected = True
        self.confirmed = False
        self.turn_meta["confirmed"] = None
        return _tidy(self.say("correction", rng, value=c["surface"]))

    def _judge_readback(self, m: Analysis, parts: list[str], rng: np.random.Generator) -> bool:
        wrong, missing = [], []
        for slot in self.needed:
            got = self._stated(m, slot)
            if not got:
                missing.append(slot)
            elif got != {self._canon(slot)}:
                wrong.append(slot)
        if wrong:
            self.turn_meta["confirmed"] = None
            self.given.add(wrong[0])
            parts.append(self._value("deny", wrong[0], rng))
            return False
        if missing:
            parts.append(self.say("need_readback", rng))
            return False
        self.given.update(self.needed)
        if not self.corrected:
            parts.append(self._correct(rng))
            return True
        self.confirmed = True
        self.turn_meta["confirmed"] = confirmation(self.kind, self.values)
        parts.append(self.say("confirm", rng))
        return True


@lru_cache(maxsize=1)
def _lexicon() -> Lexicon:
    """The domain's lexicon, for replies that come without an analysis."""
    return Lexicon.from_data(understanding_data())


# ============================================================================ expert

_GOAL_PATTERNS = [
    ("set_timer", re.compile(r"\btimer\b|\btime \d|\btime (?:an?|half)\b", re.I)),
    ("set_alarm", re.compile(r"\balarm\b|\bwake me\b", re.I)),
    ("set_reminder", re.compile(r"\bremind", re.I)),
    ("weather", re.compile(r"\bweather\b|\bforecast\b|\brain\b|\bumbrella\b", re.I)),
    ("convert", re.compile(r"\bconvert\b|\bhow many\b|\bwhat(?:'s| is) -?\d", re.I)),
    ("calendar_query", re.compile(r"\bwhat(?:'s| is) on my calendar\b|\banything scheduled\b|"
                                  r"\bmy day look like\b|\bcheck my calendar\b|"
                                  r"\bmy schedule\b", re.I)),
    ("create_event", re.compile(r"\bcalendar\b|\bschedule\b|\bevent\b", re.I)),
]

_CONFIRM_REPLY = re.compile(r"^\W*(?:yes|yep|yeah|correct|perfect|that's (?:right|correct)|"
                            r"sounds good|exactly)\b", re.I)


def classify_goal(text: str) -> str | None:
    """The request a user's opening message expresses."""
    for goal, pat in _GOAL_PATTERNS:
        if pat.search(text):
            return goal
    return None


def parse_conversion(text: str) -> tuple[float, str, str] | None:
    """``(value, from, to)`` unit codes of a conversion question, or ``None``."""
    mentions = [(m.start(), m.end(), UNIT_ALIASES[m.group(1).lower()])
                for m in _UNIT_MENTION.finditer(text)]
    for m in re.finditer(r"(?<![\w.])(-?\d+(?:\.\d+)?)\s*", text):
        src = next((u for s, _, u in mentions if s == m.end()), None)
        if src is None:
            continue
        others = [u for s, _, u in mentions if s != m.end() and u != src
                  and UNITS[u][0] == UNITS[src][0]]
        if others:
            return float(m.group(1)), src, others[0]
    return None


@lru_cache(maxsize=1)
def readback_openers() -> tuple[str, ...]:
    """How the expert's read-backs begin.

    Each ``readback.*`` template's words before its first slot: an assistant turn is
    recognised as a read-back by the templates of the data file, not by a pattern here.
    """
    templates = load_data()["expert_templates"]
    heads = {v.split("{", 1)[0].rstrip(" :,") for k, vs in templates.items()
             if k.startswith("readback.") for v in vs}
    return tuple(sorted(h for h in heads if not any(h != o and h.startswith(o) for o in heads)))


def is_readback(text: str) -> bool:
    """Whether an assistant turn begins like one of the expert's read-backs."""
    return any(text.startswith(p) and not (text[len(p):len(p) + 1].isalnum()
                                           or text[len(p):len(p) + 1] == "_")
               for p in readback_openers())


def _new_state() -> dict[str, Any]:
    return {"kind": None, "values": {}, "readback": None, "readbacks": 0, "confirmed": None,
            "written": False,
            "weather": {}, "events": {}, "conversion": None, "converted": None}


class VirtualAssistantExpert:
    """A scripted assistant that acts from observations only.

    It reads the observation's chat ``messages``: today and the covered cities from the
    system message's ``data`` (:func:`~dialog_gym.messages.context_data`; messages without
    it are a ``ConfigError``), the request type from the user's first message, the slots from every
    user turn (the latest value of a slot wins, so corrections are followed), its own
    read-backs from its earlier turns, and the tools' structured ``data``. It asks for
    the missing slots, reads the details back and writes only after the user says yes;
    for questions it calls the look-up tool and reports its result.
    """

    def __init__(self) -> None:
        self.templates = load_data()["expert_templates"]
        self._state: dict[str, Any] = _new_state()

    def reset(self) -> None:
        """Nothing to forget: every reply is decided from the observation alone."""
        self._state = _new_state()

    def act(self, observation: Mapping[str, Any]) -> str:
        """The expert's reply to an observation (read from its ``messages``)."""
        messages = observed(observation, "VirtualAssistantExpert")
        ctx = context_data(messages, "VirtualAssistantExpert")
        today = date.fromisoformat(ctx["today"])
        st = self._parse(messages, today, tuple(ctx["cities"]))
        return self._decide(st, today)

    def _parse(self, messages: Sequence[Mapping[str, Any]], today: date,
               cities: tuple[str, ...]) -> dict[str, Any]:
        self._state = _new_state()
        for message in messages:
            self._consume(self._state, message, today, cities)
        return self._state

    @staticmethod
    def _consume(st: dict[str, Any], message: Mapping[str, Any], today: date,
                 cities: tuple[str, ...]) -> None:
        """Update the state ``st`` with one chat message.

        The user's words are read through the lexicon, the assistant's own turns by how
        they begin (:func:`is_readback`), tool results through their structured ``data``.
        """
        vals = st["values"]
        role = message.get("role")
        text = message.get("content") or ""
        if role == "user":
            if st["kind"] is None:
                st["kind"] = classify_goal(text)
                if st["kind"] == "convert":
                    st["conversion"] = parse_conversion(text)
            if _CONFIRM_REPLY.match(text) and st["readback"] == vals:
                st["confirmed"] = dict(vals)
            kind = st["kind"]
            needed = WRITE_GOALS.get(kind) or INFO_GOALS.get(kind) or ()
            said = _lexicon().analyze(text).mentions  # the user's words, typed
            for slot in needed:
                if slot == "date":
                    got: list[Any] = sorted(mention_dates(list(said), today))
                elif slot == "minutes":
                    got = [n for x in said if (n := mention_minutes(x)) is not None]
                else:  # time, city and the text slots (known titles, reminders, labels)
                    got = [x.value for x in said if x.kind == _TEXT_KINDS.get(slot, slot)
                           and (slot != "city" or x.value in cities)]
                if got:
                    vals[slot] = got[-1]
        elif role == "assistant":
            if is_readback(text):
                st["readback"] = dict(vals)
                st["readbacks"] += 1
        elif role == "tool":
            name, result = message.get("name"), tool_payload(message)
            ok, data = bool(result["ok"]), result["data"]
            if name in _WRITE_TOOLS:
                if ok:
                    st["written"] = True
                else:
                    st["confirmed"] = None
            elif not ok:
                return
            elif name == "get_weather":
                st["weather"][(data["city"], data["date"])] = (
                    data["condition"], data["high_c"], data["low_c"])
            elif name == "list_events":
                st["events"][data["date"]] = [(e["time"], e["title"]) for e in data["events"]]
            elif name == "convert":
                st["converted"] = fmt_number(data["result"])

    def _t(self, name: str, **slots: Any) -> str:
        return self.templates[name].format(**slots)

    def _decide(self, st: dict[str, Any], today: date) -> str:
        kind = st["kind"]
        vals = st["values"]
        if kind is None:
            return self._t("fallback")
        if kind == "convert":
            conv = st["conversion"]
            if conv is None:
                return self._t("fallback")
            value, src, dst = conv
            if st["converted"] is None:
                return (self._t("checking")
                        + f" [convert value={fmt_number(value)} from={src} to={dst}]")
            names = load_data()["unit_names"]
            return self._t("convert", value=fmt_number(value), from_name=names[src][0],
                           answer=st["converted"], to_name=names[dst][0])
        needed = WRITE_GOALS.get(kind) or INFO_GOALS[kind]
        missing = [s for s in needed if s not in vals]
        if missing:
            return " ".join(self.templates["ask." + s] for s in missing)
        h = self._human(vals)
        if kind == "weather":
            got = st["weather"].get((vals["city"], vals["date"]))
            if got is None:
                return (self._t("checking")
                        + f' [get_weather city="{vals["city"]}" date={vals["date"]}]')
            cond, high, low = got
            return self._t("weather", city=vals["city"], date=h["date"], condition=cond,
                           high=high, low=low)
        if kind == "calendar_query":
            rows = st["events"].get(vals["date"])
            if rows is None:
                return self._t("checking") + f" [list_events date={vals['date']}]"
            if not rows:
                return self._t("calendar_empty", date=h["date"])
            events = " and ".join(f"{title} at {human_time(t)}" for t, title in rows)
            return self._t("calendar", date=h["date"], events=events)
        if st["written"]:
            return self._t("anything_else")
        if st["confirmed"] == vals:
            return self._t("done." + kind, **h) + " " + _write_call(kind, vals)
        variants = self.templates["readback." + kind]
        return variants[st["readbacks"] % len(variants)].format(**h)

    @staticmethod
    def _human(vals: Mapping[str, Any]) -> dict[str, Any]:
        h = dict(vals)
        if "date" in vals:
            h["date"] = human_date(date.fromisoformat(vals["date"]))
        if "time" in vals:
            h["time"] = human_time(vals["time"])
        if "title" in vals:
            h["Title"] = vals["title"][:1].upper() + vals["title"][1:]
        if "minutes" in vals:
            m = int(vals["minutes"])
            h["a_minutes"] = f"{'an' if str(m).startswith('8') or m in (11, 18) else 'a'} {m}"
        return h


def _write_call(kind: str, vals: Mapping[str, Any]) -> str:
    if kind == "create_event":
        return f'[create_event title="{vals["title"]}" date={vals["date"]} time={vals["time"]}]'
    if kind == "set_reminder":
        return f'[set_reminder text="{vals["text"]}" date={vals["date"]} time={vals["time"]}]'
    if kind == "set_alarm":
        return f"[set_alarm date={vals['date']} time={vals['time']}]"
    return f'[set_timer minutes={vals["minutes"]} label="{vals["label"]}"]'


# ============================================================================ domain + env


class VirtualAssistantDomain(Domain):
    """Data, tools, rules, user and expert of the personal assistant."""

    name = DOMAIN
    labels = {USER: "User", AGENT: "Assistant", SYSTEM: "System"}
    default_reward = {"task_success": 1.0, "rule_compliance": 1.0, "bleu": 0.1}

    def generator(self) -> VirtualAssistantGenerator:
        """Seeded scenarios."""
        return VirtualAssistantGenerator()

    def tools(self) -> ToolSet:
        """Look-up and write tools."""
        return make_tools()

    def rulebook(self) -> RuleBook:
        """Confirmation, repetition, politeness and length rules."""
        return RuleBook([
            ConfirmBeforeWrite(
                "confirm_before_write", _WRITE_TOOLS, canonical=canonical_call,
                description="Before creating an event, reminder, alarm or timer, read every "
                            "detail back to the user and wait for their yes; then write "
                            "exactly what they confirmed, in a later turn."),
            NoRepetition(),
            Politeness(),
            profanity(),
            LengthLimit(100),
        ])

    def understanding(self) -> Mapping[str, Any]:
        """Slots, entities (titles, reminders, labels, cities, conditions), cues."""
        return understanding_data()

    def make_user(self) -> VirtualAssistantUser:
        """A fresh simulated user."""
        return VirtualAssistantUser()

    def make_expert(self) -> VirtualAssistantExpert:
        """A fresh scripted assistant."""
        return VirtualAssistantExpert()

    def render_context(self, scenario: Scenario, rules: RuleBook, tools: ToolSet) -> str:
        """Role, date, covered cities, procedure, rules and tools."""
        c = scenario.context
        return "\n".join([
            f"You are {c['assistant']}, a {c['role']} for {c['persona']} (sounds {c['mood']}). "
            f"Today is {c['weekday']}, {c['today']}.",
            "You manage the user's calendar, reminders, alarms and timers, and answer weather "
            "and unit-conversion questions. Read the calendar and forecasts with the tools; "
            "never guess.",
            f"Weather forecasts are available for: {', '.join(c['cities'])} (today and the "
            f"next {FORECAST_DAYS - 1} days).",
            "Rules:",
            rules.describe(),
            tools.describe(),
        ])

    def context_data(self, scenario: Scenario) -> dict[str, Any]:
        """Today (ISO date) and its weekday, the cities with forecasts, the days covered."""
        c = scenario.context
        return {"today": c["today"], "weekday": c["weekday"], "cities": list(c["cities"]),
                "forecast_days": FORECAST_DAYS}

    def facts(self, scenario: Scenario) -> Mapping[str, Any]:
        """Ground truth of the request."""
        g = scenario.goal
        final = dict(g["slots"])
        if g["correction"]:
            final[g["correction"]["slot"]] = g["correction"]["value"]
        return {"request": g["type"], "today": scenario.world["today"], **final,
                **({"forecast": g["forecast"]} if "forecast" in g else {}),
                **({"conversion": g["convert"]} if "convert" in g else {})}


class VirtualAssistantEnv(DialogueEnv):
    """Dialog-VirtualAssistant-v0: calendar, reminders, alarms, timers, weather and units.

    ## Description
    The user asks for one thing: add a calendar event, set a reminder, an alarm or a
    timer, hear the weather for a city and day, hear what is on the calendar on a day, or
    convert a quantity between units. The user's wording varies by seed: dates come as
    ``tomorrow``, ``on Friday``, ``on the 13th of March``; times as ``2:30 pm`` or
    ``14:30``; durations as ``half an hour`` or ``25 minutes``. The agent fills the slots
    by asking for what is missing, resolves relative dates against today's date, and, for
    every change to the user's account, reads the details back and waits for a yes before
    writing them with a tool (the ``confirm_before_write`` rule blocks a write the user has
    not confirmed with exactly those details). At higher difficulty the user corrects a
    detail mid-conversation; the final account state must reflect the correction.
    Success is judged on the account's action log (exactly the entry the request needs,
    nothing else) and on what the user was told (that it is done; the right condition and
    temperature; every event of the day; the right number).

    ## Action space
    ``UnicodeText(1000)``: the reply, with tool calls inline, e.g.
    ``[create_event title="team sync" date=2026-03-13 time=14:30]``. Tools:
    ``list_events``, ``get_weather``, ``convert`` (look-ups) and ``create_event``,
    ``set_reminder``, ``set_alarm``, ``set_timer`` (writes); their documentation is part of
    the context.

    ## Observation space
    ``Dict(context, history, turn, messages)``: the context states the assistant's user,
    today's date and weekday, the cities with forecasts, the rules and the tools; the
    history is the transcript (``User:``, ``Assistant:``, ``System:`` tool results);
    ``messages`` is the same episode as chat messages. The system message's ``data``
    (:func:`~dialog_gym.messages.context_data`) holds what the context says of the
    world: ``today`` (``"2026-03-12"``), ``weekday`` (``"Thursday"``), ``cities`` (those
    with forecasts) and ``forecast_days`` (how many days, today included, ``get_weather``
    covers). Each tool result carries its structured ``data`` (``get_weather``: city,
    date, condition, high and low in °C; ``list_events``: the date's events with id, time
    and title; ``convert``: value, units and result; the write tools: what they stored).

    ## Rewards
    Default mix: ``1.0 * task_success + 1.0 * rule_compliance + 0.1 * bleu``.
    ``task_success`` is the increase of the goal-progress potential (milestones: write
    requests: user confirmed the final details 0.3, entry written 0.4, user told 0.3;
    weather/calendar questions: right look-up 0.5, right answer told 0.5; conversions:
    right number told 1.0) plus 1 on success and -0.5 when the user gives up;
    ``rule_compliance`` is minus the penalties of broken rules (0.3 per blocked unconfirmed
    write, 0.2 per repeated reply, ...); ``bleu`` compares the reply with the scripted
    expert's reply in the same state. Keyword stuffing, echoing the user, repeating a reply,
    read-backs listing several values and bare "shall I go ahead?" never count as progress.

    ## Starting state
    A scenario from :class:`VirtualAssistantGenerator` chosen by the sampler; the user's
    opening message states the request (with all details at difficulty 0, some missing at
    1 and 2).

    ## Episode end
    Terminated when the request is complete (success) or the user runs out of patience or
    mood (failure). Truncated at ``max_episode_steps=20`` agent turns.

    ## Arguments
    ``gym.make("Dialog-VirtualAssistant-v0", reward=None, render_mode=None,
    sampler="uniform", rules=None, difficulty=None)``; see :class:`DialogueEnv`.

    ## Version history
    - v0: initial release.
    """

    domain_cls = VirtualAssistantDomain
