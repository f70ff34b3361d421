"""Gymnasium spaces for free text and chat messages.

``gymnasium.spaces.Text`` only admits a fixed character set (62 alphanumerics by
default). Dialogue is any Unicode, so :class:`UnicodeText` accepts every ``str`` up to a
length bound and samples printable text from a broad character set.
:class:`ChatMessages` holds a conversation as OpenAI chat-message dicts
(:mod:`dialog_gym.messages`).
"""

from __future__ import annotations

import json
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


class ChatMessages(spaces.Space[list]):
    """A list of OpenAI chat-message dicts (see :mod:`dialog_gym.messages`).

    ``contains`` checks the structure (roles, string contents, tool-call ids). Flattened
    and in AsyncVectorEnv's shared memory, a list is its JSON text, at most
    ``max_json_chars`` characters.

    Args:
        max_json_chars: Longest JSON encoding kept in shared memory or flattened.
        seed: Seed of the sampling RNG.
    """

    def __init__(self, max_json_chars: int = 65536, *, seed: int | None = None) -> None:
        super().__init__(None, None, seed)
        self.max_json_chars = max_json_chars
        self._text = UnicodeText(max_json_chars)

    @property
    def is_np_flattenable(self) -> bool:
        """Flattens to the code points of its JSON text."""
        return True

    def contains(self, x: Any) -> bool:
        """True for a well-formed list of chat messages."""
        from dialog_gym.messages import validate

        return validate(x) is None

    def sample(self, mask: Any = None, probability: Any = None) -> list[dict[str, Any]]:
        """A system message and a user message of random printable text."""
        words = UnicodeText(80, seed=int(self.np_random.integers(2**31)))
        return [{"role": "system", "content": words.sample(), "source": "env"},
                {"role": "user", "content": words.sample(), "source": "user_simulator"}]

    def to_json(self, x: list[dict[str, Any]]) -> str:
        """The JSON text of a message list (raises if over ``max_json_chars``)."""
        text = json.dumps(x, ensure_ascii=False)
        if len(text) > self.max_json_chars:
            raise ValueError(
                f"the messages take {len(text)} JSON characters, more than this space's "
                f"max_json_chars={self.max_json_chars}; make the env with a larger "
                "max_messages_chars")
        return text

    def __repr__(self) -> str:
        return f"ChatMessages({self.max_json_chars})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, ChatMessages) and self.max_json_chars == other.max_json_chars

    def __hash__(self) -> int:
        return hash((type(self), self.max_json_chars))


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


    @sutils.flatten.register(ChatMessages)
    def _flatten_messages(space: ChatMessages, x: list) -> np.ndarray:
        return _flatten(space._text, space.to_json(x))

    @sutils.unflatten.register(ChatMessages)
    def _unflatten_messages(space: ChatMessages, x: np.ndarray) -> list:
        return json.loads(_unflatten(space._text, x))

    @sutils.flatten_space.register(ChatMessages)
    def _flatten_messages_space(space: ChatMessages) -> spaces.Box:
        return _flatten_space(space._text)

    @sutils.flatdim.register(ChatMessages)
    def _flatdim_messages(space: ChatMessages) -> int:
        # a Dict observation space unflattens its parts by their flat sizes
        return space.max_json_chars

    @shm.create_shared_memory.register(ChatMessages)
    def _create_messages(space: ChatMessages, n: int = 1, ctx: Any = None) -> Any:
        if ctx is None:
            return shm.create_shared_memory(space._text, n=n)
        return shm.create_shared_memory(space._text, n=n, ctx=ctx)

    @shm.write_to_shared_memory.register(ChatMessages)
    def _write_messages(space: ChatMessages, index: int, values: list,
                        shared_memory: Any) -> None:
        _write(space._text, index, space.to_json(values), shared_memory)

    @shm.read_from_shared_memory.register(ChatMessages)
    def _read_messages(space: ChatMessages, shared_memory: Any, n: int = 1
                       ) -> SharedTextBatch:
        data = np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape(
            (n, space.max_json_chars))
        return SharedTextBatch(data, lambda row: json.loads(_unflatten(space._text, row)))

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
