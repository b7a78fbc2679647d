"""Voice activity detection: webrtcvad per frame, a noise-floor gate, and start/stop hysteresis.

webrtcvad (the WebRTC GMM detector, pip ``webrtcvad-wheels``) says for each 10/20/30 ms frame
whether it holds speech. On its own it flickers inside words and calls stationary line noise
speech (white noise at -30 dBFS is "speech" in every frame at aggressiveness 2), so:

* a frame counts as voiced only when webrtcvad says so *and* its level is above an absolute
  floor (`min_level_dbfs`) and `snr_db` above the noise floor. The floor is the quietest frame
  level of the last `noise_window` seconds (minimum statistics: it never climbs above the gaps
  between words), raised to the quietest of the last `steady_window` seconds when their levels
  stay within `steady_range_db` (stationary noise: speech swings far more than 3 dB within
  0.4 s). Noise present from the first frame is never speech; noise that starts after digital
  silence can open one segment that closes within about half a second, when the floor has
  caught up;
* speech starts when `start_voiced` of the last `start_window` frames are voiced (default 4 of
  6: 80 ms of voice within 120 ms, so clicks and single bursts do not start speech), and stops
  after `stop_unvoiced` unvoiced frames in a row (default 6: 120 ms, longer than the closure
  of a stop consonant, shorter than the listener's shortest end-of-utterance window).

API::

    class FrameClassifier(Protocol):
        def is_speech(self, pcm: bytes, rate: int) -> bool

    @dataclass(frozen=True)
    class VadSettings:
        aggressiveness: int = 2        # webrtcvad 0 (least) .. 3 (most aggressive filtering)
        start_voiced: int = 4          # N voiced ...
        start_window: int = 6          # ... of the last M frames start speech
        stop_unvoiced: int = 6         # K unvoiced frames in a row stop it
        min_level_dbfs: float = -50.0  # quieter frames are never voiced
        snr_db: float = 6.0            # voiced frames stand this far above the noise floor
        noise_window: float = 2.0      # seconds of history for the noise floor
        steady_window: float = 0.4     # seconds of steady level that count as noise
        steady_range_db: float = 3.0

    class WebRtcClassifier(FrameClassifier):
        __init__(settings: VadSettings = VadSettings())
        noise_floor_dbfs -> float

    @dataclass(frozen=True)
    class VadChange:
        speaking: bool   # True: speech started; False: speech stopped
        at: float        # start: start of the first voiced frame of the start window;
                         # stop: end of the last voiced frame

    class Vad:
        __init__(settings: VadSettings = VadSettings(), classifier: FrameClassifier | None = None)
        speaking -> bool
        segment_start -> float | None  # when the current (or last) speech segment started
        last_voiced_end -> float | None
        process(pcm: bytes, rate: int, end: float, masked: bool = False) -> VadChange | None
            # one frame ending at `end`; `masked`: not speech whatever it sounds like (echo)
        reset() -> None
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import webrtcvad

_FULL_SCALE_POWER = 32768.0**2


class FrameClassifier(Protocol):
    """Says whether one 10/20/30 ms PCM16 frame holds speech."""

    def is_speech(self, pcm: bytes, rate: int) -> bool: ...


@dataclass(frozen=True)
class VadSettings:
    aggressiveness: int = 2
    start_voiced: int = 4
    start_window: int = 6
    stop_unvoiced: int = 6
    min_level_dbfs: float = -50.0
    snr_db: float = 6.0
    noise_window: float = 2.0
    steady_window: float = 0.4
    steady_range_db: float = 3.0

    def __post_init__(self) -> None:
        if not 0 <= self.aggressiveness <= 3:
            raise ValueError(f"VAD aggressiveness {self.aggressiveness}: use 0, 1, 2 or 3")
        if not 1 <= self.start_voiced <= self.start_window:
            raise ValueError("VAD start_voiced must be between 1 and start_window")
        if self.stop_unvoiced < 1:
            raise ValueError("VAD stop_unvoiced must be at least 1")


def level_dbfs(pcm: bytes) -> float:
    """RMS level of PCM16 in dB relative to full scale (-inf for digital silence)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    if samples.size == 0:
        return -math.inf
    power = float(np.dot(samples, samples)) / samples.size
    return 10.0 * math.log10(power / _FULL_SCALE_POWER) if power > 0 else -math.inf


