"""A call's audio: 20 ms PCM16 frames in from the caller, bot audio out, barge-in in one call.

API (`CallMedia` is safe to use from any thread; it never calls pjlib, it only builds
pjsua2 `ByteVector` containers)::

    class CallMedia:
        call_id: str
        rate: int                      # 8000 or 16000 (SipConfig.audio_rate)
        read_frames(timeout: float | None = 0.0) -> list[Frame]
            # every frame received since the last call, oldest first; waits up to `timeout`
            # seconds (None: forever) for the first one; [] on timeout or once the call ended
        play(pcm: bytes) -> None       # queue PCM16 at `rate`; goes out 20 ms at a time
        stop_playback() -> bool        # drop what is queued now (barge-in); True if any was
        pause_playback() -> bool       # silence it, keeping what is queued; True if it played
        resume_playback(rewind: float = 0.0) -> bool   # go on, `rewind` s before the pause
        playing -> bool                # something queued or going out (or paused)
        queued_seconds -> float
        closed -> bool                 # the call ended
        frames_received, frames_sent, frames_dropped -> int   # counters

When the playback queue runs dry, a `PlaybackDone(call_id)` event goes to the endpoint's event
queue; `stop_playback()` sends `PlaybackDone(call_id, interrupted=True)` instead. A pause sends
nothing: the queue is set aside whole (audio `play`ed meanwhile joins it) and put back by
`resume_playback`, after the last `rewind` seconds sent before the pause (at most
`REWIND_FRAMES`).

Each received `Frame` carries `played`: the peak (PCM16 units) of the bot frame sent at the
latest tick, for the listener's echo test; `play` measures the peaks (numpy, on the caller's
thread), the clock thread only copies one int per frame.

Received frames are timestamped on the media clock: the first frame's `time.monotonic()` plus
20 ms per frame after it, so timestamps are exactly regular even when the clock thread is late.
The receive queue holds `max_frames` (10 s by default); older frames are dropped and counted.

The thread rule: `MediaPort` (a pjsua2 `AudioMediaPort`) is created, connected and destroyed
on the endpoint's thread; its two callbacks run on PJSIP's media clock thread, every 20 ms per
call, holding the GIL, so they only move bytes between the frame and `CallMedia`'s queues:

    onFrameReceived   caller's 20 ms -> receive queue (ctypes copy out of the C++ vector)
    onFrameRequested  next queued 20 ms (a ByteVector built by `play`) -> frame, or silence

Each SWIG call releases the GIL and takes it back, and taking it back waits up to
`sys.getswitchinterval()` (5 ms) while another thread runs Python; so the callbacks make as few
as they can. `play()` cuts audio into frames and builds their `ByteVector`s on the caller's
thread, and the endpoint thread keeps a few silent ones ready; the clock thread hands one to
the frame by swapping the std::vector's three pointers with ctypes (~1 us, no SWIG call).
Frames are read with ctypes straight from pj::MediaFrame's memory (type, then the vector's
begin/end): `bytes(frame.buf)` iterates in Python and costs ~120-230 us per frame, the ctypes
read ~1 us. So neither callback makes a SWIG call on the fast path.
The memory layout is checked at import and, if it is not the expected one, the slow SWIG path
is used (FAST_FRAMES says which). bench/sip_media_bench.py measures all of this.
"""

from __future__ import annotations

import ctypes
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np
import pjsua2 as pj

from voicebot.audio.frames import FRAME_MS, Frame, bytes_per_frame
from voicebot.sip.events import PlaybackDone, SipEvent

REWIND_FRAMES = 50  # sent frames (1 s) kept for `resume_playback(rewind)`

log = logging.getLogger(__name__)

_AUDIO = pj.PJMEDIA_FRAME_TYPE_AUDIO
_int = ctypes.c_int.from_address
_Vector = ctypes.c_size_t * 3  # begin, end, end_of_storage as plain integers
# pj::MediaFrame is {pjmedia_frame_type type; ByteVector buf; unsigned size}; the vector is
# {begin, end, end_of_storage} (libstdc++). Checked by _layout_ok() before it is relied on.
_BUF_OFFSET = 8


def _bytes_at(vector_addr: int) -> bytes:
    """The contents of the std::vector<unsigned char> at `vector_addr`."""
    begin, end = _Vector.from_address(vector_addr)[:2]
    return ctypes.string_at(begin, end - begin) if begin else b""


def _vector_bytes_ctypes(vec: pj.ByteVector) -> bytes:
    return _bytes_at(int(vec.this))


def _vector_bytes_slow(vec: pj.ByteVector) -> bytes:
    return bytes(vec)


def _read_fast(frame: pj.MediaFrame) -> bytes | None:
    base = int(frame.this)
    if _int(base).value != _AUDIO:
        return None
    return _bytes_at(base + _BUF_OFFSET)


def _read_slow(frame: pj.MediaFrame) -> bytes | None:
    return bytes(frame.buf) if frame.type == _AUDIO else None


