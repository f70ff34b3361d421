"""Length: is the reply inside a target band of words (or characters)?"""

from __future__ import annotations

import numpy as np

from dialog_gym.error import ConfigError
from dialog_gym.scorers.base import ScoreInput, Scorer
from dialog_gym.text import tokens_cjk


class Length(Scorer):
    """1 inside the target band, falling off outside it.

    With ``n`` the reply's length: ``n / low`` below the band (0 for an empty reply),
    1 for ``low <= n <= high``, and ``high / n`` above it (0.5 at twice the upper
    bound). Lengths count Unicode words, one per CJK character (``unit="tokens"``), or
    characters (``unit="chars"``).

    **Rewards** replies of a useful length: not empty or curt, not rambling.

    Known failure modes: says nothing about content; padding a short reply with filler
    words raises its score.

    Range: [0, 1]. Cost: cheap (~100k items/s).

    Args:
        low: Shortest length that scores 1.
        high: Longest length that scores 1.
        unit: ``"tokens"`` or ``"chars"``.

    Example:
        >>> s = Length(low=4, high=8)
        >>> s("Your order has shipped today.")
        1.0
        >>> s("Shipped.")
        0.25
        >>> s(" ".join(["word"] * 16))
        0.5
    """

    name = "length"
    range = (0.0, 1.0)
    cost = "cheap"
    citation = "length control reward, e.g. Kikuchi et al. (2016); Singhal et al. (2023)"

    def __init__(self, low: int = 5, high: int = 60, unit: str = "tokens") -> None:
        if unit not in ("tokens", "chars"):
            raise ConfigError(f"unknown unit={unit!r}; expected 'tokens' or 'chars'")
        if not (isinstance(low, int) and isinstance(high, int)) or not 1 <= low <= high:
            raise ConfigError(
                f"expected ints with 1 <= low <= high, got low={low!r}, high={high!r}")
        self.low = low
        self.high = high
        self.unit = unit

    def length(self, text: str) -> int:
        """Length of ``text`` in :attr:`unit`."""
        return len(tokens_cjk(text)) if self.unit == "tokens" else len(text.strip())

    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        n = np.array([self.length(x.response) for x in batch], dtype=np.float64)
        below = n / self.low
        above = self.high / np.maximum(n, 1.0)
        return np.where(n < self.low, below, np.where(n > self.high, above, 1.0))

    def signature(self) -> str:
        """Band and unit."""
        return f"length[{self.low}-{self.high} {self.unit}]"

    def __repr__(self) -> str:
        return f"Length(low={self.low}, high={self.high}, unit={self.unit!r})"