class WebRtcClassifier:
    """webrtcvad gated by an absolute level and by a tracked noise floor."""

    def __init__(self, settings: VadSettings = VadSettings()) -> None:
        self._settings = settings
        self._vad = webrtcvad.Vad(settings.aggressiveness)
        self._levels: deque[float] = deque()
        self._steady: deque[float] = deque()
        self._window_frames = 0
        self._steady_frames = 0
        self.noise_floor_dbfs = -math.inf

    def _floor(self, level: float) -> float:
        s = self._settings
        self._levels.append(level)
        if len(self._levels) > self._window_frames:
            self._levels.popleft()
        self._steady.append(level)
        if len(self._steady) > self._steady_frames:
            self._steady.popleft()
        floor = min(self._levels)
        if len(self._steady) == self._steady_frames:
            low = min(self._steady)
            if low > floor and max(self._steady) - low <= s.steady_range_db:
                floor = low  # stationary noise: the floor catches up at once
                self._levels.clear()
                self._levels.append(low)
        return floor

    def is_speech(self, pcm: bytes, rate: int) -> bool:
        s = self._settings
        if not self._window_frames:
            frame_seconds = len(pcm) / (2 * rate)
            self._window_frames = max(1, round(s.noise_window / frame_seconds))
            self._steady_frames = max(2, round(s.steady_window / frame_seconds))
        level = max(level_dbfs(pcm), s.min_level_dbfs - s.snr_db)  # digital silence: finite
        self.noise_floor_dbfs = self._floor(level)
        if level < s.min_level_dbfs or level < self.noise_floor_dbfs + s.snr_db:
            return False
        return self._vad.is_speech(pcm, rate)


@dataclass(frozen=True)
class VadChange:
    """Speech started (`speaking` true) or stopped, and when."""

    speaking: bool
    at: float


class Vad:
    """Per-frame speech decisions smoothed into speech start/stop changes."""

    def __init__(
        self, settings: VadSettings = VadSettings(), classifier: FrameClassifier | None = None
    ) -> None:
        self.settings = settings
        self._classifier = classifier if classifier is not None else WebRtcClassifier(settings)
        self._recent: deque[tuple[bool, float]] = deque(maxlen=settings.start_window)
        self._voiced_in_window = 0
        self._unvoiced_run = 0
        self.speaking = False
        self.segment_start: float | None = None
        self.last_voiced_end: float | None = None

    def reset(self) -> None:
        """Forget the current speech state (the noise floor is kept)."""
        self._recent.clear()
        self._voiced_in_window = 0
        self._unvoiced_run = 0
        self.speaking = False
        self.segment_start = None
        self.last_voiced_end = None

    def process(self, pcm: bytes, rate: int, end: float, masked: bool = False) -> VadChange | None:
        """Classify one frame that ends at time `end`; return a change of state, if any.
        A `masked` frame (the bot's echo) is unvoiced; the classifier still sees it (its
        noise floor)."""
        voiced = self._classifier.is_speech(pcm, rate) and not masked
        start = end - len(pcm) / (2 * rate)
        if len(self._recent) == self._recent.maxlen and self._recent[0][0]:
            self._voiced_in_window -= 1
        self._recent.append((voiced, start))
        if voiced:
            self._voiced_in_window += 1
            self._unvoiced_run = 0
            self.last_voiced_end = end
        else:
            self._unvoiced_run += 1
        if not self.speaking:
            if self._voiced_in_window >= self.settings.start_voiced:
                self.speaking = True
                self.segment_start = next(t for v, t in self._recent if v)
                return VadChange(True, self.segment_start)
        elif self._unvoiced_run >= self.settings.stop_unvoiced:
            self.speaking = False
            return VadChange(False, self.last_voiced_end if self.last_voiced_end else start)
        return None
