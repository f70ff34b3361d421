"""Wrappers that make text dialogue envs usable by Stable-Baselines3-style agents.

SB3 cannot act in a text action space or read text observations. Three wrappers bridge
the gap; each one's logic lives in a small class that an agent can also run by itself on
the raw env observations (so a trained agent plays in ``dialog-gym evaluate`` unwrapped):

- :class:`CandidateActions` (logic: :class:`CandidateGenerator`): the action space becomes
  ``Discrete(k)``; each step offers ``k`` candidate replies, the scripted expert's reply
  among distractors, shown in ``observation["candidates"]``.
- :class:`EmbeddingObservation` (logic: :class:`ObservationEmbedder`): the observation
  becomes a ``Box`` of sentence embeddings (context, opening line, newest lines and the
  candidates), computed with the shared cached encoder of :mod:`dialog_gym.embedding`.
- :class:`TokenIdObservation` (logic: :class:`ObservationTokenizer`): the observation
  becomes a ``Box`` of hashed token ids (same rows), for small models trained from
  scratch; about a thousand times cheaper per step than sentence embeddings.

Typical stack for SB3::

    env = gym.make("Dialog-CustomerService-v0")
    env = EmbeddingObservation(CandidateActions(env, k=6))
    # Discrete(6) actions, Box(14, 384) observations, env.action_masks() for MaskablePPO
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dialog_gym.error import ConfigError, InvalidAction, ResetNeeded
from dialog_gym.messages import texts
from dialog_gym.spaces import UnicodeText

__all__ = [
    "CandidateActions",
    "CandidateGenerator",
    "CandidateSet",
    "EmbeddingObservation",
    "HashingTokenizer",
    "ObservationEmbedder",
    "ObservationTokenizer",
    "TokenIdObservation",
    "build_pool",
    "rewording_is_safe",
    "observation_rows",
    "DISTRACTOR_KINDS",
    "POOL_SEED",
]

#: Kinds of distractor :class:`CandidateGenerator` can draw.
DISTRACTOR_KINDS = ("other_state", "paraphrase", "degenerate")
#: First seed of the expert roll-outs that fill the distractor pool. Evaluation and
#: training seeds of dialog-gym tools start far below it, so pool scenarios are disjoint.
POOL_SEED = 2_000_000

_WORD = re.compile(r"[a-z][a-z']*")
_HAS_DIGIT_OR_AT = re.compile(r"[\d@$]")

# Generic rewordings of assistant English (tool calls are never touched). Applied to
# candidates at random, the right one included, so wording says nothing about correctness.
_REWORDINGS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(p, re.IGNORECASE), alts) for p, alts in (
        (r"\bI've\b", ("I have", "I just")),
        (r"\bI'm sorry\b", ("My apologies", "Apologies", "I am sorry")),
        (r"\bCould you (?:please )?", ("Can you ", "Would you ", "Please ")),
        (r"\bThank you\b", ("Thanks", "Many thanks")),
        (r"\blet me check that for you\b", ("I'll look into that", "one moment please")),
        (r"\bone moment while I look into it\b", ("let me have a look", "I'm checking now")),
        (r"\bYour order\b", ("The order", "Your purchase")),
        (r"\bOur records show\b", ("I can see that", "It looks like")),
        (r"\bIs there anything else I can help you with today\?",
         ("Anything else I can do for you?", "Can I help with anything else?")),
        (r"\bto verify your identity\b", ("for security", "to confirm it's you")),
        (r"\bplease\b", ("kindly",)),
        (r"\bI understand how frustrating that is\b", ("I know this is annoying",)),
    )
)
_FILLERS = ("Sure.", "Of course.", "Alright,", "Okay,", "Certainly.")
_STOCK = ("Thank you for contacting us! I'm happy to help you with that.",
          "I understand. Let me see what I can do.",
          "Thanks for your patience, we appreciate your business.")


def _lines(history: str) -> list[str]:
    return [ln for ln in history.split("\n") if ln.strip()]


_CALL_SPAN = re.compile(r"\[[^\[\]]*\]")


def _reword_reply(reply: str, rng: np.random.Generator) -> str:
    """Reword the spoken part of ``reply``; bracketed tool calls are kept as they are."""
    calls = _CALL_SPAN.findall(reply)
    if not calls:
        return _reword(reply, rng)
    spoken = _CALL_SPAN.sub("\x00", reply)
    out = _reword(spoken, rng)
    for c in calls:
        out = out.replace("\x00", c, 1)
    return out


def _reword(text: str, rng: np.random.Generator) -> str:
    """Reword ``text`` with one or two generic substitutions (or a filler prefix)."""
    order = rng.permutation(len(_REWORDINGS))
    out, changed = text, 0
    for i in order:
        pat, alts = _REWORDINGS[int(i)]
        m = pat.search(out)
        if m:
            alt = alts[int(rng.integers(len(alts)))]
            if m.group(0)[:1].isupper():
                alt = alt[:1].upper() + alt[1:]
            elif not re.match(r"I\b", alt):
                alt = alt[:1].lower() + alt[1:]
            out = out[: m.start()] + alt + out[m.end():]
            changed += 1
            if changed == 2:
                break
    if out == text:
        out = f"{_FILLERS[int(rng.integers(len(_FILLERS)))]} {text}" if text else text
    return out


@dataclass(frozen=True)
class CandidateSet:
    """The candidates offered at one step.

    Attributes:
        replies: ``k`` reply strings (padding slots are empty and masked out).
        kinds: What each slot is: ``"expert"``, a distractor kind, or ``"padding"``.
        mask: ``True`` for real candidates (what :meth:`CandidateActions.action_masks`
            returns).
    """

    replies: tuple[str, ...]
    kinds: tuple[str, ...]
    mask: np.ndarray

    @property
    def expert_index(self) -> int:
        """Slot of the expert's reply (for analysis and imitation; never observed)."""
        return self.kinds.index("expert")


