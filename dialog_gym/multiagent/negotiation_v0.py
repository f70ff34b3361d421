"""negotiation_v0: two agents bargain over items with private values (AEC).

## Description
A multi-issue bargaining game in the style of "Deal or No Deal?" (Lewis et al., 2017).
A pool holds books, hats and balls (1-4 of each). Each agent values every item type
privately (non-negative integers; the whole pool is worth 10 to each agent) and sees
only its own values. Agents take turns writing free-text messages; a message may carry
one proposal, written with dialog-gym's tool-call syntax, naming what the *speaker*
keeps (the rest goes to the other agent)::

    I need the books more than you do. [propose books=2 hats=0 balls=1]

and the other agent closes the deal with ``[accept]``. Accepting when no proposal is on
the table, proposing more items than the pool has, or malformed calls are reported in
the history and change nothing.

## Observation space (per agent)
``Dict(context=Text, history=Text, turn=Discrete)``: the context states the pool and
the agent's own values; the history is the shared transcript (``agent_0:`` /
``agent_1:`` / ``System:`` lines).

## Action space
``UnicodeText(500)``: the message. A dead agent's step takes ``None``.

## Rewards
At the end of the game: each agent's value of what it receives, divided by 10 (so in
[0, 1]), when a deal was accepted; 0 for both without a deal. Repeating one's own earlier
message costs 0.1 (the ``no_repetition`` rule), to keep talk from degenerating.

## Episode end
Terminated for both when a proposal is accepted; truncated for both after
``max_turns`` messages (default 12) without a deal.

## Version history
- v0: initial release.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv
from pettingzoo.utils import AgentSelector, wrappers

from dialog_gym.dialogue import SYSTEM, Dialogue, Turn
from dialog_gym.error import ConfigError
from dialog_gym.messages import ENV, system_message, user_message
from dialog_gym.rules import NoRepetition, RuleContext
from dialog_gym.spaces import ChatMessages, UnicodeText
from dialog_gym.tools import Tool, ToolParam, ToolResult, ToolSet

ITEMS = ("books", "hats", "balls")
AGENTS = ("agent_0", "agent_1")


def _noop(world: Any, args: Any) -> ToolResult:  # parsing only; the game applies calls
    return ToolResult("noop", True, "")


TOOLS = ToolSet([
    Tool("propose", {k: ToolParam(int) for k in ITEMS}, _noop,
         "the items you keep; the other agent gets the rest"),
    Tool("accept", {}, _noop, "accept the other agent's last proposal"),
])


def generate_game(index: int) -> dict[str, Any]:
    """Pool and private values of game ``index`` (deterministic)."""
    rng = random.Random(f"negotiation/{index}")
    while True:
        counts = [rng.randint(1, 4) for _ in ITEMS]
        values = []
        for _ in AGENTS:
            for _attempt in range(1000):
                v = [rng.randint(0, 10) for _ in ITEMS]
                if sum(c * x for c, x in zip(counts, v, strict=True)) == 10:
                    values.append(v)
                    break
        if len(values) == 2 and values[0] != values[1]:
            return {"counts": counts, "values": values}


def env(**kwargs: Any) -> AECEnv:
    """The negotiation env wrapped with PettingZoo's order-enforcing checks."""
    e: AECEnv = raw_env(**kwargs)
    e = wrappers.OrderEnforcingWrapper(e)
    return e


