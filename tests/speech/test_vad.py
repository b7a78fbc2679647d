from pathlib import Path

import numpy as np
import pytest

from voicebot.audio.wav import read_wav
from voicebot.speech.vad import Vad, VadSettings, WebRtcClassifier, level_dbfs
from voicebot.testing.speech import noise, silence, timed_frames, voice_tone

FSDD = Path(__file__).resolve().parents[1] / "data" / "fsdd"


class Scripted:
    """A classifier that answers from a list of booleans, one per frame."""

    def __init__(self, pattern):
        self.pattern = list(pattern)

    def is_speech(self, pcm, rate):
        return bool(self.pattern.pop(0))


def changes(vad, samples, rate=8000):
    out = []
    for pcm, end in timed_frames(samples, rate):
        change = vad.process(pcm, rate, end)
        if change:
            out.append((change.speaking, round(change.at, 3)))
    return out


def run_pattern(pattern):
    vad = Vad(VadSettings(), Scripted(pattern))
    return changes(vad, silence(0.02 * len(pattern)))


def test_sparse_voiced_frames_do_not_start_speech():
    assert run_pattern([1, 0, 1, 0, 0, 1, 0, 0] * 5) == []


def test_four_of_six_start_at_first_voiced_frame_and_six_unvoiced_stop():
    pattern = [0, 0, 1, 0, 1, 1, 1] + [1] * 5 + [0] * 5 + [1] * 3 + [0] * 6
    # start: the window that first holds 4 voiced frames begins its voice at frame 2 (t=0.04);
    # five unvoiced frames do not stop speech, six do, at the end of the last voiced frame.
    assert run_pattern(pattern) == [(True, 0.04), (False, 0.4)]


def test_settings_are_checked():
    with pytest.raises(ValueError, match="aggressiveness"):
        VadSettings(aggressiveness=4)
    with pytest.raises(ValueError, match="start_voiced"):
        VadSettings(start_voiced=7, start_window=6)


@pytest.mark.parametrize("level", [-60.0, -45.0, -35.0, -25.0])
def test_a_minute_of_line_noise_is_never_speech(level):
    # webrtcvad alone calls white noise at -30 dBFS speech in every frame; the floor gate does not.
    assert changes(Vad(), noise(60.0, level_dbfs=level, seed=int(-level))) == []


@pytest.mark.parametrize("level", [-45.0, -35.0, -25.0])
def test_noise_starting_after_digital_silence_opens_one_short_segment_at_most(level):
    samples = np.concatenate([silence(1.0), noise(20.0, level_dbfs=level, seed=int(-level))])
    found = changes(Vad(), samples)
    assert len(found) <= 2
    if found:
        assert found[0] == (True, pytest.approx(1.0, abs=0.03))
        assert found[1][0] is False and found[1][1] < 1.5


def test_noise_floor_follows_stationary_noise():
    classifier = WebRtcClassifier()
    for pcm, _ in timed_frames(np.concatenate([silence(1.0), noise(1.0, level_dbfs=-40)])):
        classifier.is_speech(pcm, 8000)
    assert classifier.noise_floor_dbfs == pytest.approx(-40, abs=2.5)


def test_level_dbfs():
    assert level_dbfs(bytes(320)) == -np.inf
    full = np.full(160, 32767, dtype=np.int16).tobytes()
    assert level_dbfs(full) == pytest.approx(0.0, abs=0.01)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_voice_like_tone_starts_and_stops(rate):
    samples = np.concatenate([silence(0.5, rate), voice_tone(1.0, rate), silence(0.5, rate)])
    (start, stop) = changes(Vad(), samples, rate)
    assert start == (True, pytest.approx(0.5, abs=0.021))
    assert stop == (False, pytest.approx(1.5, abs=0.021))


@pytest.mark.parametrize("noise_dbfs", [None, -45.0])
def test_real_spoken_digit_is_found_clean_and_in_noise(noise_dbfs):
    pcm, rate = read_wav(FSDD / "7_jackson_0.wav")
    digit = np.frombuffer(pcm, "<i2")
    samples = np.concatenate([silence(1.0), digit, silence(1.0)]).astype(np.int32)
    if noise_dbfs is not None:
        samples += noise(len(samples) / rate, level_dbfs=noise_dbfs)
    found = changes(Vad(), np.clip(samples, -32768, 32767).astype(np.int16))
    assert [speaking for speaking, _ in found] == [True, False]
    assert found[0][1] == pytest.approx(1.0, abs=0.1)
    assert found[1][1] == pytest.approx(1.0 + len(digit) / rate, abs=0.15)
