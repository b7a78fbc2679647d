"""The live call runner's recognition path, without SIP: requests go to the worker's
recognition scheduler under the call's id, and results come back with their audio end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voicebot.dialog.expectation import FREE_TEXT
from voicebot.live_call import LiveCall, Resources
from voicebot.session import Recognize, Recognized
from voicebot.speech.recognizer import Recognition
from voicebot.speech.scheduler import RecognitionScheduler


class Echo:
    def __init__(self) -> None:
        self.streams: list[str] = []

    def final(self, audio: Any, expect: Any, stream: str = "") -> Recognition:
        self.streams.append(stream)
        return Recognition("one two", 0.9, True, "free")

    def partial(self, audio: Any, expect: Any, stream: str = "") -> Recognition:
        self.streams.append(stream)
        return Recognition("one", 0.8, False, "free")


def test_a_live_partial_comes_back_with_the_audio_end_it_covers_and_its_call():
    rec = Echo()
    sched = RecognitionScheduler(rec)
    res = Resources(
        recognizer=rec,
        prompts=None,  # type: ignore[arg-type]
        recognition=sched,
        io_pool=None,  # type: ignore[arg-type]
        records=None,
        recordings_dir=Path("."),
    )
    calls = [LiveCall(cid, None, None, None, res) for cid in ("c1", "c2")]  # type: ignore[arg-type]
    pcm = b"\0\0" * 1600
    calls[0]._recognize(Recognize(3, pcm, 8000, FREE_TEXT, final=False, audio_end=12.34))
    calls[1]._recognize(Recognize(1, pcm, 8000, FREE_TEXT, final=True))
    got = calls[0].inbox.get(timeout=5)
    assert got == Recognized(3, "one", 0.8, False, audio_end=12.34)
    assert calls[1].inbox.get(timeout=5) == Recognized(1, "one two", 0.9, True)
    sched.close()
    assert sorted(rec.streams) == ["c1", "c2"]  # each call's decodes under its own stream
