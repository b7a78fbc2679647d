import numpy as np
import pytest

from voicebot.audio.frames import (
    Frame,
    bytes_per_frame,
    float32_to_pcm16,
    join_frames,
    pcm16_to_float32,
    samples_per_frame,
    split_frames,
)


def test_frame_sizes_at_telephone_rates():
    assert samples_per_frame(8000) == 160
    assert bytes_per_frame(8000) == 320
    assert samples_per_frame(16000) == 320
    assert bytes_per_frame(16000, ms=10) == 320


def test_frame_exposes_samples_duration_and_end():
    samples = np.arange(160, dtype=np.int16)
    frame = Frame.from_samples(samples, 8000, timestamp=1.5)
    assert frame.pcm == samples.tobytes()
    assert np.array_equal(frame.samples, samples)
    assert frame.duration == pytest.approx(0.02)
    assert frame.end == pytest.approx(1.52)


def test_frame_is_frozen_and_checks_its_input():
    frame = Frame(bytes(320), 8000)
    with pytest.raises(AttributeError):
        frame.rate = 16000  # type: ignore[misc]
    with pytest.raises(ValueError, match="44100"):
        Frame(bytes(320), 44100)
    with pytest.raises(ValueError, match="even"):
        Frame(bytes(3), 8000)


def test_split_then_join_round_trips_and_pads_the_tail():
    pcm = np.arange(1000, dtype=np.int16).tobytes()
    frames = split_frames(pcm, 8000, start=2.0)
    assert len(frames) == 7  # 1000 samples = 6 full frames + 40 samples padded
    assert [f.timestamp for f in frames[:3]] == pytest.approx([2.0, 2.02, 2.04])
    joined = join_frames(frames)
    assert joined[: len(pcm)] == pcm
    assert joined[len(pcm) :] == bytes(len(joined) - len(pcm))
    assert len(split_frames(pcm, 8000, pad=False)) == 6


def test_float_conversion_round_trips_and_clips():
    samples = np.array([-32768, -1, 0, 1, 16384, 32767], dtype=np.int16)
    as_float = pcm16_to_float32(samples.tobytes())
    assert as_float.dtype == np.float32
    assert as_float[0] == -1.0 and as_float[4] == 0.5
    assert float32_to_pcm16(as_float) == samples.tobytes()
    clipped = np.frombuffer(float32_to_pcm16(np.array([2.0, -2.0], np.float32)), "<i2")
    assert clipped.tolist() == [32767, -32768]


def test_from_samples_accepts_float_audio():
    frame = Frame.from_samples(np.full(160, 0.5, dtype=np.float32), 8000)
    assert set(frame.samples.tolist()) == {16384}
