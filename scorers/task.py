"""Task-level scorers that read the environment's per-turn signals.

These scorers do not look at wording: they turn what the environment observed (goal
progress, the end of the task, rule violations) into reward terms. Because the progress
signal is the increase of a bounded, monotone potential, its sum over an episode is at
most 1: it cannot be farmed by talking longer.
"""

from __future__ import annotations

import numpy as np

from dialog_gym.scorers.base import ScoreInput, Scorer


class TaskSuccess(Scorer):
    """Goal progress plus a terminal success bonus and failure penalty.

    ``score = progress + success_bonus * success - failure_penalty * failure`` with the
    signals of :class:`ScoreInput`. Over an episode the progress terms sum to the final
    goal-progress potential (0..1), so an episode's total lies in
    ``[-failure_penalty, 1 + success_bonus]``.

    Range: ``[-failure_penalty, 1 + success_bonus]`` per turn. Cost: cheap.

    Args:
        success_bonus: Reward on the turn the task ends successfully.
        failure_penalty: Penalty on the turn the user gives up or a severe rule ends it.

    Example:
        >>> s = TaskSuccess()
        >>> s("ok", signals={"progress": 0.25})
        0.25
        >>> s("done", signals={"progress": 0.25, "success": 1.0})
        1.25
    """

    name = "task_success"
    range = (-0.5, 2.0)
    cost = "cheap"
    citation = ("potential-based shaping: Ng, Harada & Russell (1999); "
                "tau-bench success (Yao et al., 2024)")

    def __init__(self, success_bonus: float = 1.0, failure_penalty: float = 0.5) -> None:
        self.success_bonus = float(success_bonus)
        self.failure_penalty = float(failure_penalty)
        self.range = (-self.failure_penalty, 1.0 + self.success_bonus)  # type: ignore[misc]

    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        return np.array([self._score_one(x) for x in batch], dtype=np.float64)

    def _score_one(self, item: ScoreInput) -> float:
        sig = item.signals
        return (
            float(sig.get("progress", 0.0))
            + self.success_bonus * float(sig.get("success", 0.0))
            - self.failure_penalty * float(sig.get("failure", 0.0))
        )

    def signature(self) -> str:
        """Name and bonus/penalty settings."""
        return f"task_success(bonus={self.success_bonus:g},fail={self.failure_penalty:g})"


class RuleCompliance(Scorer):
    """Minus the rule-violation penalties of the reply, clipped to [-1, 0].

    A compliant reply scores 0, never a positive amount, so compliance alone cannot be
    farmed by talking more; violations cost what their rule declares.

    Range: ``[-1, 0]``. Cost: cheap (the env's RuleBook already ran).

    Example:
        >>> RuleCompliance()("fine", signals={"rule_penalty": 0.3})
        -0.3
        >>> RuleCompliance()("fine")
        0.0
    """

    name = "rule_compliance"
    range = (-1.0, 0.0)
    cost = "cheap"
    citation = "dialog-gym RuleBook (dialog_gym.rules)"

    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        return np.array([self._score_one(x) for x in batch], dtype=np.float64)

    def _score_one(self, item: ScoreInput) -> float:
        pen = float(item.signals.get("rule_penalty", 0.0))
        # the clip to [0, 1] in Python floats: the same value as np.clip / np.minimum and
        # np.maximum (also for -0.0 and NaN), without numpy's cost on tiny batches
        return 0.0 - min(max(pen, 0.0), 1.0)
