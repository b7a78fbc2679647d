"""A recorded call of a human agent brought in as a call record, so quality rules inspect it.

    channels, rate = read_wav_channels("call.wav", rate=16000)
    spans = conversation(channels, rate)                  # the VAD only: no I/O, no model
    turns = transcribe(spans, channels, rate, recognizer, language="en")
    call_id = store_recording(store, "call.wav", turns, started_at=..., duration=...)

The recording is stereo, one side per channel: the **agent on the left** channel (channel 1),
the caller on the right (channel 2), as call recorders that keep the two legs apart write them
(`agent_channel="right"` when a recorder writes them the other way). A mono file cannot tell
the sides apart and is refused.

Each channel is split into utterances by the project's VAD (voicebot/speech/vad.py: webrtcvad
with its noise gate and hysteresis) on 20 ms frames: speech segments closer than `PAUSE`
(0.8 s, the listener's end-of-utterance wait for an incomplete answer) are one utterance,
shorter than `MIN_SPEECH` (0.2 s) are dropped as clicks, and one longer than `MAX_SPEECH`
(25 s, inside Whisper's 30 s window) is cut there. The turns of both sides are put in order of
their start; each turn's `latency_ms` is the silence on the line before it (since the end of
the turn before, on either side; None when it starts before that one ends), so `silence`
rules read dead air the way they read a bot's reply time, and a caller turn that starts while
the agent speaks is marked `barge_in` (the caller talked over the agent). Each utterance is
transcribed with free text by the recogniser of the call's language (tiny.en for English,
Whisper base forced to Mandarin for zh: voicebot/speech/languages.py). The agent's turns are
stored as `who: agent`, which quality rules read as the service's side, as they read the bot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from voicebot.audio.frames import bytes_per_frame
from voicebot.call.records import CallStore, TurnRecord
from voicebot.dialog.expectation import FREE_TEXT
from voicebot.errors import VoicebotError
from voicebot.speech.recognizer import Recognizer, to_model_audio
from voicebot.speech.vad import Vad

PAUSE = 0.8  # seconds of silence that end an utterance
MIN_SPEECH = 0.2  # shorter speech is a click, not a turn
MAX_SPEECH = 25.0  # longer utterances are cut (Whisper decodes 30 s at most)
PAD = 0.2  # seconds of audio kept around an utterance for the recogniser
FRAME = 0.02

Side = Literal["agent", "caller"]


@dataclass(frozen=True)
class Span:
    """One utterance of one side: from `start` to `end` seconds into the recording."""

    who: Side
    start: float
    end: float


@dataclass(frozen=True)
class Turn:
    who: Side
    start: float
    end: float
    text: str
    confidence: float
    latency_ms: float | None  # silence on the line before it
    barge_in: bool  # a caller turn begun while the agent spoke


def speech_spans(pcm: bytes, rate: int, who: Side) -> list[Span]:
    """The utterances of one channel (PCM16 mono at 8/16 kHz), by the VAD (module doc)."""
    vad = Vad()
    size = bytes_per_frame(rate)
    segments: list[list[float]] = []
    start: float | None = None
    for i in range(len(pcm) // size):
        end = (i + 1) * FRAME
        change = vad.process(pcm[i * size : (i + 1) * size], rate, end)
        if change is not None and change.speaking:
            start = change.at
        elif change is not None and start is not None:
            segments.append([start, change.at])
            start = None
    if start is not None:
        segments.append([start, len(pcm) // size * FRAME])
    merged: list[list[float]] = []
    for seg in segments:
        if merged and seg[0] - merged[-1][1] < PAUSE:
            merged[-1][1] = seg[1]
        else:
            merged.append(seg)
    spans = []
    for s, e in merged:
        if e - s < MIN_SPEECH:
            continue
        while e - s > MAX_SPEECH:
            spans.append(Span(who, s, s + MAX_SPEECH))
            s += MAX_SPEECH
        spans.append(Span(who, s, e))
    return spans


def conversation(channels: Sequence[bytes], rate: int, agent_channel: str = "left") -> list[Span]:
    """Both sides' utterances in order of their start (left channel = agent by default)."""
    if len(channels) != 2:
        raise VoicebotError(
            f"a recording of an agent's call needs two channels, one per side (this one has "
            f"{len(channels)}): the agent on the left, the caller on the right"
        )
    agent, caller = channels if agent_channel == "left" else tuple(reversed(channels))
    spans = speech_spans(agent, rate, "agent") + speech_spans(caller, rate, "caller")
    return sorted(spans, key=lambda s: (s.start, s.who))


def transcribe(
    spans: Sequence[Span],
    channels: Sequence[bytes],
    rate: int,
    recognizer: Recognizer,
    *,
    language: str = "en",
    agent_channel: str = "left",
) -> list[Turn]:
    """Each utterance transcribed on its own channel, with the silences and overlaps between."""
    left_is_agent = agent_channel == "left"
    by_side = {
        "agent": channels[0 if left_is_agent else 1],
        "caller": channels[1 if left_is_agent else 0],
    }
    expect = replace(FREE_TEXT, language=language)
    turns: list[Turn] = []
    line_free_at = 0.0  # when the last turn so far ended
    agent_until = 0.0  # when the agent's latest turn ends
    for span in spans:
        pcm = by_side[span.who]
        a = max(0, int((span.start - PAD) * rate)) * 2
        b = min(len(pcm), int((span.end + PAD) * rate) * 2)
        result = recognizer.final(to_model_audio(pcm[a:b], rate), expect, stream=span.who)
        gap = span.start - line_free_at
        turns.append(
            Turn(
                span.who,
                span.start,
                span.end,
                result.text,
                result.confidence,
                round(gap * 1000.0) if turns and gap >= 0 else None,
                span.who == "caller" and span.start < agent_until,
            )
        )
        line_free_at = max(line_free_at, span.end)
        if span.who == "agent":
            agent_until = max(agent_until, span.end)
    return turns


def recording_id(path: str | Path) -> str:
    """A call id from the file's content: the same recording is brought in once."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return f"rec-{digest[:16]}"


def store_recording(
    store: CallStore,
    path: str | Path,
    turns: Sequence[Turn],
    *,
    started_at: datetime,
    duration: float,
    direction: str = "inbound",
) -> str:
    """Keep the transcribed call as a call record (agent turns `who: agent`); its id."""
    call_id = recording_id(path)
    if store.get(call_id) is not None:
        raise VoicebotError(
            f"{path} was brought in already as call {call_id} (voicebot calls show {call_id})"
        )
    store.call_started(call_id, direction=direction, worker="recording", at=started_at)
    store.call_answered(call_id, at=started_at)
    for t in turns:
        store.add_turn(
            call_id,
            TurnRecord(
                t.who,
                t.text,
                confidence=t.confidence,
                latency_ms=t.latency_ms,
                at=started_at + timedelta(seconds=t.start),
                barge_in=t.barge_in,
            ),
        )
    store.call_ended(
        call_id,
        outcome="completed",
        reason="a recorded call of a human agent, brought in for quality inspection",
        recording_path=str(Path(path).resolve()),
        at=started_at + timedelta(seconds=duration),
    )
    return call_id


def started_at(path: str | Path, duration: float) -> datetime:
    """When the recorded call began, by the file: its last change, less its length."""
    changed = datetime.fromtimestamp(Path(path).stat().st_mtime, UTC)
    return changed - timedelta(seconds=duration)