def _give_fast(frame: pj.MediaFrame, vec: pj.ByteVector) -> None:
    """std::vector swap by hand: the frame takes `vec`'s buffer, `vec` the frame's old one."""
    base = int(frame.this)
    ours = _Vector.from_address(base + _BUF_OFFSET)
    theirs = _Vector.from_address(int(vec.this))
    for i in range(3):  # (ctypes.memmove would release the GIL: it is a foreign call)
        ours[i], theirs[i] = theirs[i], ours[i]
    _int(base).value = _AUDIO


def _write_slow(frame: pj.MediaFrame, vec: pj.ByteVector) -> None:
    frame.buf = vec
    frame.type = _AUDIO


def _layout_ok() -> bool:
    probe = bytes(range(256)) * 2 + b"\x00\x7f\xff"
    try:
        frame = pj.MediaFrame()
        frame.buf = pj.ByteVector(probe)
        if _read_fast(frame) is not None:  # type NONE must read as "no audio"
            return False
        frame.type = _AUDIO
        if _read_fast(frame) != probe or _vector_bytes_ctypes(pj.ByteVector(probe)) != probe:
            return False
        out, vec = pj.MediaFrame(), pj.ByteVector(b"\x01\x02")
        _give_fast(out, vec)
        return out.type == _AUDIO and bytes(out.buf) == b"\x01\x02" and len(vec) == 0
    except Exception:  # any surprise in the layout: use the slow, safe path
        log.debug("pjsua2 MediaFrame layout check failed", exc_info=True)
        return False


FAST_FRAMES = _layout_ok()
if not FAST_FRAMES:
    log.warning("pjsua2 MediaFrame layout not recognised: slow frame copies (~150 us each)")
read_frame: Callable[[pj.MediaFrame], bytes | None] = _read_fast if FAST_FRAMES else _read_slow
"""The PCM of a MediaFrame, or None when it carries no audio (ctypes: no SWIG call)."""
give_frame: Callable[[pj.MediaFrame, pj.ByteVector], None] = (
    _give_fast if FAST_FRAMES else _write_slow
)
"""Hand a ByteVector's buffer to a MediaFrame as audio (a swap: `vec` gets the frame's old,
in a callback empty, buffer); no SWIG call on the fast path."""
vector_bytes: Callable[[pj.ByteVector], bytes] = (
    _vector_bytes_ctypes if FAST_FRAMES else _vector_bytes_slow
)
"""Copy a pjsua2 ByteVector's contents into bytes."""


