"""The conversation data model: :class:`Turn` and :class:`Dialogue`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

USER = "user"
AGENT = "agent"
SYSTEM = "system"

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Turn:
    """One utterance in a dialogue.

    Attributes:
        speaker: ``"user"``, ``"agent"`` or ``"system"`` (tool results and notices).
        text: What was said, exactly as the other side sees it.
        meta: Simulator-side labels (dialogue acts, slots, mood). Agents never see these
            unless an environment chooses to expose them.
    """

    speaker: str
    text: str
    meta: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"Turn.text must be str, got {type(self.text).__name__}")
        if not isinstance(self.meta, MappingProxyType):
            object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))


class Dialogue(Sequence[Turn]):
    """An append-only list of turns with the queries environments and scorers need.

    The rendered transcript is cached and extended incrementally, so rendering a long
    conversation at every step costs time proportional to the new turn only.
    """

    def __init__(
        self, turns: Sequence[Turn] = (), labels: Mapping[str, str] | None = None
    ) -> None:
        self._turns: list[Turn] = []
        self.labels = dict(labels or {USER: "User", AGENT: "Agent", SYSTEM: "System"})
        self._rendered: list[str] = []
        self._rendered_size = 0  # sum of len(line) + 1 over _rendered (see render)
        for t in turns:
            self.append(t)

    def append(self, turn: Turn) -> None:
        """Add a turn at the end."""
        self._turns.append(turn)
        line = f"{self.labels.get(turn.speaker, turn.speaker)}: {turn.text}"
        self._rendered.append(line)
        self._rendered_size += len(line) + 1

    def __getitem__(self, i):  # type: ignore[override]
        return self._turns[i]

    def __len__(self) -> int:
        return len(self._turns)

    def __iter__(self) -> Iterator[Turn]:
        return iter(self._turns)

    def __reversed__(self) -> Iterator[Turn]:
        # the list's own reverse iterator (Sequence's default indexes turn by turn)
        return reversed(self._turns)

    def by(self, speaker: str) -> list[Turn]:
        """All turns of one speaker, in order."""
        return [t for t in self._turns if t.speaker == speaker]

    def last(self, speaker: str | None = None) -> Turn | None:
        """The newest turn (of ``speaker`` if given), or None."""
        for t in reversed(self._turns):
            if speaker is None or t.speaker == speaker:
                return t
        return None

    def render(self, max_chars: int | None = None) -> str:
        """The transcript, one ``Label: text`` line per turn.

        With ``max_chars``, the oldest lines are dropped (and marked) so the result fits.
        """
        if max_chars is None or self._rendered_size <= max_chars - 32:
            # everything fits: the loop below would keep every line and cut nothing
            return "\n".join(self._rendered)
        out: list[str] = []
        size = 0
        for line in reversed(self._rendered):
            if size + len(line) + 1 > max_chars - 32:
                out.append("[... earlier turns omitted ...]")
                break
            out.append(line)
            size += len(line) + 1
        text = "\n".join(reversed(out))
        return text[-max_chars:]

    def __repr__(self) -> str:
        return f"Dialogue({len(self)} turns)"
