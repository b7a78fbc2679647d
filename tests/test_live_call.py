"""A `LiveCall` on fake media: work that fails or never returns off the call thread still
reaches the caller as the flow's error prompt (before this, it was only logged, and the caller
sat in silence until max_call_seconds)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from voicebot.call.live_call import LiveCall, Resources
from voicebot.call.records import CallStore
from voicebot.call.session import CallSession, Deadlines, PlaybackFinished, Recognize, Recognized
from voicebot.dialog import events as ev
from voicebot.dialog.actions import HttpRequest
from voicebot.dialog.engine import APOLOGY, DialogEngine
from voicebot.dialog.events import HttpResult
from voicebot.dialog.expectation import FREE_TEXT
from voicebot.errors import SipError, SpeechError
from voicebot.flow.loader import load_flow
from voicebot.speech.listener import Listener
from voicebot.speech.prompt_cache import PromptCache
from voicebot.speech.recognizer import Recognition
from voicebot.speech.scheduler import RecognitionScheduler
from voicebot.testing.speech import FakeSynthesizer

FLOW = """
version: 1
name: lookup
start: lookup
steps:
  lookup:
    http: {url: "http://api.test/a", timeout: 0.5s}
    on: {ok: found, error: sorry, timeout: sorry}
  found: {say: "Found it.", next: end}
  sorry: {say: "Our system is down, sorry.", next: end}
  end: {hangup: {}}
"""


@dataclass
class Frame:
    pcm: bytes
    timestamp: float
    played: int = 0


class FakeMedia:
    """Silence in, prompts out; reports each prompt finished 50 ms after it was queued."""

    rate = 8000

    def __init__(self) -> None:
        self.played: list[tuple[float, int]] = []  # (monotonic time, bytes)
        self.call: LiveCall | None = None

    def read_frames(self, timeout: float | None = 0.0) -> list[Frame]:
        time.sleep(0.02)
        return [Frame(b"\0" * 320, time.monotonic())]

    def play(self, pcm: bytes) -> None:
        self.played.append((time.monotonic(), len(pcm)))
        call = self.call
        assert call is not None
        threading.Timer(0.05, lambda: call.post(PlaybackFinished())).start()

    def stop_playback(self) -> bool:
        return False

    def pause_playback(self) -> bool:
        return False

    def resume_playback(self, rewind: float = 0.0) -> bool:
        return False

    @property
    def playing(self) -> bool:
        return False


class FakeSip:
    def __init__(self) -> None:
        self.hung_up = threading.Event()

    def hangup(self, call_id: str, status_code: int = 0) -> None:
        self.hung_up.set()

    def transfer(self, call_id: str, target: str, headers: object = None) -> None:
        raise SipError(f"REFER to {target} refused")


class BrokenSynthesizer(FakeSynthesizer):
    def synthesize(self, text: str, sample_rate: int, voice: object = None) -> bytes:
        if "Found" in text:
            raise SpeechError("espeak-ng produced no audio")
        return super().synthesize(text, sample_rate)


class Backend:
    def __init__(self, how: str):
        self.how = how

    def fetch(self, request: HttpRequest) -> HttpResult:
        if self.how == "raises":
            raise RuntimeError("a bug in the backend")
        if self.how == "ok":
            return HttpResult(200, {})
        time.sleep(5)  # never answers in time (and ignores its own timeout)
        return HttpResult(200, {})


def run_call(
    tmp: Path, backend: Backend, flow: str = FLOW, synthesizer: FakeSynthesizer | None = None
) -> tuple[LiveCall, FakeMedia, float, CallStore]:
    path = tmp / "flow.yaml"
    path.write_text(flow)
    store = CallStore(tmp / "calls.db")
    store.call_started("c1", direction="inbound")
    res = Resources(
        recognizer=None,  # type: ignore[arg-type]
        prompts=PromptCache(tmp / "prompts", synthesizer or FakeSynthesizer(), 8000),
        recognition=RecognitionScheduler(None),  # type: ignore[arg-type]  (never listens)
        io_pool=ThreadPoolExecutor(1),
        records=store,
        recordings_dir=tmp / "rec",
        http=backend,
    )
    session = CallSession(
        DialogEngine(load_flow(path)), Listener(rate=8000), deadlines=Deadlines(http_grace=0.25)
    )
    media, sip = FakeMedia(), FakeSip()
    live = LiveCall("c1", session, media, sip, res, max_duration=20)
    media.call = live
    began = time.monotonic()
    live.start(ev.CallStarted("c1"))
    assert live.done.wait(10), "the call never ended"
    assert sip.hung_up.is_set()
    return live, media, began, store


@pytest.mark.parametrize("how", ["raises", "hangs"])
def test_a_backend_that_fails_or_hangs_gets_the_error_prompt_in_time(tmp_path, how):
    live, media, began, store = run_call(tmp_path, Backend(how))
    said = [t["text"] for t in store.get("c1").turns if t["who"] == "bot"]  # type: ignore[union-attr]
    assert said == ["Our system is down, sorry."]
    first_sound = media.played[0][0] - began
    assert first_sound < 0.5 + 1.0  # the request's timeout + 1 s
    record = store.get("c1")
    assert record is not None and record.outcome == "completed"
    assert record.incidents and record.incidents[0].split(": ")[1].startswith("http:1")


def test_a_prompt_that_cannot_be_rendered_takes_the_error_route(tmp_path):
    flow = FLOW.replace(
        'found: {say: "Found it.", next: end}',
        'found: {say: "Found it.", next: more}\n'
        '  more: {ask: {slot: {name: m, type: yes_no}, prompt: "More?"}, next: end}',
    )
    live, media, began, store = run_call(
        tmp_path, Backend("ok"), flow, synthesizer=BrokenSynthesizer()
    )
    record = store.get("c1")
    assert record is not None
    said = [t["text"] for t in record.turns if t["who"] == "bot"]
    # "Found it." never played; "More?" has no error route of its own: the apology, hang-up
    assert said == ["Found it.", "More?", APOLOGY]
    assert any("synthesis error: SpeechError" in i for i in record.incidents)


TRANSFER = """
version: 1
name: transfer
start: agent
steps:
  agent:
    transfer: {to: "sip:agent@pbx.test"}
    on: {failed: sorry}
  sorry: {say: "Our system is down, sorry.", next: end}
  end: {hangup: {}}