class CandidateGenerator:
    """Builds the ``k`` candidate replies of a dialogue state.

    One slot holds the env's scripted expert reply for the observation; the others are
    distractors, at uniformly random positions (a permutation drawn from the caller's
    RNG, so the expert's index carries no information):

    - ``other_state``: replies the expert gave in *other* dialogue states, from a pool
      filled by rolling out the expert on seeds from :data:`POOL_SEED` on (disjoint from
      evaluation seeds), plus the agent's own earlier replies in this dialogue.
      Plausible support-desk replies that are wrong *here* (asking for what is already
      known, acting on another customer's order, the wrong policy answer, ...).
    - ``paraphrase``: the expert's words without its tool calls (it promises an action
      it does not take), or, when the expert reply calls no tool, the words of another
      state's acting reply without its calls.
    - ``degenerate``: the reward-hacking probes: echo of the user's last turn, a bag of
      keywords from the context, the previous reply repeated, a stock pleasantry, or an
      empty reply.

    Style carries no information: every candidate except the degenerate ones (the
    expert's reply included) is reworded with probability ``reword`` by generic
    paraphrase rules (tool calls kept), so the agent cannot learn "the template wording
    is the right one".

    With ``same_act_distractors=False`` (default), other-state replies that perform the
    *same dialogue act* as the expert reply (the same tool calls, or near-identical words)
    are excluded: they differ from it only in ids and amounts, which sentence embeddings
    blur. The task is then to recognise the dialogue state and pick the right act, not
    to check ids; set it True for that harder variant.

    Everything is computed from the observation alone (the expert acts from observations
    only), so an agent can rebuild the candidates of a raw env observation.

    Args:
        domain: The env's :class:`~dialog_gym.domain.Domain` (its expert and tools).
        k: Number of candidates (>= 2).
        distractors: Enabled distractor kinds (subset of :data:`DISTRACTOR_KINDS`).
        pool: Other-state replies (:meth:`for_env` fills it with :func:`build_pool`).
        same_act_distractors: Allow other-state replies of the expert's act.
        reword: Probability that a (non-degenerate) candidate is reworded;
            :meth:`for_env` also accepts ``"auto"`` (0.5 where
            :func:`rewording_is_safe`, else 0).
    """

    def __init__(self, domain: Any, k: int = 6, *,
                 distractors: Sequence[str] = DISTRACTOR_KINDS,
                 pool: Sequence[str] = (), same_act_distractors: bool = False,
                 reword: float = 0.5) -> None:  # "auto" is resolved by for_env
        if not isinstance(k, (int, np.integer)) or k < 2:
            raise ConfigError(f"k must be an int >= 2 (one expert reply and at least one "
                              f"distractor), got {k!r}")
        bad = [d for d in distractors if d not in DISTRACTOR_KINDS]
        if bad or not distractors:
            raise ConfigError(f"distractors must be a non-empty subset of {DISTRACTOR_KINDS}, "
                              f"got {list(distractors)!r}")
        self.domain = domain
        self.k = int(k)
        self.distractors = tuple(dict.fromkeys(distractors))
        self.same_act_distractors = bool(same_act_distractors)
        if isinstance(reword, str) or not 0.0 <= reword <= 1.0:
            raise ConfigError(f"reword must be a probability in [0, 1], got {reword!r}")
        self.reword = float(reword)
        self.expert = domain.make_expert()
        self.tools = domain.tools()
        self.pool = tuple(dict.fromkeys(pool))
        self._sig_cache: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def for_env(cls, env: gym.Env, k: int = 6, *, pool_episodes: int = 100,
                pool_seed: int = POOL_SEED, **kwargs: Any) -> CandidateGenerator:
        """A generator for ``env`` (any wrapping of a :class:`~dialog_gym.env.DialogueEnv`)."""
        base = env.unwrapped
        domain = getattr(base, "domain", None)
        if domain is None:
            raise ConfigError(
                f"candidate replies need a dialog-gym DialogueEnv (it has a domain with a "
                f"scripted expert); got {type(base).__name__}"
            )
        pool = build_pool(env, episodes=pool_episodes, seed=pool_seed)
        if kwargs.get("reword", "auto") == "auto":
            kwargs["reword"] = 0.5 if rewording_is_safe(env, seed=pool_seed) else 0.0
        return cls(domain, k, pool=pool, **kwargs)

    def clone(self) -> CandidateGenerator:
        """The same generator (settings, pool) with its own expert, for another env.

        Experts cache their parse of the dialogue so far; one generator per env keeps
        interleaved dialogues (vector envs) from invalidating each other's cache.
        """
        return type(self)(self.domain, self.k, distractors=self.distractors, pool=self.pool,
                          same_act_distractors=self.same_act_distractors, reword=self.reword)

    # ------------------------------------------------------------------ signatures
    def _signature(self, reply: str) -> tuple[frozenset[str], frozenset[str]]:
        sig = self._sig_cache.get(reply)
        if sig is None:
            parsed = self.tools.parse(reply) if self.tools else None
            text = parsed.text if parsed else reply
            names = frozenset(c.name for c in parsed.calls) if parsed else frozenset()
            words = frozenset(w for w in _WORD.findall(text.lower())
                              if not _HAS_DIGIT_OR_AT.search(w))
            sig = (names, words)
            if len(self._sig_cache) < 100_000:
                self._sig_cache[reply] = sig
        return sig

    def same_act(self, a: str, b: str) -> bool:
        """Whether two replies perform the same dialogue act.

        Same act: the same tool calls, or, without tool calls, near-identical words once
        ids, numbers and e-mails are ignored.
        """
        (na, wa), (nb, wb) = self._signature(a), self._signature(b)
        if na != nb:
            return False
        if na:
            return True
        union = wa | wb
        return not union or len(wa & wb) / len(union) >= 0.6

    # ------------------------------------------------------------------ candidates
    def expert_reply(self, observation: Mapping[str, Any]) -> str:
        """The scripted expert's reply to ``observation``."""
        return self.expert.act(observation)

    def candidates(self, observation: Mapping[str, Any],
                   rng: np.random.Generator) -> CandidateSet:
        """The candidate set of ``observation``, shuffled with ``rng``."""
        if observation.get("turn") == 0:
            self.expert.reset()  # a new dialogue (experts may cache per-dialogue parsing)
        expert = self.expert_reply(observation)
        if "messages" not in observation:
            raise ConfigError("CandidateGenerator needs the env's obs['messages']; a wrapper "
                              "below it removed them")
        own = texts(observation["messages"], "assistant")
        user_lines = texts(observation["messages"], "user")
        n = self.k - 1
        kinds = self._allocate(n, rng)
        chosen: list[str] = []
        chosen_kinds: list[str] = []
        taken = {expert}

        def add(reply: str | None, kind: str) -> bool:
            if reply is None or reply in taken:
                return False
            taken.add(reply)
            chosen.append(reply)
            chosen_kinds.append(kind)
            return True

        for kind in kinds:
            for _ in range(8):
                if add(self._draw(kind, expert, own, user_lines, observation, rng), kind):
                    break
        # top up (a kind may have had nothing new to offer) from the other kinds
        for _ in range(4 * self.k):
            if len(chosen) >= n:
                break
            kind = self.distractors[int(rng.integers(len(self.distractors)))]
            add(self._draw(kind, expert, own, user_lines, observation, rng), kind)
        replies = [expert, *chosen]
        slot_kinds = ["expert", *chosen_kinds]
        # style carries no information: any non-degenerate candidate, the expert's
        # included, is reworded with the same probability (tool calls kept intact)
        seen = set(replies)
        for i, kd in enumerate(slot_kinds):
            if kd != "degenerate" and self.reword > 0 and rng.random() < self.reword:
                new = _reword_reply(replies[i], rng)
                if new not in seen:  # never two identical candidates
                    seen.add(new)
                    replies[i] = new
        while len(replies) < self.k:
            replies.append("")
            slot_kinds.append("padding")
        perm = rng.permutation(self.k)
        replies = [replies[i] for i in perm]
        slot_kinds = [slot_kinds[i] for i in perm]
        mask = np.array([kd != "padding" for kd in slot_kinds], dtype=bool)
        return CandidateSet(tuple(replies), tuple(slot_kinds), mask)

    def _allocate(self, n: int, rng: np.random.Generator) -> list[str]:
        kinds: list[str] = []
        if "paraphrase" in self.distractors and n >= 3:
            kinds.append("paraphrase")
        if "degenerate" in self.distractors and n >= 2:
            kinds.extend(["degenerate"] * (1 + int(n >= 4 and rng.random() < 0.5)))
        rest = [d for d in self.distractors if d == "other_state"] or list(self.distractors)
        while len(kinds) < n:
            kinds.append(rest[int(rng.integers(len(rest)))])
        return kinds[:n]

    def _other_state(self, expert: str, own: Sequence[str],
                     rng: np.random.Generator) -> str | None:
        source = list(own) if (own and rng.random() < 0.2) else self.pool
        if not source:
            source = list(own) or list(_STOCK)
        for _ in range(12):
            cand = source[int(rng.integers(len(source)))]
            if cand != expert and (self.same_act_distractors or not self.same_act(cand, expert)):
                return cand
        return None

    def _draw(self, kind: str, expert: str, own: Sequence[str], user_lines: Sequence[str],
              observation: Mapping[str, Any], rng: np.random.Generator) -> str | None:
        if kind == "other_state":
            return self._other_state(expert, own, rng)
        if kind == "paraphrase":
            parsed = self.tools.parse(expert) if self.tools else None
            if parsed is not None and parsed.calls and parsed.text:
                return parsed.text
            # the expert acts by speaking only: lip service of another state's action
            for _ in range(6):
                other = self._other_state(expert, own, rng)
                p = self.tools.parse(other) if (other and self.tools) else None
                if p is not None and p.calls and p.text:
                    return p.text
            return None
        # degenerate
        choice = int(rng.integers(5))
        if choice == 0 and user_lines:
            return user_lines[-1]
        if choice == 1:
            words = re.findall(r"[a-z]{4,}", (str(observation.get("context", ""))[:1500]
                                              + " " + " ".join(user_lines)).lower())
            words = list(dict.fromkeys(words))
            if words:
                idx = rng.permutation(len(words))[:14]
                return " ".join(words[int(i)] for i in idx) + "?"
        if choice == 2 and own:
            return own[-1]
        if choice == 3:
            return ""
        return _STOCK[int(rng.integers(len(_STOCK)))]


