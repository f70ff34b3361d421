"""What a domain contributes to the shared :class:`~dialog_gym.env.DialogueEnv`.

A domain is data and logic, not a loop: a scenario generator, tools, a rulebook, a
simulated user, the rendering of the agent's context and a scripted expert. The turn
loop, tool execution, rule checking, scoring and sampling live once, in the core.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from dialog_gym.dialogue import AGENT, SYSTEM, USER
from dialog_gym.rules import RuleBook
from dialog_gym.scenario import Scenario, ScenarioGenerator
from dialog_gym.simulator import UserSimulator
from dialog_gym.tools import ToolSet
from dialog_gym.understanding import Lexicon


class Policy(Protocol):
    """A dialogue policy (the shape of :class:`dialog_gym.agents.Agent`)."""

    def reset(self) -> None:
        """Forget the previous episode."""
        ...

    def act(self, observation: Mapping[str, Any]) -> str:
        """Reply to an observation."""
        ...


class Domain:
    """Base class of domains; subclasses override the hooks below."""

    #: short name used in scenario ids, e.g. ``"customer_service"``
    name: ClassVar[str] = "domain"
    #: speaker labels in the rendered transcript
    labels: ClassVar[Mapping[str, str]] = {USER: "User", AGENT: "Agent", SYSTEM: "System"}
    #: default reward mix, scorer name -> weight
    default_reward: ClassVar[Mapping[str, float]] = {"task_success": 1.0,
                                                      "rule_compliance": 1.0}

    def generator(self) -> ScenarioGenerator:
        """The seeded scenario generator."""
        raise NotImplementedError

    def tools(self) -> ToolSet:
        """The domain's tools (empty when the domain has none)."""
        return ToolSet()

    def rulebook(self) -> RuleBook:
        """The domain's rules."""
        raise NotImplementedError

    def make_user(self) -> UserSimulator:
        """A fresh simulated user."""
        raise NotImplementedError

    def make_expert(self) -> Policy:
        """A fresh scripted expert that acts from observations only."""
        raise NotImplementedError

    def new_world(self, scenario: Scenario) -> dict[str, Any]:
        """A mutable copy of the scenario's world for one episode."""
        return copy.deepcopy(dict(scenario.world))

    def render_context(self, scenario: Scenario, rules: RuleBook, tools: ToolSet) -> str:
        """The context text shown to the agent."""
        raise NotImplementedError

    def context_data(self, scenario: Scenario) -> dict[str, Any]:
        """The public context as JSON-ready data: the system message's ``data``.

        The values :meth:`render_context` renders (a date, a catalogue's rows, a passage's
        entities), built from the scenario, so that an agent (the domain's expert first)
        reads them instead of parsing the text back. Only what the context text tells the
        agent, never hidden state (the user's goal, a hidden entity): it is observed.
        JSON types only (``dict`` with ``str`` keys, ``list``, ``str``, ``int``,
        ``float``, ``bool``, ``None``), so that it survives flattening and AsyncVectorEnv
        unchanged. ``{}`` (the default): the system message has no ``data``. Read it with
        :func:`dialog_gym.messages.context_data`.
        """
        return {}

    def facts(self, scenario: Scenario) -> Mapping[str, Any]:
        """Ground-truth facts for fact-checking scorers."""
        return {}

    def understanding(self) -> Mapping[str, Any]:
        """The domain's understanding data (slots, entities, id formats, cues, exemplars).

        Usually the ``understanding`` entry of the domain's data file; see
        :class:`~dialog_gym.understanding.Lexicon` and ``docs/authoring_envs.md``.
        """
        return {}

    def entities(self, scenario: Scenario) -> Mapping[str, Mapping[str, Any]]:
        """The episode's own entities: kind -> value -> phrases (items, names, values)."""
        return {}

    def lexicon(self, scenario: Scenario) -> Lexicon:
        """The lexicon every reply of an episode of ``scenario`` is analysed with."""
        base = _domain_lexicon(type(self), self)
        ents = self.entities(scenario)
        return base.with_entities(ents) if ents else base


_LEXICONS: dict[type, Lexicon] = {}


def _domain_lexicon(cls: type, domain: Domain) -> Lexicon:
    """One base lexicon per domain class (its data does not change in a process)."""
    lex = _LEXICONS.get(cls)
    if lex is None:
        lex = _LEXICONS[cls] = Lexicon.from_data(domain.understanding())
    return lex
