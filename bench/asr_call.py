"""The real-time rows of bench/asr_bench.py: each utterance answers one question on a call.

Not a loop written for the bench: every utterance goes through the production path, a
`LiveCall` (the thread that feeds a `CallSession` 20 ms frames with `time.monotonic()` and
performs its outputs) on the real `WhisperRecognizer` and a recognition scheduler, as
`voicebot.server.worker` builds them. The call runs bench/asr_flow.yaml, whose called number
picks the question (`Item.question`), so the expectation is the flow's. Only the SIP side is
replaced:
`BenchMedia` delivers the caller's audio in real time on the media clock (silence until the
question has played, then the utterance, then silence), "plays" prompts at once and reports
them finished; `BenchSip` takes the hang-up.

Per utterance: the final text, and on the monotonic clock the end of the caller's speech (the
frame carrying its last sample), the `Recognize` final the session asked for (end of
utterance), the `Recognized` final it took in, and the bot's reply starting to play.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from asr_data import Item

from voicebot.call.live_call import LiveCall, Resources
from voicebot.call.session import CallSession, PlaybackFinished, Recognize
from voicebot.dialog import events as ev
from voicebot.dialog.engine import DialogEngine
from voicebot.dialog.expectation import Expectation
from voicebot.flow.backend import HttpxBackend
from voicebot.flow.loader import LoadedFlow, load_flow
from voicebot.speech.listener import Listener
from voicebot.speech.prompt_cache import PromptCache
from voicebot.speech.recognizer import Recognition, Recognizer
from voicebot.speech.scheduler import RecognitionScheduler
from voicebot.speech.synthesizer import EspeakSynthesizer, Voice

FLOW = Path(__file__).resolve().parent / "asr_flow.yaml"
FRAME = 0.02
TAIL = 1.5  # s of silence after the utterance
GIVE_UP = 8.0  # s after the utterance: the caller hangs up if nothing came back


def flow() -> LoadedFlow:
    return load_flow(FLOW)


def expectation_of(loaded: LoadedFlow, question: str) -> Expectation:
    """What the flow's step `question` expects (the `Listen` the engine emits on reaching it)."""
    engine = DialogEngine(loaded)
    for action in engine.handle(ev.CallStarted("probe", "", question), _now()):
        if hasattr(action, "expect"):
            return action.expect
    raise ValueError(f"{FLOW.name}: no question {question!r}")


def _now() -> datetime:
    return datetime.now().astimezone()


@dataclass(frozen=True)
class Frame:
    pcm: bytes
    timestamp: float


class BenchMedia:
    """The caller's side of the media: frames on the real clock, prompts played at once."""

    rate = 8000

    def __init__(self, pcm: bytes, speech_end: float) -> None:
        self.caller = pcm + bytes(int(TAIL * self.rate) * 2)
        self.speech_end = speech_end
        self.call: LiveCall | None = None
        self.t0: float | None = None
        self.sent = 0  # frames delivered
        self.speaking_from: int | None = None  # the frame the caller starts speaking on
        self.speech_end_at: float | None = None
        self.plays: list[float] = []  # monotonic time of each prompt played

    def read_frames(self, timeout: float | None = 0.0) -> list[Any]:
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        due = int((now - self.t0) / FRAME)
        if due <= self.sent and timeout:
            time.sleep(max(0.0, self.t0 + (self.sent + 1) * FRAME - now))
            due = self.sent + 1
        frames = []
        size = int(FRAME * self.rate) * 2
        while self.sent < due:
            at = self.t0 + (self.sent + 1) * FRAME
            pcm = bytes(size)
            if self.speaking_from is not None:
                k = self.sent - self.speaking_from
                pcm = self.caller[k * size : (k + 1) * size].ljust(size, b"\0")
                if self.speech_end_at is None and (k + 1) * FRAME >= self.speech_end:
                    self.speech_end_at = at
            frames.append(Frame(pcm, at))
            self.sent += 1
        return frames

    def play(self, pcm: bytes) -> None:
        self.plays.append(time.monotonic())
        if self.speaking_from is None:
            self.speaking_from = self.sent  # the question played: the caller answers
        assert self.call is not None
        self.call.post(PlaybackFinished())

    def stop_playback(self) -> bool:
        return False

    def pause_playback(self) -> bool:
        return False

    def resume_playback(self, rewind: float = 0.0) -> bool:
        return False

    @property
    def playing(self) -> bool:
        return False

    @property
    def done_speaking(self) -> bool:
        return self.speaking_from is not None and (
            (self.sent - self.speaking_from) * FRAME * self.rate * 2 >= len(self.caller)
        )