_POOLS: dict[tuple[Any, ...], tuple[str, ...]] = {}
_REWORD_SAFE: dict[tuple[Any, ...], bool] = {}


def _pool_env_factory(env: gym.Env) -> tuple[Callable[[], gym.Env], tuple[Any, ...]]:
    """How to make a fresh copy of ``env`` for expert roll-outs, and a cache key for it."""
    base = env.unwrapped
    spec = getattr(base, "spec", None)
    if spec is not None:
        return (lambda: gym.make(spec)), (spec.id, repr(sorted(spec.kwargs.items())))
    domain = base.domain
    return (lambda: type(base)(domain=domain)), (type(base), type(domain))


def _rollout_expert(env: gym.Env, expert: Any, seeds: range,
                    transform: Callable[[str], str] | None = None) -> tuple[list[str], float]:
    """Expert replies over ``seeds`` and the success rate.

    ``transform`` changes each reply before it is said (the recorded reply is unchanged).
    """
    replies: list[str] = []
    successes = 0
    for s in seeds:
        obs, _ = env.reset(seed=s)
        expert.reset()
        info: dict[str, Any] = {}
        for _ in range(50):
            reply = expert.act(obs)
            replies.append(reply)
            obs, _, terminated, truncated, info = env.step(
                transform(reply) if transform else reply)
            if terminated or truncated:
                break
        successes += bool(info.get("success", False))
    return replies, successes / max(len(seeds), 1)


