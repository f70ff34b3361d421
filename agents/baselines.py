"""Scripted baselines and the degenerate "reward hacking probes".

``random`` and ``expert`` are the reference points of every leaderboard (normalised
score 0 and 1). The probes (``keyword-stuffing``, ``echo``, ``repeat``) are the first
strategies a reward-hacking policy discovers; every env is tested against them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dialog_gym.agents.base import Agent
from dialog_gym.messages import observed
from dialog_gym.spaces import UnicodeText


class RandomAgent(Agent):
    """Replies with random text sampled from a :class:`~dialog_gym.spaces.UnicodeText` space.

    Args:
        seed: Seed of the sampler.
        max_chars: Longest reply.
        env_id: Accepted for a uniform ``make_agent(..., env_id=...)`` call; unused.
    """

    name = "random"

    def __init__(self, seed: int | None = 0, max_chars: int = 80, env_id: str | None = None):
        self.space = UnicodeText(max_chars, seed=seed)

    def act(self, observation: Mapping[str, Any]) -> str:
        """A random string."""
        return self.space.sample()


class ExpertAgent(Agent):
    """The scripted expert of an environment (defined beside the env, found by id).

    Args:
        env_id: A registered dialog-gym id, e.g. ``"Dialog-CustomerService-v0"``.
        env_kwargs: Keyword arguments of the env the expert will play (e.g. the corpus
            ``path`` of ``Dialog-Corpus-v0``), so it is built for the same domain data.
    """

    name = "expert"

    def __init__(self, env_id: str, env_kwargs: Mapping[str, Any] | None = None):
        from dialog_gym.registration import make_expert

        self.env_id = env_id
        self.policy = make_expert(env_id, **dict(env_kwargs or {}))

    def reset(self) -> None:
        """Reset the underlying policy."""
        self.policy.reset()

    def act(self, observation: Mapping[str, Any]) -> str:
        """The expert's reply."""
        return self.policy.act(observation)

    def __repr__(self) -> str:
        return f"ExpertAgent(env_id={self.env_id!r})"


def chat_messages(observation: Mapping[str, Any], reader: str) -> list[Mapping[str, Any]]:
    """``observation["messages"]``, checked to be there (:func:`dialog_gym.messages.observed`)."""
    return list(observed(observation, reader))


def _system_text(messages: Sequence[Mapping[str, Any]]) -> str:
    return next((str(m.get("content") or "") for m in messages if m.get("role") == "system"),
                "")


_STUFF_WORDS = (
    "sorry order number email zip code refund tracking cancel address password charge "
    "verify identity status shipped delivered help thank you please account"
).split()


class KeywordStuffingAgent(Agent):
    """Probe: a shuffled bag of domain keywords and the context's own terms, each turn.

    Args:
        seed: Seed of the shuffling.
        env_id: Accepted for uniformity; unused.
    """

    name = "keyword-stuffing"

    def __init__(self, seed: int | None = 0, env_id: str | None = None):
        self.rng = np.random.default_rng(seed)

    def act(self, observation: Mapping[str, Any]) -> str:
        """Keywords from a fixed list and the context (the system message), shuffled."""
        context = _system_text(chat_messages(observation, "KeywordStuffingAgent"))
        ctx_words = re.findall(r"[a-z]{5,}", context.lower())
        words = list(dict.fromkeys(_STUFF_WORDS + ctx_words[:20]))
        self.rng.shuffle(words)
        return " ".join(words[:18]) + "?"


class EchoAgent(Agent):
    """Probe: repeats the user's last turn back to them.

    Args:
        env_id: Accepted for uniformity; unused.
    """

    name = "echo"

    def __init__(self, env_id: str | None = None):
        pass

    def act(self, observation: Mapping[str, Any]) -> str:
        """The content of the last user message ("" before the user spoke)."""
        messages = chat_messages(observation, "EchoAgent")
        return next((str(m.get("content") or "") for m in reversed(messages)
                     if m.get("role") == "user"), "")


class RepeatAgent(Agent):
    """Probe: the same polite stock reply every turn.

    Args:
        text: The reply.
        env_id: Accepted for uniformity; unused.
    """

    name = "repeat"

    def __init__(self, text: str = "Thank you for contacting us! I'm sorry for the trouble, "
                 "I'm happy to help you with that.", env_id: str | None = None):
        self.text = text

    def act(self, observation: Mapping[str, Any]) -> str:
        """The stock reply."""
        return self.text


class RandomCandidateAgent(Agent):
    """Uniform choice among the candidate replies of :class:`~dialog_gym.wrappers.CandidateActions`.

    The reference point of agents that choose among candidates (the SB3 agents): same
    candidates (the expert's reply among distractors), no judgement.

    Args:
        env_id: The env whose expert and distractor pool make the candidates.
        k: Candidates per step.
        seed: Seed of the choices and of the candidate order.
        same_act_distractors: Harder candidates (see ``CandidateGenerator``).
    """

    name = "random-candidate"

    def __init__(self, env_id: str, k: int = 6, seed: int | None = 0,
                 same_act_distractors: bool = False):
        import gymnasium as gym

        import dialog_gym  # noqa: F401  (registers ids)
        from dialog_gym.wrappers import CandidateGenerator

        self.env_id = env_id
        env = gym.make(env_id)
        try:
            self.generator = CandidateGenerator.for_env(
                env, k, same_act_distractors=same_act_distractors)
        finally:
            env.close()
        self.rng = np.random.default_rng(seed)

    def act(self, observation: Mapping[str, Any]) -> str:
        """A uniformly random real candidate."""
        cset = self.generator.candidates(observation, self.rng)
        real = np.flatnonzero(cset.mask)
        return cset.replies[int(real[self.rng.integers(len(real))])]

    def __repr__(self) -> str:
        return f"RandomCandidateAgent(env_id={self.env_id!r}, k={self.generator.k})"
