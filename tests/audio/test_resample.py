import numpy as np
import pytest

from voicebot.audio.resample import StreamResampler, resample, resample_array


def tone(freq: float, rate: int, seconds: float = 1.0, amp: float = 10000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 8000), (22050, 8000)])
def test_resampling_keeps_length_pitch_and_level(src, dst):
    out = np.frombuffer(resample(tone(1000, src).tobytes(), src, dst), "<i2")
    assert len(out) == dst
    assert peak_hz(out, dst) == pytest.approx(1000, abs=2)
    assert rms(out[100:-100]) == pytest.approx(10000 / np.sqrt(2), rel=0.02)


def test_downsampling_filters_instead_of_aliasing():
    # 5 kHz is above 8 kHz's Nyquist: a resampler removes it; decimation folds it to 3 kHz.
    out = resample_array(tone(5000, 16000), 16000, 8000)
    assert rms(out[100:-100]) < 100
    naive = tone(5000, 16000)[::2]
    assert rms(naive) > 5000


def test_same_rate_is_a_copy_and_float_keeps_dtype():
    audio = np.linspace(-0.5, 0.5, 800, dtype=np.float32)
    same = resample_array(audio, 16000, 16000)
    assert same is not audio and np.array_equal(same, audio)
    assert resample_array(audio, 16000, 8000).dtype == np.float32


def test_stream_in_20ms_chunks_matches_one_shot():
    signal = tone(700, 8000, seconds=2.0)
    stream = StreamResampler(8000, 16000)
    pieces = [stream.process(signal[i : i + 160].tobytes()) for i in range(0, len(signal), 160)]
    streamed = np.frombuffer(b"".join(pieces) + stream.flush(), "<i2").astype(np.int32)
    one_shot = resample_array(signal, 8000, 16000).astype(np.int32)
    assert len(streamed) == len(one_shot) == 32000
    assert np.max(np.abs(streamed - one_shot)) <= 2


def test_stream_can_be_reused_after_flush():
    stream = StreamResampler(16000, 8000)
    first = stream.process(tone(500, 16000).tobytes()) + stream.flush()
    second = stream.process(tone(500, 16000).tobytes()) + stream.flush()
    assert first == second
    assert len(first) == 2 * 8000
