"""The transcript every engine returns: timed words in one language."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    """One recognised word (or punctuation already attached to it), times in seconds from the start."""

    text: str
    start: float
    end: float
    confidence: float | None = None


@dataclass(frozen=True)
class Transcript:
    """What an engine heard: the words in order, their language and which engine produced them."""

    language: str
    words: tuple[Word, ...]
    engine: str
    duration: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (stored in the library beside the captions, and passed through XCom)."""
        return {**asdict(self), "words": [asdict(w) for w in self.words]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        return cls(
            language=data["language"],
            words=tuple(Word(**w) for w in data["words"]),
            engine=data["engine"],
            duration=data.get("duration"),
            details=dict(data.get("details") or {}),
        )
