"""The voice of one caller turn: loudness and pitch, measured once per turn, never per frame.

`measure(pcm, rate)` takes a whole utterance (PCM16 mono, as the listener hands it to the
recogniser) and returns its `Prosody`: the RMS level in dBFS of its louder half (so pauses
inside the turn do not pull it down) and the median pitch of up to `MAX_PITCH_FRAMES` of its
loudest 40 ms frames, by normalised autocorrelation between 70 and 400 Hz. A 3 s turn costs
well under a millisecond of numpy. The frustration estimate (dialog/frustration.py) compares a
turn with the caller's own first turns: a level, not an absolute, since phones and lines differ.
"""

from __future__ import annotations

import numpy as np

from voicebot.dialog.frustration import Prosody

FRAME_SECONDS = 0.04
MAX_PITCH_FRAMES = 24
MIN_HZ, MAX_HZ = 70.0, 400.0
VOICED = 0.45  # an autocorrelation peak this high (0..1) counts as a voiced frame
SILENT_DB = -90.0


def measure(pcm: bytes, rate: int) -> Prosody | None:
    """Loudness and pitch of one utterance; None when there is less than one frame of audio."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    size = int(rate * FRAME_SECONDS)
    count = len(samples) // size
    if count < 1:
        return None
    frames = samples[: count * size].reshape(count, size)
    energy = np.mean(frames * frames, axis=1)
    loud = np.sort(energy)[count // 2 :]  # the louder half of the frames
    rms = float(np.sqrt(np.mean(loud)))
    rms_db = 20.0 * float(np.log10(rms)) if rms > 0 else SILENT_DB
    return Prosody(round(rms_db, 2), _pitch(frames, energy, rate))


def _pitch(frames: np.ndarray, energy: np.ndarray, rate: int) -> float | None:
    lo, hi = int(rate / MAX_HZ), int(rate / MIN_HZ)
    if hi >= frames.shape[1]:
        return None
    order = np.argsort(energy)[::-1][:MAX_PITCH_FRAMES]
    found = []
    for i in order:
        if energy[i] <= 1e-7:
            break
        x = frames[i] - frames[i].mean()
        spectrum = np.fft.rfft(x, 2 * len(x))
        ac = np.fft.irfft(spectrum * np.conj(spectrum))[: len(x)]
        if ac[0] <= 0:
            continue
        ac = ac / ac[0]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] >= VOICED:
            found.append(rate / lag)
    if not found:
        return None
    return round(float(np.median(found)), 1)
