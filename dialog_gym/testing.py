"""Conformance checks for plugin authors, in the spirit of PettingZoo's ``api_test``.

Run :func:`check_agent` in your plugin's test suite::

    from dialog_gym.testing import check_agent

    def test_my_agent():
        check_agent(MyAgent(), "Dialog-CustomerService-v0")

It plays a few seeded episodes and checks the :class:`~dialog_gym.agents.Agent` contract:
``act`` returns a ``str`` without changing the observation, ``reset`` can be called at
any time, ``act_batch`` (when present) returns one ``str`` per
observation, and ``save``/``load`` (when implemented) round-trip.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Mapping
from typing import Any

from dialog_gym.error import Error

__all__ = ["AgentCheckError", "DomainCheckError", "NegatingAgent", "attack_success_rate",
           "check_agent", "check_domain", "negate_reply", "with_tool_data"]


class AgentCheckError(Error, AssertionError):
    """An agent does not meet the dialog-gym agent contract."""


def _implements(agent: Any, method: str) -> bool:
    from dialog_gym.agents.base import Agent

    fn = getattr(type(agent), method, None)
    if fn is None or not callable(fn):
        return False
    return not (isinstance(agent, Agent) and fn is getattr(Agent, method))


def check_agent(agent: Any, env_id: str, *, episodes: int = 2, seed: int = 0,
                max_turns: int = 50, env_kwargs: Mapping[str, Any] | None = None,
                check_save: bool = True) -> dict[str, Any]:
    """Check that ``agent`` meets the agent contract on ``env_id``; return a short report.

    Args:
        agent: The agent (anything with ``act`` and ``reset``).
        env_id: A registered dialog-gym env id.
        episodes: Episodes to play (seeds ``seed, seed+1, ...``).
        seed: Seed of the first episode.
        max_turns: Stop an episode after this many replies (guards against endless envs).
        env_kwargs: Keyword arguments of ``gym.make``.
        check_save: Round-trip ``save``/``load`` when the agent implements them.

    Returns:
        ``{"episodes", "turns", "mean_return", "success_rate"}`` of the episodes played.

    Raises:
        AgentCheckError: what is wrong, and how to fix it.
    """
    import gymnasium as gym

    import dialog_gym  # noqa: F401  (registers ids)

    name = type(agent).__name__
    for method in ("act", "reset"):
        if not callable(getattr(agent, method, None)):
            raise AgentCheckError(f"{name} has no {method}() method; agents implement "
                                  "act(observation) -> str and reset() (subclass "
                                  "dialog_gym.agents.Agent)")
    env = gym.make(env_id, **dict(env_kwargs or {}))
    returns, successes, turns = [], [], 0
    last_obs: Any = None
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            agent.reset()
            total, done, t = 0.0, False, 0
            info: dict[str, Any] = {}
            while not done and t < max_turns:
                before = copy.deepcopy(obs)
                try:
                    reply = agent.act(obs)
                except Exception as e:
                    raise AgentCheckError(
                        f"{name}.act raised {type(e).__name__}: {e} (episode seed {seed + ep}, "
                        f"turn {t})") from e
                if not isinstance(reply, str):
                    raise AgentCheckError(
                        f"{name}.act returned {type(reply).__name__} ({reply!r:.60}); it must "
                        "return the reply as a str")
                if obs != before:
                    raise AgentCheckError(f"{name}.act changed the observation it was given; "
                                          "copy it before modifying it")
                last_obs = obs
                obs, reward, terminated, truncated, info = env.step(reply)
                total += float(reward)
                done = terminated or truncated
                t += 1
            turns += t
            returns.append(total)
            successes.append(bool(info.get("success", False)))
        agent.reset()  # must be callable between and after episodes
    finally:
        env.close()

    if last_obs is not None and _implements(agent, "act_batch"):
        replies = agent.act_batch([last_obs, last_obs])
        if not isinstance(replies, list) or len(replies) != 2 or not all(
                isinstance(r, str) for r in replies):
            raise AgentCheckError(f"{name}.act_batch([obs, obs]) returned {replies!r:.80}; "
                                  "expected a list of 2 str")

    if check_save and last_obs is not None and _implements(agent, "save") \
            and _implements(agent, "load"):
        with tempfile.TemporaryDirectory() as tmp:
            agent.save(tmp)
            loaded = agent.load(tmp)
            if loaded is None or not callable(getattr(loaded, "act", None)):
                raise AgentCheckError(f"{name}.load(path) returned {loaded!r:.60}; it must "
                                      "return the loaded agent (usually self)")
            reply = loaded.act(last_obs)
            if not isinstance(reply, str):
                raise AgentCheckError(f"after load, {name}.act returned "
                                      f"{type(reply).__name__}; expected str")

    n = len(returns)
    return {"episodes": n, "turns": turns,
            "mean_return": sum(returns) / n if n else 0.0,
            "success_rate": sum(successes) / n if n else 0.0}


# ---------------------------------------------------------------------------- attacks

import re as _re  # noqa: E402

_TOOL_CALL = _re.compile(r"\[[a-z_]+\b[^\]]*\]")
_NEG_VERB = _re.compile(
    r"\b(I(?:'d| would)? recommend|I(?:'d| would)? suggest|I(?:'d| would) go with|"
    r"it's|it is|that's|that is|there's|there is|they're|they are|you're|you are|"
    r"is|are|was|were|has|have|had|will|can|should|does|do|did)\b", _re.IGNORECASE)
_NEG_FORM = {"i recommend": "I would not recommend", "i'd recommend": "I would not recommend",
             "i would recommend": "I would not recommend", "i suggest": "I would not suggest",
             "i'd suggest": "I would not suggest", "i would suggest": "I would not suggest",
             "i'd go with": "I would not go with", "i would go with": "I would not go with",
             "it's": "it's not", "that's": "that's not", "there's": "there's not",
             "they're": "they're not", "you're": "you're not"}


def with_tool_data(observation: Mapping[str, Any], tool: str,
                   change: Any) -> dict[str, Any]:
    """A copy of ``observation`` whose ``tool`` results carry changed ``data``.

    ``change(data)`` edits each result's data in place; the messages' text stays as it
    was. An expert that reads the data (not the text) then answers with the changed
    values: a test that it does not re-parse the message.
    """
    import json

    obs = copy.deepcopy(dict(observation))
    for m in obs["messages"]:
        if m["role"] == "tool" and m.get("name") == tool:
            payload = json.loads(m["content"])
            payload.setdefault("data", {})
            change(payload["data"])
            m["content"] = json.dumps(payload)
    return obs


def negate_reply(text: str) -> str:
    """The reply with each sentence's statement negated; tool calls are kept as written.

    Used by the negation attack: an agent that does the expert's work but tells every
    fact, answer, recommendation or guess negated ("Your order has not shipped", "I
    would not recommend X", "It's not the frog") must not be credited for telling it.

    Example:
        >>> negate_reply("Your order has shipped. I recommend Green Orchid. [lookup_order "
        ...              "order=A1]")
        'Your order has not shipped. I would not recommend Green Orchid. [lookup_order order=A1]'
    """
    calls = _TOOL_CALL.findall(text)
    body = _TOOL_CALL.sub("", text).strip()
    out = []
    for sent in _re.split(r"(?<=[.!?])\s+", body):
        if not sent:
            continue
        if sent.rstrip().endswith("?"):
            out.append(sent)  # a question asks; there is nothing to negate
            continue
        m = _NEG_VERB.search(sent)
        if m is None:
            out.append("It is not true that " + sent)
            continue
        word = m.group(0)
        neg = _NEG_FORM.get(word.lower())
        if neg is None:
            neg = word + " not"
        elif word[:1].isupper():
            neg = neg[:1].upper() + neg[1:]
        out.append(sent[:m.start()] + neg + sent[m.end():])
    return " ".join([*out, *calls]).strip()


class NegatingAgent:
    """Wraps an agent and negates every statement of its replies (see :func:`negate_reply`).

    Args:
        agent: The agent whose replies are negated (usually a domain's expert).
    """

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def reset(self) -> None:
        """Reset the wrapped agent."""
        self.agent.reset()

    def act(self, observation: Mapping[str, Any]) -> str:
        """The wrapped agent's reply, negated."""
        return negate_reply(self.agent.act(observation))


def attack_success_rate(env_id: str, agent: Any, seeds: range | list[int], *,
                        cycle_difficulty: bool = False) -> tuple[float, float]:
    """``(success rate, mean return)`` of ``agent`` over one episode per seed.

    Args:
        env_id: The env.
        agent: An agent, or a callable ``seed -> agent`` for a fresh one per episode.
        seeds: One episode per seed.
        cycle_difficulty: Play seed ``s`` at difficulty ``s % n_levels`` (every level).
    """
    import gymnasium as gym

    env = gym.make(env_id)
    levels = env.unwrapped.generator.difficulties
    wins, total = 0, 0.0
    for seed in seeds:
        options = {"difficulty": levels[int(seed) % len(levels)]} if cycle_difficulty else None
        obs, _ = env.reset(seed=int(seed), options=options)
        fresh = isinstance(agent, type) or not hasattr(agent, "act")
        player = agent(int(seed)) if fresh else agent
        player.reset()
        done = False
        info: dict[str, Any] = {}
        while not done:
            obs, r, term, trunc, info = env.step(player.act(obs))
            total += float(r)
            done = term or trunc
        wins += bool(info.get("success"))
    env.close()
    n = max(1, len(seeds))
    return wins / n, total / n


# ---------------------------------------------------------------------------- domains

_AUTHORING = "docs/authoring_envs.md#what-every-env-must-pass"


class DomainCheckError(Error, AssertionError):
    """An environment fails one of :func:`check_domain`'s named checks."""

    def __init__(self, check: str, message: str) -> None:
        self.check = check
        super().__init__(f"[{check}] {message} (see {_AUTHORING})")


def check_domain(env_id: str, *, episodes: int = 30, seed: int = 0,
                 min_expert_success: float = 0.9,
                 max_degenerate_success: float = 0.1) -> dict[str, Any]:
    """Check a dialog-gym environment as the built-in suite is checked; returns the figures.

    Named checks, each raising :class:`DomainCheckError` with the check's name:

    - ``registered``: ``env_id`` is a dialog-gym id (built-in, entry-point plugin or a
      ``gym.register``-ed :class:`~dialog_gym.env.DialogueEnv`);
    - ``check_env``: Gymnasium's env checker passes without warnings;
    - ``determinism``: two envs, same seed, same replies: same transcript and rewards;
    - ``bad_input``: a non-str action raises ``TypeError``; an over-long reply is cut
      and flagged; an empty reply is legal;
    - ``expert_succeeds``: the domain's expert succeeds in at least
      ``min_expert_success`` of ``episodes`` episodes;
    - ``degenerate_agents_fail``: ``random``, ``keyword-stuffing``, ``echo`` and
      ``repeat`` succeed in at most ``max_degenerate_success`` and earn less than the
      expert.

    Example (in a plugin's tests)::

        from dialog_gym.testing import check_domain

        def test_my_env():
            check_domain("MyOrg-Coffee-v0")
    """
    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env

    from dialog_gym.agents import make_agent
    from dialog_gym.evaluation import evaluate
    from dialog_gym.registration import env_ids

    if env_id not in env_ids():
        raise DomainCheckError("registered", f"{env_id!r} is not a dialog-gym id; register it "
                               "with the 'dialog_gym.envs' entry-point group or gym.register")
    import warnings

    env = gym.make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_env(env.unwrapped, skip_render_check=True)
        except Exception as e:
            raise DomainCheckError("check_env", f"{type(e).__name__}: {e}") from e
    if caught:
        raise DomainCheckError("check_env", "the env checker warned: "
                               + "; ".join(str(w.message) for w in caught[:3]))

    def rollout() -> list[Any]:
        e = gym.make(env_id)
        agent = make_agent("expert", env_id=env_id)
        obs, _ = e.reset(seed=seed)
        out: list[Any] = [obs["history"]]
        done = False
        while not done:
            obs, r, term, trunc, _ = e.step(agent.act(obs))
            out.append((obs["history"], round(float(r), 9)))
            done = term or trunc
        e.close()
        return out

    if rollout() != rollout():
        raise DomainCheckError("determinism", "the same seed and replies gave different "
                               "transcripts or rewards; draw every random choice from "
                               "self.np_random or a random.Random seeded by the scenario")

    env.reset(seed=seed)
    try:
        env.step(123)  # type: ignore[arg-type]
    except TypeError:
        pass
    else:
        raise DomainCheckError("bad_input", "a non-str action was accepted")
    limit = env.unwrapped.max_reply_chars
    _, _, term, _, info = env.step("x " * limit)
    if not info.get("action_truncated"):
        raise DomainCheckError("bad_input", "an over-long reply was not flagged")
    if not term:
        env.step("")
    env.close()

    figures: dict[str, Any] = {}
    expert = evaluate(make_agent("expert", env_id=env_id), env_id, episodes=episodes,
                      seed=seed)
    figures["expert"] = expert["success_rate"], expert["mean_return"]
    if expert["success_rate"] < min_expert_success:
        raise DomainCheckError("expert_succeeds", f"the expert succeeded in "
                               f"{expert['success_rate']:.0%} of {episodes} episodes "
                               f"(< {min_expert_success:.0%})")
    for name in ("random", "keyword-stuffing", "echo", "repeat"):
        r = evaluate(make_agent(name, env_id=env_id), env_id, episodes=episodes, seed=seed)
        figures[name] = r["success_rate"], r["mean_return"]
        if r["success_rate"] > max_degenerate_success or \
                r["mean_return"] >= expert["mean_return"]:
            raise DomainCheckError(
                "degenerate_agents_fail",
                f"{name!r} succeeded in {r['success_rate']:.0%} (mean return "
                f"{r['mean_return']:.2f}, expert {expert['mean_return']:.2f}): the user "
                "must not count degenerate replies as progress")
    return figures
