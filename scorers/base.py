"""The scorer contract: :class:`ScoreInput`, :class:`Scorer`, :class:`WeightedSum`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from dialog_gym.dialogue import Turn
from dialog_gym.error import ConfigError

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class ScoreInput:
    """Everything a scorer may look at for one reply.

    Attributes:
        context: The rendered scenario context the agent saw.
        history: The conversation before the reply (ends with the newest user turn).
        response: The agent's reply being scored.
        references: Reference replies (e.g. the domain expert's reply in this state).
        facts: Ground-truth facts of the scenario (ids, amounts, dates, statuses, names).
        signals: Environment-side per-turn signals for task-level scorers. Keys used by
            the built-ins: ``progress`` (increase of the goal-progress potential this
            turn, in [0, 1]), ``success`` (1.0 on the turn a task ends successfully),
            ``failure`` (1.0 on the turn the user gives up or a severe rule ends the
            episode), ``rule_penalty`` (sum of rule-violation penalties of this reply).
        analysis: The environment's analysis of the reply
            (:class:`dialog_gym.understanding.Analysis`), where an env made one.
        prior: Analyses of the agent's earlier replies in the episode, oldest first.
        messages: The conversation before the reply as chat messages (the env's
            ``obs["messages"]``; empty when the input was not made by an env).
        reply: The reply as the env recorded it: an assistant message with its
            ``tool_calls`` (``None`` when the input was not made by an env).
    """

    context: str = ""
    history: tuple[Turn, ...] = ()
    response: str = ""
    references: tuple[str, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    signals: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    analysis: Any = None
    prior: tuple[Any, ...] = ()
    messages: tuple[Mapping[str, Any], ...] = ()
    reply: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("context", "response"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(
                    f"ScoreInput.{name} must be str, got {type(value).__name__}: {value!r:.60}"
                )
        if isinstance(self.references, str):
            raise TypeError(
                "ScoreInput.references must be a sequence of str, got a single str; "
                "wrap it: references=(ref,)"
            )
        refs = tuple(self.references)
        for r in refs:
            if not isinstance(r, str):
                raise TypeError(
                    f"ScoreInput.references must contain str, got {type(r).__name__}"
                )
        object.__setattr__(self, "references", refs)
        hist = tuple(self.history)
        for t in hist:
            if not isinstance(t, Turn):
                raise TypeError(
                    f"ScoreInput.history must contain Turn objects, got {type(t).__name__}"
                )
        object.__setattr__(self, "history", hist)


class Scorer:
    """Base class of reward scorers: one float per input, higher is better.

    Subclasses set the class attributes and implement :meth:`_score`; :meth:`score`
    handles the empty batch and checks the output shape. Heavy models load lazily.

    Attributes:
        name: Registry name.
        range: ``(low, high)`` bounds of a single score (may be infinite).
        cost: ``"cheap"`` (pure Python, >1k items/s), ``"moderate"`` or ``"neural"``.
        citation: Where the metric comes from.
        uses_references: Whether the scorer reads ``references`` (environments only
            run their expert to produce per-turn references when some term needs them).
    """

    name: ClassVar[str] = "scorer"
    range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    cost: ClassVar[str] = "cheap"
    citation: ClassVar[str] = ""
    #: whether the scorer reads ``ScoreInput.references`` (envs then compute them)
    uses_references: ClassVar[bool] = False

    def score(self, batch: Sequence[ScoreInput]) -> np.ndarray:
        """Score a batch; returns a float64 array of ``len(batch)``."""
        batch = list(batch)
        for i, item in enumerate(batch):
            if not isinstance(item, ScoreInput):
                raise TypeError(
                    f"{type(self).__name__}.score expects a sequence of ScoreInput; "
                    f"item {i} is {type(item).__name__}"
                )
        if not batch:
            return np.zeros(0, dtype=np.float64)
        out = np.asarray(self._score(batch), dtype=np.float64)
        if out.shape != (len(batch),):
            raise RuntimeError(
                f"{type(self).__name__}._score returned shape {out.shape}, "
                f"expected ({len(batch)},)"
            )
        return out

    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        raise NotImplementedError

    def _score_one(self, item: ScoreInput) -> float:
        """``float(self.score([item])[0])``.

        A scorer whose :meth:`_score` computes each item on its own may override this
        with the per-item computation (and build :meth:`_score` from it), so that a
        single environment scores its reply without numpy arrays of one item. The
        override is used only where it cannot bypass a subclass's own ``_score`` or
        ``score`` (see :func:`_score_single`).
        """
        return float(self.score([item])[0])

    def __call__(self, response: str, *, references: Sequence[str] = (), context: str = "",
                 history: Sequence[Turn] = (), facts: Mapping[str, Any] | None = None,
                 signals: Mapping[str, float] | None = None) -> float:
        """Score a single reply (convenience wrapper around :meth:`score`)."""
        item = ScoreInput(context=context, history=tuple(history), response=response,
                          references=tuple(references), facts=facts or {},
                          signals=signals or {})
        return float(self.score([item])[0])

    def signature(self) -> str:
        """A reproducibility string: name, settings and library versions."""
        return f"{self.name}"

    def normalize(self, values: np.ndarray) -> np.ndarray:
        """Map scores from :attr:`range` to [0, 1] (identity for unbounded ranges)."""
        lo, hi = self.range
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
            return values
        return (values - lo) / (hi - lo)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _owner(cls: type, name: str) -> type | None:
    return next((c for c in cls.__mro__ if name in c.__dict__), None)


_ONE_OK: dict[type, bool] = {}


def _score_single(scorer: Scorer, item: ScoreInput) -> float:
    """``float(scorer.score([item])[0])``, through ``scorer._score_one`` where it is exact.

    ``_score_one`` stands for ``score`` only when the class that defines it also defines
    (or inherits below ``Scorer``) the ``_score`` in use and ``score`` is ``Scorer``'s:
    a subclass that overrides ``_score`` or ``score`` alone goes through ``score``.
    """
    cls = type(scorer)
    ok = _ONE_OK.get(cls)
    if ok is None:
        one, batch = _owner(cls, "_score_one"), _owner(cls, "_score")
        ok = (one is not Scorer and batch is not None and issubclass(one, batch)
              and _owner(cls, "score") is Scorer)
        _ONE_OK[cls] = ok
    return scorer._score_one(item) if ok else float(scorer.score([item])[0])


class WeightedSum(Scorer):
    """A weighted combination of scorers.

    Args:
        terms: Scorer name -> weight (scorers built with :func:`make_scorer`), or name ->
            ``{"weight": w, **kwargs}`` to pass constructor arguments (e.g.
            ``{"rouge": {"weight": 1.0, "variant": "rouge2"}}``), or a sequence of
            ``(Scorer, weight)`` pairs.
        normalize: Map each term to [0, 1] through its declared range before weighting.

    Example:
        >>> from dialog_gym.scorers import WeightedSum, ScoreInput
        >>> mix = WeightedSum({"bleu": 1.0, "rule_compliance": 0.5})
        >>> ref = "your order has shipped"
        >>> x = ScoreInput(response=ref, references=(ref,))
        >>> round(float(mix.score([x])[0]), 3)
        1.0
    """

    name = "weighted_sum"
    range = (-math.inf, math.inf)

    def __init__(self, terms: Mapping[str, float] | Sequence[tuple[Scorer, float]],
                 *, normalize: bool = False) -> None:
        from dialog_gym.scorers import make_scorer

        pairs: list[tuple[str, Scorer, float]] = []
        if isinstance(terms, Mapping):
            for key, w in terms.items():
                if isinstance(key, Scorer):
                    pairs.append((key.name, key, float(w)))
                elif isinstance(w, Mapping):
                    kw = dict(w)
                    if "weight" not in kw:
                        raise ConfigError(
                            f"term {key!r}: a dict value needs a 'weight', e.g. "
                            f"{{{key!r}: {{'weight': 1.0, ...}}}}, got {dict(w)}"
                        )
                    weight = kw.pop("weight")
                    pairs.append((key, make_scorer(key, **kw), float(weight)))
                else:
                    pairs.append((key, make_scorer(key), float(w)))
        else:
            for s, w in terms:
                if not isinstance(s, Scorer):
                    raise TypeError(f"expected (Scorer, weight) pairs, got {type(s).__name__}")
                pairs.append((s.name, s, float(w)))
        if not pairs:
            raise ConfigError("WeightedSum needs at least one term, e.g. {'bleu': 1.0}")
        names = [n for n, _, _ in pairs]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate scorer names in WeightedSum: {names}")
        for n, _, w in pairs:
            if not math.isfinite(w):
                raise ConfigError(f"weight of {n!r} must be finite, got {w}")
        self.terms = pairs
        self.normalize_terms = normalize

    @property
    def weights(self) -> dict[str, float]:
        """Scorer name -> weight."""
        return {n: w for n, _, w in self.terms}

    def score_terms(self, batch: Sequence[ScoreInput]) -> dict[str, np.ndarray]:
        """Each term's raw scores (before weighting, after optional normalisation)."""
        batch = list(batch)
        out = {}
        for n, s, _ in self.terms:
            v = s.score(batch)
            out[n] = s.normalize(v) if self.normalize_terms else v
        return out

    def _score_terms_single(self, item: ScoreInput) -> dict[str, float]:
        """:meth:`score_terms` of a batch of one, as floats (``{name: v[0]}``)."""
        if self.normalize_terms or _owner(type(self), "score_terms") is not WeightedSum:
            return {n: float(v[0]) for n, v in self.score_terms([item]).items()}
        return {n: _score_single(s, item) for n, s, _ in self.terms}

    def combine(self, terms: Mapping[str, np.ndarray]) -> np.ndarray:
        """Weighted sum of per-term arrays from :meth:`score_terms`."""
        total = None
        for n, _, w in self.terms:
            total = w * terms[n] if total is None else total + w * terms[n]
        assert total is not None
        return total

    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        return self.combine(self.score_terms(batch))

    def signature(self) -> str:
        """Signatures of the terms with their weights."""
        inner = " + ".join(f"{w:g}*[{s.signature()}]" for _, s, w in self.terms)
        return f"weighted_sum(normalize={self.normalize_terms}): {inner}"

    def __repr__(self) -> str:
        return f"WeightedSum({self.weights}, normalize={self.normalize_terms})"
