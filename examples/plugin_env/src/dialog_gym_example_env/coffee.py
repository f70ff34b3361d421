"""Example-CoffeeOrder-v0: a coffee counter, written as a dialog-gym plugin.

The domain brings data (``coffee.json``: menu, prices, what the customer can be asked,
the names of drinks, sizes and milks, the customer's wording), a scenario generator, one
tool, a small goal and an expert. It writes no parser: the environment analyses every
reply with the shared understanding layer, fed by the ``understanding`` data, and the
customer reads that analysis (which slots were asked for, which price was asserted).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, MutableMapping
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from dialog_gym.dialogue import AGENT, SYSTEM, USER
from dialog_gym.domain import Domain
from dialog_gym.env import DialogueEnv
from dialog_gym.error import ConfigError
from dialog_gym.messages import tool_payload
from dialog_gym.rules import LengthLimit, NoRepetition, Politeness, RuleBook
from dialog_gym.scenario import Scenario, make_scenario_id
from dialog_gym.simulator import AgendaUser, AgentReply, Fact, Milestone, ReplyAnalysis
from dialog_gym.tools import Tool, ToolParam, ToolResult, ToolSet
from dialog_gym.understanding import Lexicon

DOMAIN = "coffee_order"
SLOTS = ("drink", "size", "milk")


@lru_cache(maxsize=1)
def load_data() -> dict[str, Any]:
    """Menu, understanding data and wording (``coffee.json``)."""
    text = resources.files("dialog_gym_example_env").joinpath("coffee.json").read_text(
        encoding="utf-8")
    return json.loads(text)


def price(order: Mapping[str, str]) -> float:
    """The price of a drink order."""
    d = load_data()
    return round(d["drinks"][order["drink"]] + d["sizes"][order["size"]]
                 + d["milks"][order["milk"]], 2)


class CoffeeGenerator:
    """Seeded orders: the drink, size and milk the customer wants; difficulty = slots to ask."""

    domain = DOMAIN
    difficulties = (0, 1, 2)

    def generate(self, index: int, difficulty: int) -> Scenario:
        """Scenario ``index`` at ``difficulty`` (0, 1 or 2 slots kept back)."""
        d = load_data()
        rng = random.Random(f"{DOMAIN}/{int(index)}/{int(difficulty)}")
        want = {"drink": rng.choice(sorted(d["drinks"])), "size": rng.choice(sorted(d["sizes"])),
                "milk": rng.choice(sorted(d["milks"]))}
        hidden = rng.sample(["size", "milk"], k=min(2, difficulty)) if difficulty else []
        if difficulty == 2:
            hidden = ["size", "milk"]
        return Scenario(id=make_scenario_id(DOMAIN, index, difficulty), domain=DOMAIN,
                        context={"role": "barista"}, goal={"want": want, "hidden": hidden},
                        world={"orders": []}, difficulty=difficulty)


def _place_order(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    d = load_data()
    order = {k: str(args[k]).strip().lower() for k in SLOTS}
    for k, table in (("drink", d["drinks"]), ("size", d["sizes"]), ("milk", d["milks"])):
        if order[k] not in table:
            return ToolResult("place_order", False,
                              f"unknown {k} {order[k]!r}; choose one of {sorted(table)}")
    world["orders"].append(order)
    total = price(order)
    return ToolResult("place_order", True, f"order placed, total ${total:.2f}",
                      {**order, "total": total})


class CoffeeUser(AgendaUser):
    """The customer: says what they want, answers what is asked, checks the price told."""

    def __init__(self) -> None:
        super().__init__(patience=(6, 5, 4), max_requests=3)
        self.templates = load_data()["user"]

    def reset_goal_state(self) -> None:
        """Which slots the customer has said; the facts and milestones of the goal."""
        assert self.scenario is not None
        self.want = self.scenario.goal["want"]
        self.given = {s for s in SLOTS if s not in self.scenario.goal["hidden"]}
        ordered = lambda w: self.want in w["orders"]  # noqa: E731
        self.facts = [Fact("price", lambda raw, low: False, ordered)]
        self.milestones = [Milestone("ordered", 0.5, lambda: ordered(self.world)),
                           Milestone("told", 0.5, self.all_told)]

    def _known(self) -> str:
        w = self.want
        parts = [w["size"] if "size" in self.given else "", w["drink"],
                 f"with {w['milk']} milk" if "milk" in self.given else ""]
        return " ".join(p for p in parts if p)

    def opening(self, rng: np.random.Generator) -> str:
        """Name the drink (and whatever the difficulty lets the customer say up front)."""
        return self.say("open", rng, known=self._known())

    def restate(self, rng: np.random.Generator) -> str:
        """Ask again for the drink."""
        return self.say("restate", rng, known=self._known())

    def react(self, a: ReplyAnalysis, reply: AgentReply,
              rng: np.random.Generator) -> tuple[list[str], bool]:
        """Answer the slots asked for; check a price the agent asserts."""
        parts, useful = [], False
        meaning = a.meaning
        if meaning is not None and self.want in self.world["orders"]:
            told = meaning.asserted_values("money")
            if told:
                if any(abs(v - price(self.want)) < 0.005 for v in told):
                    self.told.add("price")
                    parts.append(self.say("ack_price", rng))
                    useful = True
                else:
                    self.mood -= 0.3
                    parts.append(self.say("wrong_price", rng))
        for slot in sorted(a.requests):
            if slot in self.given:
                parts.append(self.say("already", rng, value=self.want[slot]))
            else:
                self.given.add(slot)
                useful = True
                parts.append(self.say(f"give.{slot}", rng, **self.want))
        if not parts:
            parts.append(self.say("ack_wait", rng) if a.calls_ok else self.restate(rng))
        return parts, useful

    def is_complete(self) -> bool:
        """The one order placed is the one wanted, and its price was told."""
        return self.world["orders"] == [self.want] and "price" in self.told


class CoffeeExpert:
    """A scripted barista acting from observations only.

    It reads the customer's turns (the user messages of ``observation["messages"]``) with
    the same understanding layer as the env (the drink, size and milk named are entities
    of the domain's data) and the total from the ``data`` of the tool's result: no parser
    of its own.
    """

    def __init__(self) -> None:
        self.lexicon = Lexicon.from_data(load_data()["understanding"])

    def reset(self) -> None:
        """Nothing to forget: the policy is a function of the observation."""

    def act(self, observation: Mapping[str, Any]) -> str:
        """The next reply."""
        if "messages" not in observation:
            raise ConfigError("CoffeeExpert reads observation['messages'], the chat messages "
                              f"every dialog-gym env observes; got only {sorted(observation)}")
        said = {s: None for s in SLOTS}
        total = None
        for m in observation["messages"]:
            if m["role"] == "user":
                analysis = self.lexicon.analyze(m["content"])
                for s in SLOTS:
                    vals = analysis.mentioned_values(s)
                    if vals:
                        said[s] = sorted(vals)[0]
            elif m["role"] == "tool" and m.get("name") == "place_order":
                result = tool_payload(m)
                if result["ok"]:
                    total = result["data"]["total"]
        if total is not None:
            return f"Your {said['size']} {said['drink']} comes to ${total:.2f}. Enjoy!"
        missing = [s for s in SLOTS if said[s] is None]
        if missing == ["size", "milk"]:
            return "What size would you like, and which milk?"
        if missing:
            return {"drink": "What drink would you like?", "size": "What size would you like?",
                    "milk": "Which milk would you like?"}[missing[0]]
        return (f"Coming right up. [place_order drink=\"{said['drink']}\" size={said['size']} "
                f"milk={said['milk']}]")


class CoffeeDomain(Domain):
    """Data, tool, rules, customer and expert of the coffee counter."""

    name = DOMAIN
    labels = {USER: "Customer", AGENT: "Barista", SYSTEM: "System"}
    default_reward = {"task_success": 1.0, "rule_compliance": 1.0}

    def generator(self) -> CoffeeGenerator:
        """Seeded orders."""
        return CoffeeGenerator()

    def tools(self) -> ToolSet:
        """One tool: place the order."""
        s = ToolParam(str)
        return ToolSet([Tool("place_order", {"drink": s, "size": s, "milk": s}, _place_order,
                             "place a drink order; the result gives the total", writes=True)])

    def rulebook(self) -> RuleBook:
        """Repetition, politeness and length."""
        return RuleBook([NoRepetition(), Politeness(), LengthLimit(60)])

    def make_user(self) -> CoffeeUser:
        """A fresh customer."""
        return CoffeeUser()

    def make_expert(self) -> CoffeeExpert:
        """A fresh scripted barista."""
        return CoffeeExpert()

    def understanding(self) -> Mapping[str, Any]:
        """What the customer can be asked and the names of drinks, sizes and milks."""
        return load_data()["understanding"]

    def render_context(self, scenario: Scenario, rules: RuleBook, tools: ToolSet) -> str:
        """The menu, the rules and the tool."""
        d = load_data()
        menu = ", ".join(f"{k} ${v:.2f}" for k, v in d["drinks"].items())
        return "\n".join([
            "You are a barista. Take the customer's order: drink, size and milk.",
            f"Menu: {menu}. Size: small +$0.00, medium +$0.50, large +$0.90. Milk: whole "
            "+$0.00, soy +$0.50, oat or almond +$0.60.",
            "Place the order with the tool, then tell the customer the total.",
            rules.describe(), tools.describe()])


class CoffeeOrderEnv(DialogueEnv):
    """Example-CoffeeOrder-v0: take a coffee order (an example plugin environment).

    ## Description
    A customer orders a drink; at higher difficulty the size and milk must be asked
    for. The agent places the order with ``[place_order drink=... size=... milk=...]``
    and tells the total. Success: exactly the wanted order placed, and its price told.

    ## Rewards
    ``task_success + rule_compliance``.

    ## Version history
    - v0: initial release.
    """

    domain_cls = CoffeeDomain
    #: the turn limit dialog-gym registers the plugin with
    max_episode_steps = 8