def build_pool(env: gym.Env, *, episodes: int = 100, seed: int = POOL_SEED) -> tuple[str, ...]:
    """Distinct expert replies from ``episodes`` expert roll-outs on seeds ``seed, seed+1, ...``.

    The roll-outs run in a fresh copy of ``env`` (same id and ``gym.make`` arguments);
    the result is cached for the process.
    """
    if episodes < 1:
        raise ConfigError(f"pool_episodes must be >= 1, got {episodes}")
    factory, key = _pool_env_factory(env)
    key = (*key, int(episodes), int(seed))
    pool = _POOLS.get(key)
    if pool is None:
        fresh = factory()
        try:
            replies, _ = _rollout_expert(fresh, env.unwrapped.domain.make_expert(),
                                         range(seed, seed + episodes))
        finally:
            fresh.close()
        pool = _POOLS[key] = tuple(dict.fromkeys(replies))
    return pool


def rewording_is_safe(env: gym.Env, *, episodes: int = 40, seed: int = POOL_SEED,
                      tolerance: float = 0.05) -> bool:
    """Whether the env's user and expert still follow when every expert reply is reworded.

    Compares the expert's success rate with plain and with reworded replies (tool calls
    kept) on ``episodes`` pool seeds. Some experts track the dialogue by recognising
    their own exact wording; there, rewording the right candidate would change what it
    means, and ``CandidateGenerator(reword="auto")`` turns rewording off.
    """
    factory, key = _pool_env_factory(env)
    key = (*key, int(episodes), int(seed), float(tolerance))
    safe = _REWORD_SAFE.get(key)
    if safe is None:
        fresh = factory()
        try:
            expert = env.unwrapped.domain.make_expert()
            seeds = range(seed, seed + episodes)
            _, plain = _rollout_expert(fresh, expert, seeds)
            rng = np.random.default_rng(seed)
            _, reworded = _rollout_expert(fresh, expert, seeds,
                                          lambda r: _reword_reply(r, rng))
        finally:
            fresh.close()
        safe = _REWORD_SAFE[key] = reworded >= plain - tolerance
    return safe


