"""CallMedia and the frame copies, driven the way the clock thread drives them (no call)."""

from __future__ import annotations

import threading

import pjsua2 as pj
import pytest

from voicebot.sip.events import PlaybackDone
from voicebot.sip.media import FAST_FRAMES, CallMedia, give_frame, read_frame, vector_bytes

pytestmark = pytest.mark.sip


def media(rate: int = 8000, max_frames: int = 500) -> tuple[CallMedia, list[object]]:
    seen: list[object] = []
    return CallMedia("c1", rate, seen.append, max_frames=max_frames), seen


def test_fast_frame_access_is_in_use_and_exact():
    assert FAST_FRAMES  # the wheel's layout was recognised: callbacks make no SWIG call
    frame = pj.MediaFrame()
    frame.buf = pj.ByteVector(b"\x01\x02\x03\x04")
    assert read_frame(frame) is None  # type NONE: no audio
    frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
    assert read_frame(frame) == b"\x01\x02\x03\x04"
    vec = pj.ByteVector(b"\x05\x06")
    give_frame(frame, vec)
    assert bytes(frame.buf) == b"\x05\x06"
    assert bytes(vec) == b"\x01\x02\x03\x04"  # a swap: vec now owns the frame's old buffer
    assert vector_bytes(pj.ByteVector(b"xyz")) == b"xyz" and vector_bytes(pj.ByteVector()) == b""


def test_play_goes_out_frame_by_frame_then_silence_and_playback_done():
    m, seen = media()
    m._refill(3)
    m.play(b"\x01\x00" * 200)  # 400 bytes: one full frame and one padded with silence
    assert m.playing and m.queued_seconds == pytest.approx(0.04)
    first, second = vector_bytes(m._pull()), vector_bytes(m._pull())
    assert first == b"\x01\x00" * 160
    assert second == b"\x01\x00" * 40 + bytes(240)
    assert seen == []
    assert vector_bytes(m._pull()) == bytes(320)  # ran dry: a spare silent frame
    assert [type(e) for e in seen] == [PlaybackDone] and not seen[0].interrupted
    assert not m.playing and m.frames_sent == 2
    m._pull(), m._pull()
    assert m._pull() is None  # no spare left: the port copies its shared silence
    assert len(seen) == 1


def test_stop_playback_clears_at_once_and_reports_interrupted():
    m, seen = media(16000)
    m.play(bytes(640 * 50))
    assert m.stop_playback() is True
    assert m.queued_seconds == 0 and not m.playing
    assert m._pull() is None
    assert len(seen) == 1 and seen[0].interrupted
    assert m.stop_playback() is False and len(seen) == 1  # nothing playing: no event


def test_received_frames_are_timestamped_on_the_media_clock_and_bounded():
    m, _ = media(max_frames=3)
    for i in range(5):
        m._push(bytes([i]) * 320)
    frames = m.read_frames()
    assert [f.pcm[0] for f in frames] == [2, 3, 4]  # the oldest were dropped
    assert m.frames_dropped == 2 and m.frames_received == 5
    t0 = frames[0].timestamp - 0.04
    assert [round(f.timestamp - t0, 3) for f in frames] == [0.04, 0.06, 0.08]
    assert {f.rate for f in frames} == {8000}
    assert m.read_frames() == []


def test_read_frames_waits_and_close_wakes_the_reader():
    m, _ = media()
    got: list[list[object]] = []
    reader = threading.Thread(target=lambda: got.append(m.read_frames(timeout=5)))
    reader.start()
    m._close()
    reader.join(2)
    assert got == [[]] and m.closed
    assert m.read_frames(timeout=1) == []  # stays closed, returns at once
    m.play(bytes(320))
    assert not m.playing  # nothing is queued on an ended call


def _frame(value: int) -> bytes:
    return value.to_bytes(2, "little", signed=True) * 160


def test_pause_keeps_the_place_resume_goes_on_after_a_rewind_and_nothing_is_reported():
    m, seen = media()
    m.play(b"".join(_frame(i + 1) for i in range(10)))
    sent = [vector_bytes(m._pull()) for _ in range(4)]
    assert sent == [_frame(i + 1) for i in range(4)]
    assert m.pause_playback() is True
    assert m.playing and m._pull() is None and m._pull() is None  # silence while paused
    m.play(_frame(99))  # a prompt queued meanwhile waits behind the paused one
    assert seen == [] and m.playing
    assert m.resume_playback(rewind=0.04) is True  # the last two frames sent are heard again
    out = [vector_bytes(m._pull()) for _ in range(9)]
    assert out == [_frame(3), _frame(4)] + [_frame(i + 1) for i in range(4, 10)] + [_frame(99)]
    m._pull()
    assert [type(e) for e in seen] == [PlaybackDone] and not seen[0].interrupted


def test_a_paused_prompt_can_be_stopped_and_resume_of_nothing_is_refused():
    m, seen = media()
    assert m.pause_playback() is False and m.resume_playback() is False
    m.play(bytes(320 * 5))
    m.pause_playback()
    assert m.stop_playback() is True and not m.playing
    assert [e.interrupted for e in seen] == [True]
    assert m.resume_playback() is False and m._pull() is None


def test_received_frames_carry_the_peak_of_the_bot_audio_sent_with_them():
    m, _ = media()
    m.play(_frame(1200) + _frame(-3000))
    m._pull()
    m._push(bytes(320))
    m._pull()
    m._push(bytes(320))
    m._pull()  # ran dry
    m._push(bytes(320))
    assert [f.played for f in m.read_frames()] == [1200, 3000, 0]
