"""Gymnasium spaces for free text.

``gymnasium.spaces.Text`` only admits a fixed character set (62 alphanumerics by
default). Dialogue is any Unicode, so :class:`UnicodeText` accepts every ``str`` up to a
length bound and samples printable text from a broad character set.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        # character_list is ordered; a set's order would change with PYTHONHASHSEED
        chars = self.np_random.choice(np.asarray(self.character_list), size=length)
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


# --- flattening and shared memory ------------------------------------------------------
# Gymnasium flattens Text as indices into its character set; any Unicode needs code
# points instead. These registrations make UnicodeText work with ``flatten``/``unflatten``
# and with AsyncVectorEnv's shared memory (``gym.make_vec(..., "async")``).

_PAD = -1
_MAX_CODE_POINT = 0x10FFFF


def _register_flattening() -> None:
    from gymnasium.spaces import utils as sutils
    from gymnasium.vector.utils import shared_memory as shm

    @sutils.flatten.register(UnicodeText)
    def _flatten(space: UnicodeText, x: str) -> np.ndarray:
        arr = np.full(space.max_length, _PAD, dtype=np.int32)
        codes = np.frombuffer(x.encode("utf-32-le"), dtype=np.uint32).astype(np.int32)
        arr[: len(codes)] = codes
        return arr

    @sutils.unflatten.register(UnicodeText)
    def _unflatten(space: UnicodeText, x: np.ndarray) -> str:
        codes = np.asarray(x, dtype=np.int32)
        codes = codes[codes >= 0]
        return codes.astype("<u4").tobytes().decode("utf-32-le")

    @sutils.flatten_space.register(UnicodeText)
    def _flatten_space(space: UnicodeText) -> spaces.Box:
        return spaces.Box(low=_PAD, high=_MAX_CODE_POINT, shape=(space.max_length,),
                          dtype=np.int32)

    @shm.write_to_shared_memory.register(UnicodeText)
    def _write(space: UnicodeText, index: int, values: str, shared_memory: Any) -> None:
        size = space.max_length
        dest = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)
        np.copyto(dest[index * size:(index + 1) * size], _flatten(space, values))

    @shm.read_from_shared_memory.register(UnicodeText)
    def _read(space: UnicodeText, shared_memory: Any, n: int = 1) -> SharedTextBatch:
        data = np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape(
            (n, space.max_length))
        return SharedTextBatch(data, lambda row: _unflatten(space, row))


class SharedTextBatch(Sequence[str]):
    """A live view of a batch of strings in AsyncVectorEnv's shared memory.

    Gymnasium reads shared memory once, at construction, expecting array views that
    change as workers write; strings are immutable, so this sequence decodes the current
    buffer on access instead. ``copy.deepcopy`` (what AsyncVectorEnv returns with its
    default ``copy=True``) gives a plain ``tuple`` of ``str``.
    """

    def __init__(self, data: np.ndarray, decode: Any) -> None:
        self._data = data
        self._decode = decode

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return tuple(self)[i]
        return self._decode(self._data[i])

    def __len__(self) -> int:
        return int(self._data.shape[0])

    def __deepcopy__(self, memo: dict[int, Any]) -> tuple[str, ...]:
        return tuple(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return f"SharedTextBatch({tuple(self)!r})"


_register_flattening()
