"""A scripted answering-machine detector for unit tests of the call session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Decision:
    kind: str
    at: float
    reason: str = "scripted"


@dataclass(frozen=True)
class BeepHeard:
    at: float


class ScriptedDetector:
    """Emits `events` (time, event) once `feed` reaches their time; cue phrases -> machine."""

    def __init__(self, events: list[tuple[float, Any]], cues: tuple[str, ...] = ()):
        self.events = sorted(events, key=lambda e: e[0])
        self.cues = cues
        self.started: float | None = None
        self.transcripts: list[str] = []

    def start(self, now: float) -> None:
        self.started = now

    def feed(self, pcm: bytes, now: float) -> list[Any]:
        due = [e for t, e in self.events if t <= now]
        self.events = [(t, e) for t, e in self.events if t > now]
        return due

    def transcript(self, text: str, now: float) -> list[Any]:
        self.transcripts.append(text)
        if any(cue in text.lower() for cue in self.cues):
            return [Decision("machine", now, "cue")]
        return []
