"""A call's audio: 20 ms PCM16 frames in from the caller, bot audio out, barge-in in one call.

API (`CallMedia` is safe to use from any thread; it never calls pjsua2)::

    class CallMedia:
        call_id: str
        rate: int                      # 8000 or 16000 (SipConfig.audio_rate)
        read_frames(timeout: float | None = 0.0) -> list[Frame]
            # every frame received since the last call, oldest first; waits up to `timeout`
            # seconds (None: forever) for the first one; [] on timeout or once the call ended
        play(pcm: bytes) -> None       # queue PCM16 at `rate`; goes out 20 ms at a time
        stop_playback() -> bool        # drop what is queued now (barge-in); True if any was
        playing -> bool                # something queued or going out
        queued_seconds -> float
        closed -> bool                 # the call ended
        frames_received, frames_sent, frames_dropped -> int   # counters

When the playback queue runs dry, a `PlaybackDone(call_id)` event goes to the endpoint's event
queue; `stop_playback()` sends `PlaybackDone(call_id, interrupted=True)` instead.

Received frames are timestamped on the media clock: the first frame's `time.monotonic()` plus
20 ms per frame after it, so timestamps are exactly regular even when the clock thread is late.
The receive queue holds `max_frames` (10 s by default); older frames are dropped and counted.

The thread rule: `MediaPort` (a pjsua2 `AudioMediaPort`) is created, connected and destroyed
on the endpoint's thread; its two callbacks run on PJSIP's media clock thread, every 20 ms per
call, holding the GIL, so they only move bytes between the frame and `CallMedia`'s queues:

    onFrameReceived   caller's 20 ms -> receive queue (ctypes copy out of the C++ vector)
    onFrameRequested  next queued 20 ms (a ByteVector built by `play`) -> frame, or silence

`play()` cuts audio into frames and builds their pjsua2 `ByteVector`s on the caller's thread,
so the clock thread only assigns one. Reading a `ByteVector` with `bytes(vec)` iterates in
Python (~120 us for 320 bytes); `vector_bytes` reads the vector's buffer with ctypes (~2 us),
after checking at import that the C++ layout is the expected one (else it falls back).
bench/sip_media_bench.py measures both callbacks.
"""

from __future__ import annotations

import ctypes
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable

import pjsua2 as pj

from voicebot.audio.frames import FRAME_MS, Frame, bytes_per_frame
from voicebot.sip.events import PlaybackDone, SipEvent

log = logging.getLogger(__name__)

_VOID_PP = ctypes.POINTER(ctypes.c_void_p)


def _vector_bytes_ctypes(vec: pj.ByteVector) -> bytes:
    # std::vector<unsigned char> is {begin, end, end_of_storage} in libstdc++ and libc++
    ptrs = ctypes.cast(int(vec.this), _VOID_PP)
    begin = ptrs[0]
    if not begin:
        return b""
    return ctypes.string_at(begin, ptrs[1] - begin)


def _vector_bytes_slow(vec: pj.ByteVector) -> bytes:
    return bytes(vec)


def _pick_vector_reader() -> Callable[[pj.ByteVector], bytes]:
    probe = bytes(range(256)) * 2 + b"\x00\x7f\xff"
    try:
        if _vector_bytes_ctypes(pj.ByteVector(probe)) == probe and not _vector_bytes_ctypes(
            pj.ByteVector()
        ):
            return _vector_bytes_ctypes
    except Exception:  # any surprise in the layout: use the slow, safe path
        log.debug("ByteVector layout check failed", exc_info=True)
    log.warning("pjsua2 ByteVector layout not recognised: using the slow copy (~120 us/frame)")
    return _vector_bytes_slow


vector_bytes: Callable[[pj.ByteVector], bytes] = _pick_vector_reader()
"""Copy a pjsua2 `ByteVector`'s contents into `bytes` (fast path when the layout allows)."""


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
        self._received: queue.SimpleQueue[tuple[int, bytes] | None] = queue.SimpleQueue()
        self._outgoing: deque[pj.ByteVector] = deque()
        self._lock = threading.Lock()  # guards _playing transitions only
        self._playing = False
        self._silence = pj.ByteVector(bytes(self.frame_bytes))
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
            index, pcm = item
            frames.append(Frame(pcm, self.rate, t0 + index * step))
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
        chunks = [pj.ByteVector(pcm[i : i + size]) for i in range(0, len(pcm), size)]
        with self._lock:
            self._outgoing.extend(chunks)
            self._playing = True

    def stop_playback(self) -> bool:
        with self._lock:
            was_playing = self._playing
            self._outgoing.clear()
            self._playing = False
        if was_playing:
            self._notify(PlaybackDone(self.call_id, interrupted=True, at=time.monotonic()))
        return was_playing

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def queued_seconds(self) -> float:
        return len(self._outgoing) * FRAME_MS / 1000.0

    # -- media clock thread (through MediaPort) ---------------------------------------------

    def _push(self, pcm: bytes) -> None:
        if self._t0 is None:
            self._t0 = time.monotonic()
        self._received.put((self.frames_received, pcm))
        self.frames_received += 1
        if self._received.qsize() > self._max_frames:
            try:
                self._received.get_nowait()
                self.frames_dropped += 1
            except queue.Empty:
                pass

    def _pull(self) -> pj.ByteVector:
        try:
            chunk = self._outgoing.popleft()
        except IndexError:
            if self._playing:
                with self._lock:
                    done = self._playing and not self._outgoing
                    if done:
                        self._playing = False
                if done:
                    self._notify(PlaybackDone(self.call_id, at=time.monotonic()))
            return self._silence
        self.frames_sent += 1
        return chunk

    # -- endpoint thread ---------------------------------------------------------------------

    def _close(self) -> None:
        """The call ended: drop playback, wake a blocked reader."""
        self.closed = True
        with self._lock:
            self._outgoing.clear()
            self._playing = False
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
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
            self.media._push(vector_bytes(frame.buf))
        else:
            self.media._push(bytes(self.media.frame_bytes))

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = self.media._pull()