class BenchSip:
    def hangup(self, call_id: str, status_code: int = 0) -> None:
        pass

    def transfer(self, call_id: str, target: str, headers: Any = None) -> None:
        pass


NO_HTTP = HttpxBackend()  # the bench flow makes no request


class Observed:
    """The production recogniser, with what it returned kept for the report."""

    def __init__(self, inner: Recognizer) -> None:
        self.inner = inner
        self.finals: list[Recognition] = []
        self.partials = 0

    def final(self, audio: np.ndarray, expect: Expectation, stream: str = "") -> Recognition:
        result = self.inner.final(audio, expect, stream=stream)
        self.finals.append(result)
        return result

    def partial(self, audio: np.ndarray, expect: Expectation, stream: str = "") -> Recognition:
        self.partials += 1
        return self.inner.partial(audio, expect, stream=stream)


class BenchCall(LiveCall):
    """`LiveCall` as it is, with the time of the session's `Recognize` final noted."""

    eou_at: float | None = None

    def _recognize(self, req: Recognize) -> None:
        if req.final and self.eou_at is None:
            self.eou_at = time.monotonic()
        super()._recognize(req)


class Caller:
    """Calls bench/asr_flow.yaml once per utterance, one call at a time."""

    def __init__(self, recognizer: Recognizer) -> None:
        self.recognizer = recognizer
        self.loaded = flow()
        self.tmp = tempfile.TemporaryDirectory(prefix="asr-bench-")
        self.prompts = PromptCache(Path(self.tmp.name), EspeakSynthesizer(), 8000)
        texts = [s.ask.prompt for s in self.loaded.flow.steps.values() if s.ask is not None]
        self.prompts.prerender([*texts, "Thank you."], Voice("en-us", 165))
        self.io_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="io")
        self.calls = 0

    def close(self) -> None:
        self.io_pool.shutdown()
        self.tmp.cleanup()

    def answer(self, item: Item) -> dict:
        self.calls += 1
        call_id = f"asr-{self.calls}"
        rec = Observed(self.recognizer)
        scheduler = RecognitionScheduler(rec)  # as a worker's, here for one call at a time
        res = Resources(
            rec, self.prompts, scheduler, self.io_pool, None, Path(self.tmp.name), NO_HTTP
        )
        media = BenchMedia(item.pcm, item.speech_end)
        engine = DialogEngine(self.loaded, call_id=call_id)
        session = CallSession(engine, Listener(rate=media.rate))
        call = BenchCall(call_id, session, media, BenchSip(), res, max_duration=60.0)
        media.call = call
        call.start(ev.CallStarted(call_id, "+15550100", item.question))
        while not call.done.wait(0.1):
            if media.done_speaking and time.monotonic() - (media.speech_end_at or 0) > GIVE_UP:
                call.post(ev.Hangup("caller"))
                call.done.wait(5.0)
                break
        scheduler.close()
        turn = session.turns[0] if session.turns else None
        final = rec.finals[0] if rec.finals else None
        got = turn.recognized_at if turn is not None else None
        # the reply to the answer; an empty final re-opens listening and the next prompt is
        # the no-input one, which answers nothing
        replies = media.plays[1:] if final is not None and final.text else []

        def since(a: float | None, b: float | None) -> float | None:
            return a - b if a is not None and b is not None else None

        return {
            "id": item.id,
            "set": item.set,
            "text": final.text if final else "",
            "reused": bool(final and final.reused),
            "empty": final is not None and not final.text,
            "partials": rec.partials,
            "eou_latency": since(got, call.eou_at),
            "eos_latency": since(got, media.speech_end_at),
            "reply_latency": since(replies[0] if replies else None, media.speech_end_at),
            "slots": dict(engine.slots),
        }
