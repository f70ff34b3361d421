"""The shared dialogue environment: one turn loop for every domain."""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dialog_gym.dialogue import AGENT, SYSTEM, Dialogue, Turn
from dialog_gym.domain import Domain
from dialog_gym.error import ConfigError, ResetNeeded, ScenarioError
from dialog_gym.messages import assistant_message, system_message, tool_message, user_message
from dialog_gym.rules import Rule, RuleBook, RuleContext, Violation
from dialog_gym.scenario import Scenario, ScenarioSampler, make_sampler, parse_scenario_id
from dialog_gym.simulator import AgentReply, Reaction
from dialog_gym.spaces import ChatMessages, UnicodeText
from dialog_gym.tools import ParsedReply, ToolResult, ToolSet

#: Largest value of the ``turn`` observation (turn counts above it are clipped).
MAX_TURN_INDEX = 255

Observation = dict[str, Any]


@dataclass
class PendingStep:
    """A step whose reward is not computed yet (see :meth:`DialogueEnv.step_begin`)."""

    score_input: Any
    reply: AgentReply
    reaction: Reaction
    violations: list[Violation]
    results: list[ToolResult]
    action_truncated: bool
    terminated: bool
    success: bool
    progress_delta: float


class DialogueEnv(gym.Env[Observation, Any]):
    """A multi-turn dialogue with a simulated user, for one :class:`~dialog_gym.domain.Domain`.

    Subclasses in ``dialog_gym.envs`` set :attr:`domain_cls` and document the domain in
    their class docstring. The mechanics (identical for every domain):

    **Observation**: ``Dict(context=Text, history=Text, turn=Discrete,
    messages=ChatMessages)``. ``messages`` is the episode as OpenAI chat messages
    (system context, with the domain's public context as structured ``data`` where it
    has any; user; assistant with ``tool_calls``; tool results with ``tool_call_id``;
    append-only, each with its ``source``: see :mod:`dialog_gym.messages`). ``context``
    and ``history`` are the same as text, for text agents: ``context`` is the scenario
    as the agent may see it (role, persona, mood, policy, rules, tools); ``history`` is
    the transcript, one ``Label: text`` line per turn, ending with the newest user turn
    (the oldest lines are dropped past ``max_history_chars``); ``turn`` counts agent
    replies so far.

    **Action**: a ``str`` (``UnicodeText(max_reply_chars)``) or an OpenAI assistant
    message ``{"role": "assistant", "content": str, "tool_calls": [...]}``. Tool calls
    may be OpenAI ``tool_calls``, Hermes ``<tool_call>{...}</tool_call>`` text or inline
    ``[name key=value]`` calls (see :mod:`dialog_gym.tools`); the same calls give the same
    results in every form, and malformed calls become error tool results. The tools'
    JSON schemas are :attr:`tool_schemas` (also ``info["tool_schemas"]`` at reset). Any
    other type raises ``TypeError``; a longer reply is cut to the limit and
    ``info["action_truncated"]`` is True; an empty reply is legal (and makes no
    progress).

    **Step**: parse tool calls -> check rules (a violation may block a call or, if
    severe, end the episode) -> run the remaining calls against the scenario's world ->
    the simulated user reacts -> the reward scorers score the reply.

    **Reward**: a weighted sum of scorers (``reward={"name": weight}`` replaces the
    domain's default; ``{"name": {"weight": w, **scorer_kwargs}}`` also configures the
    scorer). ``info["scores"]`` holds each term's value before weighting (normalised to
    [0, 1] when the reward is a ``WeightedSum(..., normalize=True)``).

    **Episode end**: ``terminated`` when the user ends the talk (goal met, patience or
    mood exhausted) or a severe rule is broken; ``truncated`` comes from Gymnasium's
    ``TimeLimit`` (``max_episode_steps`` of the registration).

    **Info** after ``step``: ``scores``, ``violations`` (rule ids), ``scenario_id``,
    ``success`` (goal met so far), ``progress`` (goal potential in [0, 1]),
    ``action_truncated``, ``tool_results``, ``understanding`` (the acts understood in the
    reply, e.g. ``request:order_id``, and the clauses sent to the sentence encoder),
    ``user`` (mood, patience and the analysis of
    the reply) and, when the episode terminates, ``episode_summary``. (The summary is
    not called ``episode``, so that Gymnasium's ``RecordEpisodeStatistics`` and SB3's
    ``Monitor`` can still add theirs.)

    Args:
        domain: The domain (defaults to ``domain_cls()``).
        reward: Scorer name -> weight, or a :class:`~dialog_gym.scorers.Scorer`.
        render_mode: ``"ansi"`` (``render()`` returns the transcript) or ``"human"``
            (prints it).
        sampler: ``"uniform"``, ``"prioritized"``, ``"adversarial"`` or a
            :class:`~dialog_gym.scenario.ScenarioSampler`.
        rules: Extra :class:`~dialog_gym.rules.Rule` s appended to the domain's
            rulebook, or a :class:`~dialog_gym.rules.RuleBook` replacing it.
        difficulty: Fixed difficulty level, or ``None`` to mix levels by scenario.
        max_reply_chars: Longest accepted reply.
        max_history_chars: Longest rendered history.
        max_context_chars: Longest rendered context (the system message's ``data`` is
            not cut).
        max_messages_chars: Longest JSON text of ``obs["messages"]`` when flattened or
            in AsyncVectorEnv's shared memory.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "render_fps": 1}
    domain_cls: ClassVar[type[Domain] | None] = None

    def __init__(
        self,
        domain: Domain | None = None,
        *,
        reward: Mapping[str, float] | Any | None = None,
        render_mode: str | None = None,
        sampler: str | ScenarioSampler | None = None,
        rules: Sequence[Rule] | RuleBook | None = None,
        difficulty: int | None = None,
        max_reply_chars: int = 1000,
        max_history_chars: int = 16000,
        max_context_chars: int = 8000,
        max_messages_chars: int = 65536,
    ) -> None:
        from dialog_gym.scorers import Scorer, WeightedSum

        if domain is None:
            if self.domain_cls is None:
                raise ConfigError(f"{type(self).__name__} needs a domain")
            domain = self.domain_cls()
        self.domain = domain
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(
                f"render_mode={render_mode!r} is not supported; expected one of "
                f"{self.metadata['render_modes']} or None"
            )
        self.render_mode = render_mode
        self.generator = domain.generator()
        if difficulty is not None and difficulty not in self.generator.difficulties:
            raise ConfigError(
                f"difficulty={difficulty!r} is not a level of {domain.name}; "
                f"expected one of {list(self.generator.difficulties)} or None"
            )
        self.difficulty = difficulty
        self.sampler = make_sampler(sampler)
        self.tools = domain.tools()
        base_rules = domain.rulebook()
        if rules is None:
            self.rulebook = base_rules
        elif isinstance(rules, RuleBook):
            self.rulebook = rules
        elif isinstance(rules, Rule):
            raise TypeError("rules must be a list of Rule objects or a RuleBook; wrap it: [rule]")
        else:
            self.rulebook = base_rules.extended(rules)

        if reward is None:
            reward = dict(domain.default_reward)
        if isinstance(reward, Mapping):
            self.reward_fn: Scorer = WeightedSum(reward)
        elif isinstance(reward, Scorer):
            self.reward_fn = reward
        else:
            raise TypeError(
                "reward must be a dict of scorer name -> weight (e.g. {'bleu': 1.0}) or a "
                f"Scorer, got {type(reward).__name__}"
            )
        self._needs_references = _needs_references(self.reward_fn)

        for name, value in (("max_reply_chars", max_reply_chars),
                            ("max_history_chars", max_history_chars),
                            ("max_context_chars", max_context_chars),
                            ("max_messages_chars", max_messages_chars)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        self.max_reply_chars = max_reply_chars
        self.max_history_chars = max_history_chars
        self.max_context_chars = max_context_chars
        self.action_space = UnicodeText(max_reply_chars)
        self.observation_space = spaces.Dict({
            "context": UnicodeText(max_context_chars),
            "history": UnicodeText(max_history_chars),
            "turn": spaces.Discrete(MAX_TURN_INDEX + 1),
            "messages": ChatMessages(max_messages_chars),
        })
        #: The env's tools as OpenAI Chat Completions function schemas (``[]`` if none);
        #: ``self.tools.schemas("responses" | "mcp")`` gives the other views.
        self.tool_schemas: list[dict[str, Any]] = self.tools.schemas() if self.tools else []

        self.user = domain.make_user()
        self._expert = domain.make_expert() if self._needs_references else None
        self.scenario: Scenario | None = None
        self.world: dict[str, Any] = {}
        self.dialogue = Dialogue(labels=domain.labels)
        self._context = ""
        self._facts: Mapping[str, Any] = {}
        self._turn = 0
        self._done = True
        self._started = False
        self._return = 0.0
        self._potential = 0.0
        self._success = False
        self._reason = ""
        self._violation_count = 0
        self._score_sums: dict[str, float] = {}
        self._obs: Observation | None = None
        self._messages: list[dict[str, Any]] = []
        self._sample_index: int | None = None

    # ---------------------------------------------------------------- gymnasium API
    def reset(self, *, seed: int | None = None,
              options: Mapping[str, Any] | None = None) -> tuple[Observation, dict[str, Any]]:
        """Start an episode.

        Args:
            seed: Seeds ``np_random`` (scenario choice and the user's wording).
            options: ``scenario_id`` (replay a scenario from ``info["scenario_id"]``)
                and/or ``difficulty`` (level for this episode).
        """
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"scenario_id", "difficulty"}
        if unknown:
            raise ConfigError(
                f"unknown reset option(s) {sorted(unknown)}; expected 'scenario_id' and/or "
                "'difficulty'"
            )
        if self._started and not self._done and self._sample_index is not None:
            # the previous episode was cut off (TimeLimit): its return still counts
            self.sampler.update(self._sample_index, self._return)

        if options.get("scenario_id") is not None:
            domain, index, level = parse_scenario_id(options["scenario_id"])
            if domain != self.domain.name:
                raise ScenarioError(
                    f"scenario {options['scenario_id']!r} belongs to domain {domain!r}, "
                    f"not {self.domain.name!r}"
                )
            self._sample_index = None
            weight = 1.0
        else:
            index = self.sampler.sample(self.np_random)
            weight = self.sampler.last_weight
            self._sample_index = index
            level = options.get("difficulty", self.difficulty)
            if level is None:
                levels = self.generator.difficulties
                level = levels[index % len(levels)]
        if "difficulty" in options and options.get("scenario_id") is not None:
            level = options["difficulty"]
        if level not in self.generator.difficulties:
            raise ConfigError(
                f"difficulty={level!r} is not a level of {self.domain.name}; expected one of "
                f"{list(self.generator.difficulties)}"
            )

        self.scenario = self.generator.generate(int(index), int(level))
        self.world = self.domain.new_world(self.scenario)
        self.dialogue = Dialogue(labels=self.domain.labels)
        self._context = _clip(self.domain.render_context(self.scenario, self.rulebook,
                                                         self.tools), self.max_context_chars)
        self._facts = self.domain.facts(self.scenario)
        self.lexicon = self.domain.lexicon(self.scenario)
        self._analyses: list[Any] = []
        opening = self.user.start(self.scenario, self.world, self.np_random)
        self.dialogue.append(opening)
        self._messages = [system_message(self._context,
                                         self.domain.context_data(self.scenario)),
                          user_message(opening.text)]
        if self._expert is not None:
            self._expert.reset()
        self._turn = 0
        self._done = False
        self._started = True
        self._return = 0.0
        self._potential = 0.0
        self._success = False
        self._reason = ""
        self._violation_count = 0
        self._score_sums = {}
        self._obs = self._observation()
        info = {"scenario_id": self.scenario.id, "difficulty": self.scenario.difficulty,
                "sampling_weight": weight, "tool_schemas": copy.deepcopy(self.tool_schemas)}
        if self.render_mode == "human":
            self.render()
        return self._obs, info

    def step(self, action: str) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Play one agent reply; see the class docstring for the mechanics."""
        pending = self.step_begin(action)
        return self.step_end(pending, _score_terms_single(self.reward_fn, pending.score_input))

    def render(self) -> str | None:
        """``ansi``: return the context and transcript; ``human``: print them."""
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='ansi'")
            return None
        text = f"{self._context}\n\n{self.dialogue.render()}" if self.scenario else ""
        if self.render_mode == "human":
            print(text + "\n" + "-" * 60)
            return None
        return text

    def close(self) -> None:
        """Nothing to release; safe to call twice."""

    # ---------------------------------------------------------------- two-phase step
    def heard_text(self, action: str | Mapping[str, Any]) -> str:
        """What the user hears of ``action``: the reply without its tool calls."""
        return self.parse_action(action)[1].text

    def parse_action(self, action: Any) -> tuple[str, ParsedReply, bool]:
        """``(raw, parsed, truncated)`` of an action in any accepted form.

        ``raw`` is the reply as the transcript records it: a plain string as given (cut
        to ``max_reply_chars``); for a message dict or Hermes text, the spoken text
        followed by the calls in inline syntax, so the same calls read the same.
        """
        if isinstance(action, Mapping):
            role = action.get("role", "assistant")
            if role != "assistant":
                raise TypeError(f"an action message must have role 'assistant', got {role!r}")
            content = action.get("content")
            content = "" if content is None else content
            if not isinstance(content, str):
                from dialog_gym.tools import _content_text

                content = _content_text(content)
            truncated = len(content) > self.max_reply_chars
            message = {**action, "content": content[: self.max_reply_chars]}
            if self.tools:
                parsed = self.tools.parse_message(message)
            else:
                # no tools: the content is all speech; any tool call is an error result
                calls = ToolSet().parse_message({"tool_calls": action.get("tool_calls")}).calls
                parsed = ParsedReply(message["content"], message["content"], tuple(calls))
            return parsed.inline(), parsed, truncated
        if not isinstance(action, str):
            raise TypeError(
                f"action must be a str (the agent's reply) or an assistant message dict, "
                f"got {type(action).__name__}: {action!r:.80}"
            )
        truncated = len(action) > self.max_reply_chars
        action = action[: self.max_reply_chars]
        if not self.tools:
            return action, ParsedReply(action, action, ()), truncated
        parsed = self.tools.parse(action)
        if "<tool_call>" in action:
            return parsed.inline(), parsed, truncated
        return action, parsed, truncated

    def step_begin(self, action: str | Mapping[str, Any]) -> PendingStep:
        """Everything of :meth:`step` except scoring (used to batch scorers across envs)."""
        if not self._started:
            raise ResetNeeded("step() called before reset(); call env.reset() first")
        if self._done:
            raise ResetNeeded(
                "step() called after the episode ended (terminated); call env.reset() to "
                "start a new one"
            )
        action, parsed, truncated_action = self.parse_action(action)
        assert self.scenario is not None and self._obs is not None

        reference: tuple[str, ...] = ()
        parsed_ref = None
        if self._expert is not None:
            ref = self._expert.act(self._obs)
            parsed_ref = self.tools.parse(ref) if self.tools else None
            reference = (parsed_ref.text if parsed_ref else ref,)
        history = tuple(self.dialogue)
        before = tuple(self._messages)  # (messages are never changed once appended)
        text, calls = parsed.text, parsed.calls
        analysis = self.lexicon.analyze(text)
        ctx = RuleContext(self.dialogue, action, text, calls, self.world, analysis)
        violations = self.rulebook.check(ctx)
        blocked = {v.call_index: v for v in violations if v.call_index is not None}
        severe = any(v.severe for v in violations)
        results: list[ToolResult] = []
        for i, call in enumerate(calls):
            if i in blocked:
                v = blocked[i]
                results.append(ToolResult(call.name, False,
                                          f"blocked by rule {v.rule_id}: {v.message}"))
            elif severe:
                results.append(ToolResult(call.name, False, "not run: the conversation ended"))
            else:
                results.append(self.tools.execute(call, self.world))

        self.dialogue.append(Turn(AGENT, action))
        ids = [c.id or f"call_{self._turn + 1}_{i}" for i, c in enumerate(calls)]
        said = assistant_message(text, calls, ids)
        self._messages.append(said)
        for r, call_id in zip(results, ids, strict=True):
            self.dialogue.append(Turn(SYSTEM, r.render(), {"tool": r.name, "ok": r.ok}))
            self._messages.append(tool_message(r, call_id))
        reply = AgentReply(action, text, tuple(calls), tuple(results), tuple(violations),
                           analysis, tuple(self._analyses))
        reaction = self.user.respond(self.dialogue, reply, self.np_random)
        if reaction.turn is not None:
            self.dialogue.append(reaction.turn)
            self._messages.append(user_message(reaction.turn.text))
        terminated = bool(reaction.done or severe)
        success = bool(reaction.success and not severe)
        progress = max(self._potential, min(1.0, float(reaction.progress)))
        delta = progress - self._potential
        self._potential = progress

        from dialog_gym.scorers import ScoreInput

        signals = {
            "progress": delta,
            "success": 1.0 if (terminated and success) else 0.0,
            "failure": 1.0 if (terminated and not success) else 0.0,
            "rule_penalty": float(sum(v.penalty for v in violations)),
        }
        score_input = ScoreInput(context=self._context, history=history, response=text,
                                 references=reference, facts=self._facts, signals=signals,
                                 analysis=analysis, prior=tuple(self._analyses),
                                 messages=before, reply=said)
        self._analyses.append(analysis)
        self._turn += 1
        self._done = terminated
        self._success = success
        self._reason = reaction.reason
        self._violation_count += len(violations)
        return PendingStep(score_input, reply, reaction, violations, results, truncated_action,
                           terminated, success, delta)

    def step_end(self, pending: PendingStep, scores: Mapping[str, float]
                 ) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Finish a step begun with :meth:`step_begin`, given its per-term scores."""
        reward = float(_combine(self.reward_fn, scores))
        if not math.isfinite(reward):
            raise RuntimeError(f"reward is not finite ({reward}); scores: {dict(scores)}")
        self._return += reward
        for k, v in scores.items():
            self._score_sums[k] = self._score_sums.get(k, 0.0) + v
        self._obs = self._observation()
        assert self.scenario is not None
        info: dict[str, Any] = {
            "scores": dict(scores),
            "violations": [v.rule_id for v in pending.violations],
            "violation_messages": [v.message for v in pending.violations],
            "scenario_id": self.scenario.id,
            "success": pending.success,
            "progress": self._potential,
            "action_truncated": pending.action_truncated,
            "tool_results": [r.render() for r in pending.results],
            "understanding": _understanding_info(pending.reply.analysis),
            "user": {"mood": pending.reaction.mood, "reason": pending.reaction.reason,
                     "patience": getattr(self.user, "patience", None),
                     **dict(pending.reaction.labels)},
        }
        if pending.terminated:
            info["episode_summary"] = self.episode_summary()
            if self._sample_index is not None:
                self.sampler.update(self._sample_index, self._return)
        if self.render_mode == "human":
            self.render()
        return self._obs, reward, pending.terminated, False, info

    def episode_summary(self) -> dict[str, Any]:
        """Return, turns, success and per-scorer sums of the current episode."""
        return {
            "return": self._return,
            "turns": self._turn,
            "success": self._success,
            "reason": self._reason,
            "progress": self._potential,
            "violations": self._violation_count,
            "scores": dict(self._score_sums),
            "scenario_id": self.scenario.id if self.scenario else None,
        }

    # ---------------------------------------------------------------- helpers
    @property
    def done(self) -> bool:
        """True between the end of an episode and the next reset."""
        return self._done

    def _observation(self) -> Observation:
        return {
            "context": self._context,
            "history": self.dialogue.render(self.max_history_chars),
            "turn": min(self._turn, MAX_TURN_INDEX),
            # a copy: observations kept by the caller must not change with later steps
            "messages": _copy_messages(self._messages),
        }

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The episode so far as chat messages (a copy; see :mod:`dialog_gym.messages`)."""
        return copy.deepcopy(self._messages)


def _understanding_info(analysis: Any) -> dict[str, Any]:
    """The acts the user understood in a reply, and how many clauses needed the encoder."""
    if analysis is None:
        return {"acts": [], "encoded_clauses": 0}
    return {"acts": sorted(analysis.labels), "encoded_clauses": analysis.encoded}


def _copy_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A deep copy of chat messages.

    They are plain data, so a pickle round trip does it, ~3x faster than
    ``copy.deepcopy`` (which matters once the system message carries a catalogue).
    """
    return pickle.loads(pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _needs_references(scorer: Any) -> bool:
    terms = getattr(scorer, "terms", None)
    if terms is not None:
        return any(getattr(s, "uses_references", False) for _, s, _ in terms)
    return bool(getattr(scorer, "uses_references", False))


def _score_terms(scorer: Any, batch: list[Any]) -> dict[str, np.ndarray]:
    """Per-term scores of a batch (a single term for a plain Scorer)."""
    if hasattr(scorer, "score_terms"):
        return scorer.score_terms(batch)
    return {scorer.name: scorer.score(batch)}


def _score_terms_single(scorer: Any, item: Any) -> dict[str, float]:
    """``{name: v[0]}`` of :func:`_score_terms` for a batch of one (same floats).

    Skips numpy arrays of one item where the scorers allow it.
    """
    from dialog_gym.scorers.base import Scorer, WeightedSum, _score_single

    if isinstance(scorer, WeightedSum):
        return scorer._score_terms_single(item)
    if isinstance(scorer, Scorer) and not hasattr(scorer, "score_terms"):
        return {scorer.name: _score_single(scorer, item)}
    return {k: float(v[0]) for k, v in _score_terms(scorer, [item]).items()}


def _combine(scorer: Any, scores: Mapping[str, float]) -> float:
    from dialog_gym.scorers import WeightedSum

    combine = getattr(scorer, "combine", None)
    if getattr(combine, "__func__", None) is WeightedSum.combine:
        # WeightedSum.combine only multiplies and adds, so on Python floats it performs
        # the same IEEE-754 operations, in the same order, as on numpy float64 scalars,
        # without numpy's cost
        return float(combine({k: float(v) for k, v in scores.items()}))
    if combine is not None:
        return float(combine({k: np.float64(v) for k, v in scores.items()}))
    return float(next(iter(scores.values())))