"""


def test_a_transfer_the_endpoint_refuses_takes_the_failed_route(tmp_path):
    live, media, began, store = run_call(tmp_path, Backend("ok"), TRANSFER)
    record = store.get("c1")
    assert record is not None
    assert [t["text"] for t in record.turns if t["who"] == "bot"] == ["Our system is down, sorry."]


class QuietMedia(FakeMedia):
    """Media that plays and reports nothing for blank audio (as CallMedia.play(b"") does), or
    loses the end of a playback (`lose=True`)."""

    def __init__(self, lose: bool = False) -> None:
        super().__init__()
        self.lose = lose
        self.until = 0.0

    def play(self, pcm: bytes) -> None:
        if pcm and not self.lose:
            super().play(pcm)
        elif pcm:  # plays for as long as the audio lasts, then says nothing
            self.played.append((time.monotonic(), len(pcm)))
            self.until = time.monotonic() + len(pcm) / 2 / self.rate

    @property
    def playing(self) -> bool:
        return time.monotonic() < self.until


BLANK = """
version: 1
name: blank
start: set
steps:
  set: {set: {vars.e: ""}, next: say}
  say: {say: "{{ vars.e }}", next: end}
  end: {hangup: {}}
"""


def _run_with(tmp: Path, media: FakeMedia, flow: str) -> tuple[LiveCall, float]:
    path = tmp / "flow.yaml"
    path.write_text(flow)
    res = Resources(
        recognizer=None,  # type: ignore[arg-type]
        prompts=PromptCache(tmp / "prompts", FakeSynthesizer(), 8000),
        recognition=RecognitionScheduler(None),  # type: ignore[arg-type]  (never listens)
        io_pool=ThreadPoolExecutor(1),
        records=None,
        recordings_dir=tmp / "rec",
        http=Backend("ok"),
    )
    session = CallSession(DialogEngine(load_flow(path)), Listener(rate=8000))
    live = LiveCall("c1", session, media, FakeSip(), res, max_duration=20)
    media.call = live
    began = time.monotonic()
    live.start(ev.CallStarted("c1"))
    assert live.done.wait(10), "the call never ended"
    return live, time.monotonic() - began


def test_a_prompt_that_renders_to_no_audio_does_not_hold_the_call(tmp_path):
    # before: the session waited for the end of a playback that never started (CallMedia.play
    # ignores b""), so the hang-up after it never came: silence until max_call_seconds
    live, took = _run_with(tmp_path, QuietMedia(), BLANK)
    assert took < 1.0 and live.outcome == "completed"


def test_a_lost_end_of_playback_is_noticed(tmp_path):
    flow = BLANK.replace('say: "{{ vars.e }}"', 'say: "Hello."')
    media = QuietMedia(lose=True)
    live, took = _run_with(tmp_path, media, flow)
    assert media.played and took < 0.06 * len("Hello.") + 2.0 + 1.0
    assert live.session.incidents[0].split(": ")[1] == "playback timeout"


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
        http=None,  # type: ignore[arg-type]
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
