"""Reward scorers and their registry.

Every scorer maps a batch of :class:`ScoreInput` to one float per input (higher is
better, range documented on the class). Scorers are built by name with
:func:`make_scorer`; third-party packages add their own through the entry-point group
``dialog_gym.scorers`` (``name = "pkg.module:Factory"``) or at run time with
:func:`register_scorer`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from dialog_gym.registry import Registry
from dialog_gym.scorers.base import ScoreInput, Scorer, WeightedSum

__all__ = [
    "ScoreInput",
    "Scorer",
    "WeightedSum",
    "make_scorer",
    "list_scorers",
    "register_scorer",
    "scorer_registry",
]

scorer_registry: Registry[Scorer] = Registry("scorer", "dialog_gym.scorers")

_BUILTINS = {
    "task_success": "dialog_gym.scorers.task:TaskSuccess",
    "rule_compliance": "dialog_gym.scorers.task:RuleCompliance",
    "bleu": "dialog_gym.scorers.bleu:BLEU",
    "rouge": "dialog_gym.scorers.rouge:ROUGE",
    "token_f1": "dialog_gym.scorers.token_f1:TokenF1",
    "semantic": "dialog_gym.scorers.semantic:Semantic",
    "emotion_consistency": "dialog_gym.scorers.emotion:EmotionConsistency",
    "logic_consistency": "dialog_gym.scorers.logic:LogicConsistency",
    "repetition": "dialog_gym.scorers.repetition:Repetition",
    "length": "dialog_gym.scorers.length:Length",
    "reward_model": "dialog_gym.scorers.reward_model:RewardModel",
}
for _name, _target in _BUILTINS.items():
    scorer_registry.register(_name, _target)

F = TypeVar("F", bound=Callable[..., Any])


def make_scorer(name: str, **kwargs: Any) -> Scorer:
    """Build the scorer registered as ``name`` with constructor ``kwargs``.

    Raises:
        dialog_gym.error.RegistryError: unknown name (a close match is suggested).
        dialog_gym.error.PluginError: a plugin scorer failed to import.
    """
    scorer = scorer_registry.make(name, **kwargs)
    if not isinstance(scorer, Scorer):
        raise TypeError(
            f"scorer factory {name!r} returned {type(scorer).__name__}, expected a Scorer"
        )
    return scorer


def list_scorers(*, check: bool = False) -> list[str]:
    """Names of all registered scorers (built-ins and plugins), sorted."""
    return scorer_registry.names(check=check)


def register_scorer(name: str) -> Callable[[F], F]:
    """Class decorator: ``@register_scorer("my_metric")`` makes it available by name."""
    return scorer_registry.decorator(name)
