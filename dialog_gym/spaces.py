"""Gymnasium spaces for free text.

``gymnasium.spaces.Text`` only admits a fixed character set (62 alphanumerics by
default). Dialogue is any Unicode, so :class:`UnicodeText` accepts every ``str`` up to a
length bound and samples printable text from a broad character set.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

# Printable ASCII plus Latin-1 letters, Greek, Cyrillic, CJK and emoji samples: the
# character set used for *sampling*. ``contains`` accepts any Unicode regardless.
_SAMPLE_CHARSET = (
    " abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-:;$#@()[]=\"/"
    "àáâäçèéêëíïñóôöúüßÆØÅæøå"
    "αβγδεζηθλμπσφω"
    "абвгдежзийклмнопрст"
    "你好谢谢订单退款"
    "😀🙂😡📦"
)


class UnicodeText(spaces.Text):
    """A text space that contains every ``str`` of at most ``max_length`` characters.

    Args:
        max_length: Longest string the space contains.
        min_length: Shortest string the space contains.
        seed: Seed of the sampling RNG.

    Example:
        >>> space = UnicodeText(20)
        >>> "Grüße, 你好!" in space
        True
        >>> "x" * 21 in space
        False
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | None = None):
        super().__init__(
            max_length=max_length, min_length=min_length, charset=_SAMPLE_CHARSET, seed=seed
        )

    def contains(self, x: Any) -> bool:
        """Return True for any ``str`` whose length lies in ``[min_length, max_length]``."""
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """Sample a short printable string (words of random characters)."""
        if mask is not None or probability is not None:
            return super().sample(mask=mask, probability=probability)
        hi = min(self.max_length, 80)
        length = int(self.np_random.integers(self.min_length, hi + 1))
        chars = self.np_random.choice(np.asarray(list(self.character_set)), size=length)
        return "".join(chars.tolist())

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, UnicodeText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    def __hash__(self) -> int:
        return hash((type(self), self.min_length, self.max_length))
