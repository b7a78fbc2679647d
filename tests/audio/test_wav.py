import wave
from pathlib import Path

import numpy as np
import pytest

from voicebot.audio.wav import read_wav, write_wav
from voicebot.errors import SpeechError

FSDD_ZERO = Path(__file__).resolve().parents[1] / "data" / "fsdd" / "0_george_0.wav"


def test_write_then_read_round_trips(tmp_path):
    pcm = np.arange(-800, 800, dtype=np.int16).tobytes()
    write_wav(tmp_path / "a.wav", pcm, 16000)
    assert read_wav(tmp_path / "a.wav") == (pcm, 16000)


def test_read_resamples_when_asked(tmp_path):
    write_wav(tmp_path / "a.wav", bytes(2 * 8000), 8000)
    pcm, rate = read_wav(tmp_path / "a.wav", rate=16000)
    assert rate == 16000 and len(pcm) == 2 * 16000


def test_stereo_is_mixed_to_mono(tmp_path):
    left_right = np.array([[1000, 3000]] * 100, dtype=np.int16)
    with wave.open(str(tmp_path / "s.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(left_right.tobytes())
    pcm, _ = read_wav(tmp_path / "s.wav")
    assert set(np.frombuffer(pcm, "<i2").tolist()) == {2000}


def test_reads_real_fsdd_recording_at_8k():
    pcm, rate = read_wav(FSDD_ZERO)
    assert rate == 8000
    assert np.abs(np.frombuffer(pcm, "<i2")).max() > 1000


def test_not_a_wav_says_which_file(tmp_path):
    (tmp_path / "x.wav").write_bytes(b"not a wav")
    with pytest.raises(SpeechError, match="x.wav"):
        read_wav(tmp_path / "x.wav")
