"""Partial results on a worker thread while the caller speaks, without delaying the final.

    decoder = PartialDecoder(recognizer, expect, on_partial=callback)
    decoder.update(audio_so_far)        # any thread, any time: non-blocking, latest wins
    decoder.update(audio, urgent=True)  # at a pause: no cadence wait
    result = decoder.finish(utterance)  # the final; stops the worker
    decoder.close()                     # without a final (hang-up, barge-in)

The worker re-decodes the newest buffer it was given, at most once per `interval`; a buffer
that arrives while a decode runs replaces any older one still waiting (stale partials are never
decoded). CTranslate2 releases the GIL, so the media thread keeps running meanwhile.

Why the final is not delayed: the listener asks for a partial when the caller pauses
(`SpeechPaused`, 120 ms after the last voiced frame) and ends the utterance no sooner than
`complete_timeout` (300 ms) after it, so the pause partial (~20-80 ms for tiny.en) is done
before the end of utterance; `WhisperRecognizer.final` then returns it at once when the
utterance has only quiet audio after it (`Recognition.reused`). `finish` waits for a partial
still running rather than racing it for the model (which decodes one call at a time).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from voicebot.dialog.expectation import Expectation
from voicebot.speech.model import SAMPLE_RATE
from voicebot.speech.recognizer import Recognition, Recognizer

log = logging.getLogger(__name__)


class PartialDecoder:
    def __init__(
        self,
        recognizer: Recognizer,
        expect: Expectation,
        on_partial: Callable[[Recognition, float], None] | None = None,
        interval: float = 0.3,
    ) -> None:
        """`on_partial(result, audio_seconds)` is called on the worker thread."""
        self.recognizer = recognizer
        self.expect = expect
        self.on_partial = on_partial
        self.interval = interval
        self.latest: Recognition | None = None
        self.decoded = 0  # partial decodes run
        self._pending: np.ndarray | None = None
        self._urgent = False
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="asr-partials", daemon=True)
        self._thread.start()

    def update(self, audio: np.ndarray, urgent: bool = False) -> None:
        """Decode `audio` next. `urgent` (the caller paused) skips the cadence wait: that
        partial is the one the final will most likely reuse."""
        with self._cond:
            if not self._closed:
                self._pending = audio
                self._urgent = urgent
                self._cond.notify()

    def finish(self, audio: np.ndarray) -> Recognition:
        self.close()
        return self.recognizer.final(audio, self.expect)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        last_start = -self.interval
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                wait = last_start + self.interval - time.monotonic()
                if wait > 0 and not self._urgent:
                    self._cond.wait(wait)
                    continue
                audio, self._pending = self._pending, None
            last_start = time.monotonic()
            if audio is None:
                continue
            result = self.recognizer.partial(audio, self.expect)
            self.latest = result
            self.decoded += 1
            if self.on_partial is not None:
                try:
                    self.on_partial(result, len(audio) / SAMPLE_RATE)
                except Exception:  # a callback's bug must not kill the worker
                    log.exception("partial callback failed")