def _as_index(action: Any, k: int) -> int:
    if isinstance(action, np.ndarray):
        if action.size != 1:
            raise InvalidAction(f"expected one candidate index, got an array of shape "
                                f"{action.shape}")
        action = action.reshape(()).item()
    if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
        raise TypeError(f"action must be an int candidate index in [0, {k}), got "
                        f"{type(action).__name__}: {action!r:.60}")
    if not 0 <= int(action) < k:
        raise InvalidAction(f"candidate index {int(action)} is out of range; expected 0 <= "
                            f"index < {k}")
    return int(action)


class CandidateActions(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """``Discrete(k)`` actions: each step, choose one of ``k`` candidate replies.

    The candidates (see :class:`CandidateGenerator`: the expert's reply among
    other-state, paraphrase and degenerate distractors, in a seeded random order) are
    part of the observation, ``observation["candidates"]`` (a tuple of ``k`` strings),
    so the agent sees what it chooses between. ``info["candidates"]`` repeats them and
    ``info["candidate_kinds"]`` labels each slot (for analysis; it is not observed).

    Slots that could not be filled (rare) hold an empty reply and are ``False`` in
    :meth:`action_masks`, which sb3-contrib's ``MaskablePPO`` reads; choosing one anyway
    plays the empty reply.

    The order of the candidates is drawn from an RNG seeded by ``reset(seed=...)``, so a
    seeded episode with the same actions is reproducible.

    Args:
        env: A dialog-gym env (possibly wrapped, e.g. by ``TimeLimit``).
        k: Number of candidates.
        distractors: Distractor kinds (see :data:`DISTRACTOR_KINDS`).
        same_act_distractors: See :class:`CandidateGenerator`.
        reword: Probability that a candidate is reworded, or ``"auto"`` (see
            :class:`CandidateGenerator`).
        pool_episodes: Expert roll-outs that fill the other-state pool.
        pool_seed: First seed of those roll-outs.
        generator: A ready :class:`CandidateGenerator` (overrides the arguments above;
            give each env its own, e.g. with :meth:`CandidateGenerator.clone`).
    """

    def __init__(self, env: gym.Env, k: int = 6, *,
                 distractors: Sequence[str] = DISTRACTOR_KINDS,
                 same_act_distractors: bool = False, reword: float | str = "auto",
                 pool_episodes: int = 100, pool_seed: int = POOL_SEED,
                 generator: CandidateGenerator | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, k=k, distractors=tuple(distractors), same_act_distractors=same_act_distractors,
            reword=reword, pool_episodes=pool_episodes, pool_seed=pool_seed,
            generator=generator)
        gym.Wrapper.__init__(self, env)
        if not isinstance(env.observation_space, spaces.Dict):
            raise ConfigError("CandidateActions wraps a dialog-gym env with Dict observations; "
                              f"got observation space {env.observation_space}")
        self.generator = generator or CandidateGenerator.for_env(
            env, k, distractors=distractors, same_act_distractors=same_act_distractors,
            reword=reword, pool_episodes=pool_episodes, pool_seed=pool_seed)
        self.k = self.generator.k
        max_chars = getattr(env.unwrapped, "max_reply_chars", 1000)
        self.action_space = spaces.Discrete(self.k)
        self.observation_space = spaces.Dict({
            **env.observation_space.spaces,
            "candidates": spaces.Tuple([UnicodeText(max_chars) for _ in range(self.k)]),
        })
        self._rng = np.random.default_rng()
        self._current: CandidateSet | None = None

    def _view(self, obs: Mapping[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        self._current = self.generator.candidates(obs, self._rng)
        info["candidates"] = list(self._current.replies)
        info["candidate_kinds"] = list(self._current.kinds)
        return {**obs, "candidates": self._current.replies}

    def reset(self, *, seed: int | None = None,
              options: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Reset the env and draw the first candidates (order seeded by ``seed``)."""
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self._rng = np.random.default_rng([int(seed), 0xCA])
        info = dict(info)
        return self._view(obs, info), info

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Play candidate ``action``; ``info["reply"]`` is the text that was sent."""
        if self._current is None:
            raise ResetNeeded("step() called before reset(); call env.reset() first")
        reply = self._current.replies[_as_index(action, self.k)]
        obs, reward, terminated, truncated, info = self.env.step(reply)
        info = dict(info)
        info["reply"] = reply
        return self._view(obs, info), reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """``k`` booleans: which candidates are real (for ``MaskablePPO``)."""
        if self._current is None:
            return np.ones(self.k, dtype=bool)
        return self._current.mask.copy()

    @property
    def current(self) -> CandidateSet | None:
        """The candidates of the latest observation."""
        return self._current


# ====================================================================== observation rows


def observation_rows(observation: Mapping[str, Any], history_lines: int,
                     n_candidates: int = 0) -> list[str]:
    r"""The texts an observation is encoded from, one per row (``""`` for an empty row).

    Rows, in order: the context; the history's first line (the user's opening request);
    the newest ``history_lines`` lines of the history, oldest first, empty where the
    dialogue is shorter; and ``n_candidates`` candidate replies (from
    :class:`CandidateActions`). Shared by :class:`ObservationEmbedder` and
    :class:`ObservationTokenizer`, so both views of a state line up.

    Example:
        >>> observation_rows({"context": "ctx", "history": "User: hi\nAgent: yo\nUser: ?"}, 2)
        ['ctx', 'User: hi', 'Agent: yo', 'User: ?']
    """
    lines = _lines(str(observation.get("history", "")))
    first = lines[0] if lines else ""
    tail = lines[-history_lines:]
    tail = [""] * (history_lines - len(tail)) + tail
    rows = [str(observation.get("context", "")), first, *tail]
    if n_candidates:
        cands = list(observation.get("candidates", ()))
        if len(cands) != n_candidates:
            raise ConfigError(f"expected {n_candidates} candidates in the observation, got "
                              f"{len(cands)}; wrap the env with CandidateActions(env, "
                              f"k={n_candidates})")
        rows.extend(str(c) for c in cands)
    return rows


def _rows_shape(history_lines: int, n_candidates: int, width: int) -> tuple[int, int]:
    return (2 + int(history_lines) + int(n_candidates), int(width))


def _n_candidates(space: gym.Space, wrapper: str) -> int:
    if not isinstance(space, spaces.Dict) or "history" not in space.spaces:
        raise ConfigError(f"{wrapper} wraps a dialog-gym env (Dict observation with 'context' "
                          f"and 'history'), optionally under CandidateActions; got {space}")
    cand = space.spaces.get("candidates")
    return len(cand.spaces) if isinstance(cand, spaces.Tuple) else 0


class _MaskForwarding:
    """``action_masks()`` of an observation wrapper comes from :class:`CandidateActions`."""

    env: gym.Env

    def action_masks(self) -> np.ndarray:
        """Forwarded from :class:`CandidateActions` (which must be inside this wrapper)."""
        inner = getattr(self.env, "action_masks", None)
        if not callable(inner):
            raise AttributeError("action_masks() needs CandidateActions inside this wrapper")
        return inner()


# ====================================================================== embeddings


class ObservationEmbedder:
    """Maps a dialog-gym observation to a ``(rows, dim)`` float32 array of sentence embeddings.

    Rows as in :func:`observation_rows`; an empty row is a zero vector. Each row is
    embedded on its own, so with the cache of :func:`dialog_gym.embedding.get_encoder`
    each line of a dialogue is encoded once.

    Args:
        history_lines: Number of newest history lines embedded.
        n_candidates: Number of candidate rows (0 without :class:`CandidateActions`).
        model: Sentence-transformers model (default: the embedded all-MiniLM-L6-v2).
    """

    def __init__(self, history_lines: int = 6, n_candidates: int = 0, *,
                 model: str | None = None) -> None:
        from dialog_gym.embedding import get_encoder

        if history_lines < 1:
            raise ConfigError(f"history_lines must be >= 1, got {history_lines}")
        self.history_lines = int(history_lines)
        self.n_candidates = int(n_candidates)
        self.model = model
        self.encoder = get_encoder(model)
        self.dim = self.encoder.dim

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of one embedded observation."""
        return _rows_shape(self.history_lines, self.n_candidates, self.dim)

    @property
    def space(self) -> spaces.Box:
        """The observation space of embedded observations."""
        return spaces.Box(-1.0, 1.0, shape=self.shape, dtype=np.float32)

    def __call__(self, observation: Mapping[str, Any]) -> np.ndarray:
        """The embedded observation."""
        return self.embed_batch([observation])[0]

    def embed_batch(self, observations: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Embed several observations with one encoder call."""
        flat = [t for o in observations
                for t in observation_rows(o, self.history_lines, self.n_candidates)]
        nonempty = [t for t in flat if t]
        vecs = self.encoder.encode(nonempty) if nonempty else np.zeros((0, self.dim),
                                                                        dtype=np.float32)
        out = np.zeros((len(flat), self.dim), dtype=np.float32)
        j = 0
        for i, t in enumerate(flat):
            if t:
                out[i] = vecs[j]
                j += 1
        return np.clip(out, -1.0, 1.0).reshape(len(observations), *self.shape)


class EmbeddingObservation(_MaskForwarding, gym.ObservationWrapper,
                           gym.utils.RecordConstructorArgs):
    """Observations become a ``Box(-1, 1, (rows, dim), float32)`` of sentence embeddings.

    Rows as in :func:`observation_rows` (context, opening line, newest lines, and the
    candidates when :class:`CandidateActions` is inside:
    ``EmbeddingObservation(CandidateActions(env, k))``, the stack SB3 can train on).
    ``action_masks()`` is forwarded. Embeddings come from the shared cached encoder of
    :mod:`dialog_gym.embedding` (about 10 ms per new sentence on one CPU core).

    Args:
        env: A dialog-gym env, optionally wrapped by :class:`CandidateActions`.
        history_lines: Number of newest history lines embedded.
        model: Sentence-transformers model (default: the embedded all-MiniLM-L6-v2).
    """

    def __init__(self, env: gym.Env, *, history_lines: int = 6,
                 model: str | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, history_lines=history_lines, model=model)
        gym.ObservationWrapper.__init__(self, env)
        n_cand = _n_candidates(env.observation_space, "EmbeddingObservation")
        self.embedder = ObservationEmbedder(history_lines, n_cand, model=model)
        self.observation_space = self.embedder.space

    def observation(self, observation: Mapping[str, Any]) -> np.ndarray:
        """Embed one observation."""
        return self.embedder(observation)


# ====================================================================== token ids


_TOKEN = re.compile(r"[a-z]+|\d+|[^\sa-z\d]", re.IGNORECASE)


class HashingTokenizer:
    """Words, numbers and punctuation mapped to ids by a stable hash (CRC-32).

    No vocabulary to fit or ship: the same text gets the same ids in every process.
    Id 0 is padding; ids ``1 .. vocab_size-1`` are hashed tokens (lower-cased).

    Args:
        vocab_size: Number of ids (including padding).

    Example:
        >>> tok = HashingTokenizer(1000)
        >>> ids = tok.encode("Where is order A1234?", 8)
        >>> ids.shape, int(ids[-1]) == 0, 0 < int(ids[0]) < 1000
        ((8,), True, True)
    """

    def __init__(self, vocab_size: int = 8192) -> None:
        if vocab_size < 2:
            raise ConfigError(f"vocab_size must be >= 2, got {vocab_size}")
        self.vocab_size = int(vocab_size)
        self._cache: dict[str, int] = {}

    def tokens(self, text: str) -> list[str]:
        """The tokens of ``text``."""
        return [t.lower() for t in _TOKEN.findall(text)]

    def token_id(self, token: str) -> int:
        """The id of one token."""
        i = self._cache.get(token)
        if i is None:
            i = 1 + zlib.crc32(token.encode("utf-8")) % (self.vocab_size - 1)
            if len(self._cache) < 200_000:
                self._cache[token] = i
        return i

    def encode(self, text: str, length: int, *, keep: str = "head") -> np.ndarray:
        """``length`` ids of ``text``, zero-padded; ``keep="tail"`` keeps the last tokens."""
        ids = [self.token_id(t) for t in self.tokens(text)]
        ids = ids[-length:] if keep == "tail" else ids[:length]
        out = np.zeros(length, dtype=np.int64)
        out[: len(ids)] = ids
        return out


class ObservationTokenizer:
    """Maps a dialog-gym observation to a ``(rows, max_tokens)`` int64 array of token ids.

    Rows as in :func:`observation_rows`; each row holds the first ``max_tokens`` ids of
    its text (a :class:`HashingTokenizer`), zero-padded.

    Args:
        history_lines: Number of newest history lines.
        n_candidates: Number of candidate rows (0 without :class:`CandidateActions`).
        vocab_size: Number of token ids.
        max_tokens: Tokens per row.
    """

    def __init__(self, history_lines: int = 6, n_candidates: int = 0, *,
                 vocab_size: int = 8192, max_tokens: int = 48) -> None:
        if history_lines < 1:
            raise ConfigError(f"history_lines must be >= 1, got {history_lines}")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
        self.history_lines = int(history_lines)
        self.n_candidates = int(n_candidates)
        self.tokenizer = HashingTokenizer(vocab_size)
        self.max_tokens = int(max_tokens)
        self._rows: dict[str, np.ndarray] = {}

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of one tokenised observation."""
        return _rows_shape(self.history_lines, self.n_candidates, self.max_tokens)

    @property
    def space(self) -> spaces.Box:
        """The observation space of tokenised observations."""
        return spaces.Box(0, self.tokenizer.vocab_size - 1, shape=self.shape, dtype=np.int64)

    def _row(self, text: str) -> np.ndarray:
        row = self._rows.get(text)
        if row is None:
            row = self.tokenizer.encode(text, self.max_tokens)
            if len(self._rows) >= 50_000:
                self._rows.clear()
            self._rows[text] = row
        return row

    def __call__(self, observation: Mapping[str, Any]) -> np.ndarray:
        """The token ids of one observation."""
        rows = observation_rows(observation, self.history_lines, self.n_candidates)
        return np.stack([self._row(t) for t in rows])


class TokenIdObservation(_MaskForwarding, gym.ObservationWrapper,
                         gym.utils.RecordConstructorArgs):
    """Observations become a ``Box(0, vocab_size-1, (rows, max_tokens), int64)`` of token ids.

    Rows as in :func:`observation_rows` (context, opening line, newest lines, and the
    candidates under :class:`CandidateActions`), each the hashed token ids of its text
    (:class:`HashingTokenizer`, 0 is padding): the input of an embedding layer of a small
    model trained from scratch. Well under a millisecond per step, where sentence
    embeddings cost tens of milliseconds on a CPU. ``action_masks()`` is forwarded.

    Args:
        env: A dialog-gym env, optionally wrapped by :class:`CandidateActions`.
        history_lines: Number of newest history lines.
        vocab_size: Number of token ids.
        max_tokens: Tokens per row.
    """

    def __init__(self, env: gym.Env, *, history_lines: int = 6, vocab_size: int = 8192,
                 max_tokens: int = 48) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, history_lines=history_lines,
                                                 vocab_size=vocab_size, max_tokens=max_tokens)
        gym.ObservationWrapper.__init__(self, env)
        n_cand = _n_candidates(env.observation_space, "TokenIdObservation")
        self.tokenizer = ObservationTokenizer(history_lines, n_cand, vocab_size=vocab_size,
                                              max_tokens=max_tokens)
        self.observation_space = self.tokenizer.space

    def observation(self, observation: Mapping[str, Any]) -> np.ndarray:
        """Token ids of one observation."""
        return self.tokenizer(observation)