class raw_env(AECEnv):  # noqa: N801 - PettingZoo's naming convention
    """The bargaining game; see the module docstring.

    Args:
        max_turns: Messages (both agents together) before the game is truncated.
        render_mode: ``"ansi"`` or ``"human"``.
        max_message_chars: Longest message; longer ones are cut.
    """

    metadata = {"render_modes": ["ansi", "human"], "name": "negotiation_v0",
                "is_parallelizable": False, "render_fps": 1}

    def __init__(self, max_turns: int = 12, render_mode: str | None = None,
                 max_message_chars: int = 500) -> None:
        super().__init__()
        if max_turns < 2:
            raise ConfigError(f"max_turns must be >= 2, got {max_turns}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.max_turns = max_turns
        self.render_mode = render_mode
        self.max_message_chars = max_message_chars
        self.possible_agents = list(AGENTS)
        self._rule = NoRepetition()
        self._rng = np.random.default_rng()
        self.game: dict[str, Any] = generate_game(0)
        self._obs_spaces = {a: spaces.Dict({"context": UnicodeText(2000),
                                            "history": UnicodeText(20000),
                                            "turn": spaces.Discrete(256),
                                            "messages": ChatMessages()})
                            for a in AGENTS}
        self._act_spaces = {a: UnicodeText(max_message_chars) for a in AGENTS}

    def observation_space(self, agent: str) -> spaces.Space:
        """Context, shared history and turn counter (the same object on every call)."""
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        """A free-text message (the same object on every call)."""
        return self._act_spaces[agent]

    # ------------------------------------------------------------------ lifecycle
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Start a game; ``options={"game": index}`` picks one, else it is drawn by seed."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        options = options or {}
        index = options.get("game")
        if index is None:
            index = int(self._rng.integers(0, 2**31 - 1))
        self.game_index = int(index)
        self.game = generate_game(self.game_index)
        self.agents = list(self.possible_agents)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {"game": self.game_index} for a in self.agents}
        self.dialogue = Dialogue(labels={a: a for a in AGENTS} | {SYSTEM: "System"})
        self.proposal: tuple[str, list[int]] | None = None
        self.deal: tuple[str, list[int]] | None = None
        self.turn = 0
        self._selector = AgentSelector(self.agents)
        self.agent_selection = self._selector.reset()

    def observe(self, agent: str) -> dict[str, Any]:
        """The agent's own context, the shared transcript, the turn counter and the messages.

        ``messages`` is the game from this agent's side: its context as the ``system``
        message, its own messages as ``assistant``, the other agent's as ``user``, the
        referee's notes as ``user`` messages with ``source="env"``; calls stay inline
        text (append-only, like every dialog-gym env).
        """
        i = AGENTS.index(agent)
        counts, values = self.game["counts"], self.game["values"][i]
        pool = ", ".join(f"{c} {n}" for c, n in zip(counts, ITEMS, strict=True))
        vals = ", ".join(f"{n} {v} each" for n, v in zip(ITEMS, values, strict=True))
        context = (
            f"You are {agent}, negotiating how to split a pool of {pool}. Your private values:"
            f" {vals} (the whole pool is worth 10 to you; the other agent's values differ and"
            f" are hidden). Propose what you keep with [propose books=<int> hats=<int> "
            f"balls=<int>]; accept the other's proposal with [accept]. No deal after "
            f"{self.max_turns} messages means 0 for both."
        )
        messages = [system_message(context)]
        for t in self.dialogue:
            if t.speaker == agent:
                messages.append({"role": "assistant", "content": t.text, "source": "agent"})
            elif t.speaker == SYSTEM:
                messages.append({"role": "user", "content": f"System: {t.text}",
                                 "source": ENV})
            else:
                messages.append({**user_message(t.text), "source": "other_agent"})
        return {"context": context, "history": self.dialogue.render(20000),
                "turn": min(self.turn, 255), "messages": messages}

    def step(self, action: str | None) -> None:
        """The selected agent sends ``action``."""
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        if isinstance(action, dict):  # an assistant message: its calls as inline text
            action = TOOLS.parse_message(action).inline()
        if not isinstance(action, str):
            raise TypeError("action must be a str message or an assistant message dict, got "
                            f"{type(action).__name__}")
        action = action[: self.max_message_chars]
        self._cumulative_rewards[agent] = 0.0
        self.rewards = {a: 0.0 for a in self.agents}
        parsed = TOOLS.parse(action)
        penalty = sum(v.penalty for v in self._rule.check(
            RuleContext(_own_turns(self.dialogue, agent), action, parsed.text)))
        self.dialogue.append(Turn(agent, action))
        for call in parsed.calls:
            note = self._apply(agent, call)
            if note:
                self.dialogue.append(Turn(SYSTEM, note))
            if self.deal is not None:
                break
        self.turn += 1
        self.rewards[agent] -= penalty
        if self.deal is not None:
            taker, keep = self.deal
            t = AGENTS.index(taker)
            alloc = {taker: keep, AGENTS[1 - t]: [c - k for c, k in
                                                 zip(self.game["counts"], keep, strict=True)]}
            for a in self.agents:
                i = AGENTS.index(a)
                value = sum(x * v for x, v in zip(alloc[a], self.game["values"][i],
                                                  strict=True))
                self.rewards[a] += value / 10.0
                self.terminations[a] = True
                self.infos[a] = {"game": self.game_index, "deal": True, "value": value,
                                 "allocation": dict(zip(ITEMS, alloc[a], strict=True))}
        elif self.turn >= self.max_turns:
            for a in self.agents:
                self.truncations[a] = True
                self.infos[a] = {"game": self.game_index, "deal": False, "value": 0}
        self._accumulate_rewards()
        self.agent_selection = self._selector.next()
        if self.render_mode == "human":
            self.render()

    def _apply(self, agent: str, call: Any) -> str:
        if call.error is not None:
            return f"[{call.name}] error: {call.error}"
        if call.name == "propose":
            keep = [int(call.args[k]) for k in ITEMS]
            if any(k < 0 or k > c for k, c in zip(keep, self.game["counts"], strict=True)):
                return (f"[propose] error: counts must lie between 0 and the pool "
                        f"({self.game['counts']})")
            self.proposal = (agent, keep)
            return ""
        if self.proposal is None or self.proposal[0] == agent:
            return "[accept] error: there is no proposal from the other agent to accept"
        self.deal = self.proposal
        return f"[accept] ok: deal on {self.proposal[0]}'s proposal"

    def render(self) -> str | None:
        """``ansi``: the transcript; ``human``: print it."""
        text = self.dialogue.render()
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        """Nothing to release."""


def _own_turns(dialogue: Dialogue, agent: str) -> Dialogue:
    """The agent's own earlier messages, labelled as agent turns for the repetition rule."""
    from dialog_gym.dialogue import AGENT

    return Dialogue([Turn(AGENT, t.text) for t in dialogue if t.speaker == agent])