class CallMedia:
    """Thread-safe audio queues of one call; see the module docstring."""

    def __init__(
        self,
        call_id: str,
        rate: int,
        notify: Callable[[SipEvent], None] | None = None,
        max_frames: int = 500,
    ) -> None:
        self.call_id = call_id
        self.rate = rate
        self.frame_bytes = bytes_per_frame(rate)
        self._notify = notify or (lambda event: None)
        self._max_frames = max_frames
        self._received: queue.SimpleQueue[tuple[int, bytes, int] | None] = queue.SimpleQueue()
        # (frame, its peak, its PCM): the PCM is kept to replay it after a pause (rewind)
        self._outgoing: deque[tuple[pj.ByteVector, int, bytes]] = deque()
        self._held: deque[tuple[pj.ByteVector, int, bytes]] = deque()  # set aside by a pause
        self._sent: deque[tuple[pj.ByteVector, int, bytes]] = deque(maxlen=REWIND_FRAMES)
        self._lock = threading.Lock()  # guards _playing / _paused transitions only
        self._playing = False
        self._paused = False
        self._played_peak = 0  # peak of the frame sent at the latest tick
        self.silence = bytes(self.frame_bytes)
        self._silence = pj.ByteVector(self.silence)  # copied into frames when _spare is empty
        self._spare: deque[pj.ByteVector] = deque()  # silent frames, used up one per tick
        # emptied vectors wait here to be freed on the endpoint thread: freeing one is a SWIG
        # call, which would let go of the GIL inside the clock thread's callback
        self._used: deque[pj.ByteVector] = deque()
        self._t0: float | None = None
        self.closed = False
        self.frames_received = 0
        self.frames_sent = 0
        self.frames_dropped = 0

    # -- any thread ------------------------------------------------------------------------

    def read_frames(self, timeout: float | None = 0.0) -> list[Frame]:
        frames: list[Frame] = []
        try:
            if timeout == 0:
                item = self._received.get_nowait()
            else:
                item = self._received.get(timeout=timeout)
        except queue.Empty:
            return frames
        step = FRAME_MS / 1000.0
        t0 = self._t0 or 0.0
        while item is not None:
            index, pcm, played = item
            frames.append(Frame(pcm, self.rate, t0 + index * step, played))
            try:
                item = self._received.get_nowait()
            except queue.Empty:
                return frames
        self._received.put(None)  # the end marker stays for the next reader
        return frames

    def play(self, pcm: bytes) -> None:
        if self.closed or not pcm:
            return
        size = self.frame_bytes
        if len(pcm) % size:
            pcm = pcm + bytes(size - len(pcm) % size)
        samples = np.frombuffer(pcm, "<i2").astype(np.int32).reshape(-1, size // 2)
        peaks = np.abs(samples).max(axis=1).tolist()
        chunks = [
            (pj.ByteVector(pcm[i * size : (i + 1) * size]), peak, pcm[i * size : (i + 1) * size])
            for i, peak in enumerate(peaks)
        ]
        with self._lock:
            if self._paused:
                self._held.extend(chunks)
                return
            if not self._playing:
                self._sent.clear()  # a new playback: nothing before it is replayed
            self._outgoing.extend(chunks)
            self._playing = True

    def pause_playback(self) -> bool:
        with self._lock:
            if not self._playing:
                return False
            # the clock thread may still take one frame from the old queue: it is just sent
            self._held, self._outgoing = self._outgoing, deque()
            self._playing, self._paused = False, True
        return True

    def resume_playback(self, rewind: float = 0.0) -> bool:
        frames = min(round(rewind * 1000 / FRAME_MS), len(self._sent))
        sent = list(self._sent)[len(self._sent) - frames :]
        again = [(pj.ByteVector(pcm), peak, pcm) for _, peak, pcm in sent]
        with self._lock:
            if not self._paused:
                return False
            held = deque(again)
            held.extend(self._held)
            held.extend(self._outgoing)
            self._held = deque()
            self._paused = False
            if not held:
                return False
            self._outgoing = held
            self._playing = True
        return True

    def stop_playback(self) -> bool:
        with self._lock:
            was_playing = self._playing or self._paused
            self._outgoing.clear()
            self._held.clear()
            self._playing = self._paused = False
        if was_playing:
            self._notify(PlaybackDone(self.call_id, interrupted=True, at=time.monotonic()))
        return was_playing

    @property
    def playing(self) -> bool:
        return self._playing or self._paused

    @property
    def queued_seconds(self) -> float:
        return (len(self._outgoing) + len(self._held)) * FRAME_MS / 1000.0

    # -- media clock thread (through MediaPort) ---------------------------------------------

    def _push(self, pcm: bytes) -> None:
        if self._t0 is None:
            self._t0 = time.monotonic()
        self._received.put((self.frames_received, pcm, self._played_peak))
        self.frames_received += 1
        if self._received.qsize() > self._max_frames:
            try:
                self._received.get_nowait()
                self.frames_dropped += 1
            except queue.Empty:
                pass

    def _pull(self) -> pj.ByteVector | None:
        """The next frame to send, used up by the caller; None: copy `_silence` instead."""
        try:
            item = self._outgoing.popleft()
        except IndexError:
            self._played_peak = 0
            if self._playing:
                with self._lock:
                    done = self._playing and not self._outgoing
                    if done:
                        self._playing = False
                if done:
                    self._notify(PlaybackDone(self.call_id, at=time.monotonic()))
            try:
                return self._spare.popleft()
            except IndexError:
                return None
        self.frames_sent += 1
        self._sent.append(item)
        self._played_peak = item[1]
        return item[0]

    # -- endpoint thread ---------------------------------------------------------------------

    def _refill(self, count: int = 10) -> None:
        """Keep `count` silent frames ready and free the used ones, off the clock thread."""
        self._used.clear()
        while len(self._spare) < count and not self.closed:
            self._spare.append(pj.ByteVector(self.silence))

    def _close(self) -> None:
        """The call ended: drop playback, wake a blocked reader."""
        self.closed = True
        with self._lock:
            self._outgoing.clear()
            self._held.clear()
            self._playing = self._paused = False
        self._received.put(None)


class MediaPort(pj.AudioMediaPort):
    """The pjsua2 side of `CallMedia`: a conference-bridge port with two byte-moving callbacks.

    Create, connect and drop it on the endpoint's thread only.
    """

    def __init__(self, media: CallMedia) -> None:
        super().__init__()
        self.media = media
        fmt = pj.MediaFormatAudio()
        fmt.type = pj.PJMEDIA_TYPE_AUDIO
        fmt.id = pj.PJMEDIA_FORMAT_L16
        fmt.clockRate = media.rate
        fmt.channelCount = 1
        fmt.bitsPerSample = 16
        fmt.frameTimeUsec = FRAME_MS * 1000
        fmt.avgBps = fmt.maxBps = media.rate * 16
        self.createPort(f"call-{media.call_id}", fmt)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        pcm = read_frame(frame)
        self.media._push(pcm if pcm is not None else self.media.silence)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        vec = self.media._pull()
        if vec is None:
            _write_slow(frame, self.media._silence)
        else:
            give_frame(frame, vec)
            self.media._used.append(vec)
