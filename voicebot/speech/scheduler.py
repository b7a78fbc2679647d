"""Recognition for every call of a worker: one queue, finals first, nothing shared between calls.

    queue = RecognitionQueue()                     # sans-IO: plain data in, the next job out
    dropped = queue.submit(job)                    # jobs it made stale (never decoded)
    job = queue.next()                             # None: nothing may run now
    queue.done(job);  queue.forget(call)

    scheduler = RecognitionScheduler(recognizer)   # the queue on a decode thread
    scheduler.submit(job, on_result)               # on_result(job, Recognition), decode thread
    scheduler.forget(call);  scheduler.close()

Why a queue and not a thread pool: the model decodes one utterance at a time (CTranslate2 runs
each decode on both cores, `intra_threads` = `speech.cpu_threads`, and one model instance
serialises its calls), so the order of the jobs is the only thing to decide, and a FIFO pool
would put a caller's short final behind every partial the other callers asked for before it.
The rules, in `next`:

* finals first, oldest first: a final waits for at most the one decode already running;
* then partials, oldest first, at most one in flight per call;
* a call has at most one partial waiting: a newer one replaces it (latest audio wins), and a
  final drops it (the final covers the same audio and more).

A partial is for the listener's endpointing ("is the answer complete?"); the AMD's greeting
transcripts are partials of their call too. Each job carries the call (`stream`) so that the
recogniser keeps its partial-reuse state per call (`WhisperRecognizer(stream=...)`), and the
end of the audio it covers (`audio_end`), which the listener needs to tell a stale partial.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from voicebot.dialog.expectation import Expectation
from voicebot.speech.recognizer import Recognition, Recognizer, to_model_audio

log = logging.getLogger(__name__)

_seq = itertools.count()


@dataclass(frozen=True)
class RecognitionJob:
    call: str
    turn: int
    pcm: bytes
    rate: int
    expect: Expectation
    final: bool
    audio_end: float | None = None  # the media time of the last sample of `pcm`
    seq: int = field(default_factory=lambda: next(_seq), compare=False)


class RecognitionQueue:
    """The order in which a worker's recognition jobs run (see the module docstring)."""

    def __init__(self) -> None:
        self._finals: list[RecognitionJob] = []
        self._partials: dict[str, RecognitionJob] = {}  # call -> the one waiting
        self._running: dict[str, int] = {}  # call -> partials in flight

    def __len__(self) -> int:
        return len(self._finals) + len(self._partials)

    def submit(self, job: RecognitionJob) -> list[RecognitionJob]:
        """Queue `job`; returns the jobs it made stale (they will never run)."""
        stale = self._partials.pop(job.call, None)
        if job.final:
            self._finals.append(job)
        else:
            self._partials[job.call] = job
        return [stale] if stale is not None else []

    def next(self) -> RecognitionJob | None:
        """The job to run now, marked in flight; None when nothing may run."""
        if self._finals:
            return self._finals.pop(0)
        ready = [j for c, j in self._partials.items() if not self._running.get(c)]
        if not ready:
            return None
        job = min(ready, key=lambda j: j.seq)
        del self._partials[job.call]
        self._running[job.call] = self._running.get(job.call, 0) + 1
        return job

    def done(self, job: RecognitionJob) -> None:
        if not job.final and self._running.get(job.call):
            self._running[job.call] -= 1
            if not self._running[job.call]:
                del self._running[job.call]

    def forget(self, call: str) -> list[RecognitionJob]:
        """Drop everything still waiting for `call` (it ended); returns what was dropped."""
        dropped = [j for j in self._finals if j.call == call]
        self._finals = [j for j in self._finals if j.call != call]
        partial = self._partials.pop(call, None)
        return dropped + ([partial] if partial is not None else [])


OnResult = Callable[[RecognitionJob, Recognition], None]


class RecognitionScheduler:
    """A `RecognitionQueue` run on `threads` decode threads (1: the model decodes one job at a
    time anyway). A decode that raises is reported as an empty result (`rejected="error"`), so
    the call listens again instead of waiting for an answer that never comes."""

    def __init__(self, recognizer: Recognizer, threads: int = 1) -> None:
        self.recognizer = recognizer
        self.queue = RecognitionQueue()
        self._callbacks: dict[int, OnResult] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._run, name=f"asr-{i}", daemon=True) for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def submit(self, job: RecognitionJob, on_result: OnResult) -> None:
        with self._cond:
            if self._closed:
                return
            for stale in self.queue.submit(job):
                self._callbacks.pop(stale.seq, None)
            self._callbacks[job.seq] = on_result
            self._cond.notify()

    def forget(self, call: str) -> None:
        with self._cond:
            for job in self.queue.forget(call):
                self._callbacks.pop(job.seq, None)
        forget = getattr(self.recognizer, "forget", None)
        if forget is not None:
            forget(call)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                job = None
                while not self._closed:
                    job = self.queue.next()
                    if job is not None:
                        break
                    self._cond.wait()
                if job is None:  # closed: what still waits is dropped (the worker is stopping)
                    return
                on_result = self._callbacks.pop(job.seq)
            try:
                result = self._decode(job)
            finally:
                with self._cond:
                    self.queue.done(job)
                    self._cond.notify_all()
            try:
                on_result(job, result)
            except Exception:  # a callback's bug must not stop recognition for every call
                log.exception("recognition callback failed (call %s)", job.call)

    def _decode(self, job: RecognitionJob) -> Recognition:
        try:
            audio: np.ndarray = to_model_audio(job.pcm, job.rate)
            if job.final:
                return self.recognizer.final(audio, job.expect, stream=job.call)
            return self.recognizer.partial(audio, job.expect, stream=job.call)
        except Exception:
            log.exception("recognition failed (call %s, turn %d)", job.call, job.turn)
            return Recognition("", 0.0, job.final, "none", rejected="error")
