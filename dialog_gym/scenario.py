"""Scenarios and how they are drawn.

A :class:`Scenario` is everything fixed at the start of an episode: the context the
agent is shown, the simulated user's goal, the hidden world state (a domain database)
and the rules in force. Each domain has a seeded :class:`ScenarioGenerator` that maps an
integer index (and a difficulty level) to one scenario, deterministically: the space of
scenarios is unbounded and every one is reproducible from its id.

A :class:`ScenarioSampler` picks which index an episode uses. The three strategies are
the sample-selection schemes of the founding article: ``uniform`` (round-robin over an
unbounded stream), ``prioritized`` (importance sampling: low-return scenarios more often,
with an importance weight reported) and ``adversarial`` (the lowest recent return first).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dialog_gym.error import ConfigError, ScenarioError, did_you_mean

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Scenario:
    """One episode's fixed setup.

    Attributes:
        id: ``"<domain>/<index>/<difficulty>"``; :meth:`DialogueEnv.reset` accepts it back
            through ``options={"scenario_id": ...}``.
        domain: Domain name, e.g. ``"customer_service"``.
        context: What the agent is shown: topic, roles/persona, mood, policy, facts.
        goal: What the simulated user wants (hidden from the agent).
        references: Expert replies for reference-based scorers (may be empty; envs also
            supply a per-turn reference from their expert).
        rules: Ids of the rules that apply.
        world: Hidden mutable state the env copies at reset (e.g. a shop database).
        difficulty: Difficulty level the scenario was generated at.
    """

    id: str
    domain: str
    context: Mapping[str, Any]
    goal: Mapping[str, Any]
    references: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    world: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    difficulty: int = 0

    @property
    def index(self) -> int:
        """The generator index encoded in :attr:`id`."""
        return parse_scenario_id(self.id)[1]


def make_scenario_id(domain: str, index: int, difficulty: int) -> str:
    """Build the canonical id ``"<domain>/<index>/<difficulty>"``."""
    return f"{domain}/{index}/{difficulty}"


def parse_scenario_id(scenario_id: str) -> tuple[str, int, int]:
    """Split a canonical scenario id into ``(domain, index, difficulty)``.

    Raises:
        ScenarioError: if the id is not of the form ``"<domain>/<index>/<difficulty>"``.
    """
    parts = str(scenario_id).split("/")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise ScenarioError(
            f"Scenario id {scenario_id!r} is not of the form '<domain>/<index>/<difficulty>' "
            "(e.g. 'customer_service/42/1'); take ids from info['scenario_id']."
        )
    return parts[0], int(parts[1]), int(parts[2])


@runtime_checkable
class ScenarioGenerator(Protocol):
    """A seeded, unbounded source of scenarios for one domain."""

    domain: str
    difficulties: tuple[int, ...]

    def generate(self, index: int, difficulty: int) -> Scenario:
        """Scenario number ``index`` at ``difficulty`` (same inputs, same scenario)."""
        ...


# --------------------------------------------------------------------------- samplers


class ScenarioSampler:
    """Chooses the scenario index of each episode.

    Subclasses implement :meth:`sample`. All randomness comes from the ``rng`` passed in
    (the env's ``np_random``), so seeded resets stay reproducible.

    Args:
        pool_size: Number of distinct scenario indices drawn from (``None``: unbounded,
            only meaningful for ``uniform``).
    """

    name = "base"

    def __init__(self, pool_size: int | None = None) -> None:
        if pool_size is not None and pool_size < 1:
            raise ConfigError(f"pool_size must be >= 1 or None, got {pool_size}")
        self.pool_size = pool_size
        self.returns: dict[int, float] = {}
        self.counts: dict[int, int] = {}
        self.last_weight = 1.0

    def sample(self, rng: np.random.Generator) -> int:
        """Return the next scenario index."""
        raise NotImplementedError

    def update(self, index: int, episode_return: float, *, ema: float = 0.5) -> None:
        """Record an episode's return for scenario ``index`` (exponential moving average)."""
        if not math.isfinite(episode_return):
            return
        old = self.returns.get(index)
        self.returns[index] = (
            episode_return if old is None else (1 - ema) * old + ema * episode_return
        )
        self.counts[index] = self.counts.get(index, 0) + 1

    def _uniform(self, rng: np.random.Generator) -> int:
        hi = self.pool_size if self.pool_size is not None else 2**31 - 1
        return int(rng.integers(0, hi))

    def state_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of the sampler's statistics."""
        return {
            "name": self.name,
            "pool_size": self.pool_size,
            "returns": {str(k): v for k, v in self.returns.items()},
            "counts": {str(k): v for k, v in self.counts.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore statistics written by :meth:`state_dict`."""
        self.returns = {int(k): float(v) for k, v in state.get("returns", {}).items()}
        self.counts = {int(k): int(v) for k, v in state.get("counts", {}).items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pool_size={self.pool_size})"


class UniformSampler(ScenarioSampler):
    """Every index equally likely; with ``pool_size=None`` the stream is unbounded."""

    name = "uniform"

    def sample(self, rng: np.random.Generator) -> int:
        """Draw an index uniformly."""
        self.last_weight = 1.0
        return self._uniform(rng)


class PrioritizedSampler(ScenarioSampler):
    """Importance sampling: scenarios with low recent return are drawn more often.

    Priority of index ``i`` is ``(R_max - R_i + eps) ** alpha`` over the pool, where
    unseen indices take the largest priority (optimistic exploration). The importance
    weight ``1 / (N * p_i)`` of the drawn index is kept in :attr:`last_weight` and
    reported by the env as ``info["sampling_weight"]`` so learners can correct the bias.

    Args:
        pool_size: Size of the scenario pool.
        alpha: Sharpness of prioritisation (0 = uniform).
        eps: Floor added to every priority.
    """

    name = "prioritized"

    def __init__(self, pool_size: int = 256, alpha: float = 1.0, eps: float = 0.05) -> None:
        super().__init__(pool_size)
        if alpha < 0 or eps <= 0:
            raise ConfigError(f"need alpha >= 0 and eps > 0, got alpha={alpha}, eps={eps}")
        self.alpha = alpha
        self.eps = eps

    def probabilities(self) -> np.ndarray:
        """Current sampling distribution over the pool."""
        n = int(self.pool_size or 1)
        if not self.returns:
            return np.full(n, 1.0 / n)
        seen = np.array(list(self.returns.values()), dtype=np.float64)
        hi, lo = float(seen.max()), float(seen.min())
        pr = np.full(n, (hi - lo + self.eps) ** self.alpha)
        for i, r in self.returns.items():
            if i < n:
                pr[i] = (hi - r + self.eps) ** self.alpha
        return pr / pr.sum()

    def sample(self, rng: np.random.Generator) -> int:
        """Draw an index with probability proportional to its priority."""
        p = self.probabilities()
        i = int(rng.choice(len(p), p=p))
        self.last_weight = float(1.0 / (len(p) * p[i]))
        return i


class AdversarialSampler(ScenarioSampler):
    """The scenario with the lowest recent return first.

    With probability ``explore`` (or while fewer than ``warmup`` scenarios have been
    seen) an index is drawn uniformly, so new scenarios keep entering the pool.

    Args:
        pool_size: Size of the scenario pool.
        explore: Probability of a uniform draw.
        warmup: Number of distinct scenarios to see before exploiting.
    """

    name = "adversarial"

    def __init__(self, pool_size: int = 256, explore: float = 0.2, warmup: int = 8) -> None:
        super().__init__(pool_size)
        if not 0.0 <= explore <= 1.0:
            raise ConfigError(f"explore must lie in [0, 1], got {explore}")
        self.explore = explore
        self.warmup = warmup

    def sample(self, rng: np.random.Generator) -> int:
        """Return the hardest seen scenario, or a uniform draw to explore."""
        self.last_weight = 1.0
        if len(self.returns) < self.warmup or rng.random() < self.explore:
            return self._uniform(rng)
        worst = min(self.returns.values())
        ties = sorted(i for i, r in self.returns.items() if r == worst)
        return ties[int(rng.integers(len(ties)))]


SAMPLERS: dict[str, type[ScenarioSampler]] = {
    "uniform": UniformSampler,
    "prioritized": PrioritizedSampler,
    "adversarial": AdversarialSampler,
}


def make_sampler(spec: str | ScenarioSampler | None, **kwargs: Any) -> ScenarioSampler:
    """A sampler by name (``uniform``, ``prioritized``, ``adversarial``), or ``spec`` itself."""
    if spec is None:
        return UniformSampler(**kwargs)
    if isinstance(spec, ScenarioSampler):
        if kwargs:
            raise ConfigError("sampler keyword arguments are only accepted with a sampler name")
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            f"sampler must be a name or a ScenarioSampler, got {type(spec).__name__}"
        )
    try:
        cls = SAMPLERS[spec]
    except KeyError:
        raise ConfigError(
            f"Unknown sampler {spec!r}; expected one of {sorted(SAMPLERS)}."
            + did_you_mean(spec, SAMPLERS)
        ) from None
    return cls(**kwargs)
