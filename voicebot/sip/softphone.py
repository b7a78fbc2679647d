"""A scripted caller on pjsua2: dial, speak a WAV, press keys, record what comes back, hang up.

Used by the SIP tests and by `voicebot call URI`. It runs its own `SipEndpoint` (so, like any
pjsua2 user, one `Softphone` per process) and a pump thread that turns the endpoint's events
into per-call state and keeps every received frame as the call's recording.

API::

    class Softphone:
        __init__(config: SipConfig | None = None)   # default: 127.0.0.1, any free port
        start() -> Softphone ; stop() ; context manager (start on enter, stop on exit)
        endpoint -> SipEndpoint
        dial(uri: str, headers: Mapping[str, str] | None = None) -> SoftphoneCall  # at once

    class SoftphoneCall:
        call_id: str
        progress: list[int]              # provisional statuses seen (180, 183)
        answered: bool ; ended: CallEnded | None ; codec: str ; rate: int
        dtmf: str                        # keys received from the far end, in order
        transferred_to: SoftphoneCall | None   # the call placed after a REFER
        wait_answered(timeout: float = 10.0) -> bool    # False: it ended, or timed out
        wait_ended(timeout: float = 10.0) -> CallEnded | None
        wait_media(timeout: float = 10.0) -> bool
        wait_transferred(timeout: float = 10.0) -> SoftphoneCall | None
        play_pcm(pcm: bytes, rate: int, wait: bool = True, timeout: float = 60.0) -> None
        play_wav(path, wait: bool = True, timeout: float = 60.0) -> None  # resampled to `rate`
        send_dtmf(digits: str, method: str = "rfc4733") -> None
        hold() -> None ; unhold() -> None  # re-INVITE; `held` follows the CallHeld events
        held: bool
        hangup() -> None                 # CANCEL before answer, BYE after
        recording() -> bytes             # PCM16 at `rate`, every frame received so far
        save_recording(path) -> None     # as a mono WAV
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
from collections.abc import Callable, Mapping

from voicebot.audio.resample import resample
from voicebot.audio.wav import read_wav, write_wav
from voicebot.sip import events as ev
from voicebot.sip.config import SipConfig
from voicebot.sip.endpoint import SipEndpoint
from voicebot.sip.media import CallMedia

log = logging.getLogger(__name__)


class SoftphoneCall:
    """One call placed by a `Softphone`; its state is filled in by the softphone's pump."""

    def __init__(self, phone: Softphone, call_id: str) -> None:
        self._phone = phone
        self._cond = phone._cond
        self.call_id = call_id
        self.progress: list[int] = []
        self.answered = False
        self.ended: ev.CallEnded | None = None
        self.media: CallMedia | None = None
        self.codec = ""
        self.dtmf = ""
        self.held = False
        self.transferred_to: SoftphoneCall | None = None
        self._playback_done = 0
        self._chunks: list[bytes] = []

    @property
    def rate(self) -> int:
        return self._phone.endpoint.config.audio_rate

    def _wait(self, ready: Callable[[], object], timeout: float) -> bool:
        with self._cond:
            return bool(self._cond.wait_for(ready, timeout))

    def wait_answered(self, timeout: float = 10.0) -> bool:
        self._wait(lambda: self.answered or self.ended, timeout)
        return self.answered and self.ended is None

    def wait_ended(self, timeout: float = 10.0) -> ev.CallEnded | None:
        self._wait(lambda: self.ended, timeout)
        return self.ended

    def wait_media(self, timeout: float = 10.0) -> bool:
        return self._wait(lambda: self.media is not None or self.ended, timeout) and bool(
            self.media
        )

    def wait_transferred(self, timeout: float = 10.0) -> SoftphoneCall | None:
        self._wait(lambda: self.transferred_to, timeout)
        return self.transferred_to

    def play_pcm(self, pcm: bytes, rate: int, wait: bool = True, timeout: float = 60.0) -> None:
        if not self.wait_media(timeout):
            raise RuntimeError(f"call {self.call_id} has no audio to play into")
        assert self.media is not None
        with self._cond:
            done_before = self._playback_done
        self.media.play(resample(pcm, rate, self.rate))
        if wait:
            self._wait(lambda: self._playback_done > done_before or self.ended, timeout)

    def play_wav(
        self, path: str | os.PathLike[str], wait: bool = True, timeout: float = 60.0
    ) -> None:
        pcm, rate = read_wav(path)
        self.play_pcm(pcm, rate, wait=wait, timeout=timeout)

    def send_dtmf(self, digits: str, method: str = "rfc4733") -> None:
        self._phone.endpoint.send_dtmf(self.call_id, digits, method)

    def hold(self) -> None:
        self._phone.endpoint.hold(self.call_id, True)

    def unhold(self) -> None:
        self._phone.endpoint.hold(self.call_id, False)

    def hangup(self) -> None:
        if self.ended is None:
            self._phone.endpoint.hangup(self.call_id)

    def recording(self) -> bytes:
        self._phone._collect()
        with self._cond:
            return b"".join(self._chunks)

    def save_recording(self, path: str | os.PathLike[str]) -> None:
        write_wav(path, self.recording(), self.rate)


class Softphone:
    """A scripted SIP caller with its own endpoint and event pump; see the module docstring."""

    def __init__(self, config: SipConfig | None = None) -> None:
        # a softphone is a caller: it follows the bot's REFER like a phone would
        config = config or SipConfig(port=0, user="softphone")
        self.endpoint = SipEndpoint(dataclasses.replace(config, accept_refer=True))
        self._cond = threading.Condition()
        self._calls: dict[str, SoftphoneCall] = {}
        self._pump: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> Softphone:
        self.endpoint.start()
        self._pump = threading.Thread(target=self._run, name="softphone-pump", daemon=True)
        self._pump.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._pump is not None:
            self._pump.join(5.0)
        self.endpoint.stop()

    def __enter__(self) -> Softphone:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dial(self, uri: str, headers: Mapping[str, str] | None = None) -> SoftphoneCall:
        with self._cond:  # hold the pump off until the call is known
            call_id = self.endpoint.make_call(uri, headers)
            call = self._calls[call_id] = SoftphoneCall(self, call_id)
        log.info("dialled %s as %s", uri, call_id)
        return call

    def _run(self) -> None:
        events = self.endpoint.events()
        while not self._stop.is_set():
            try:
                event = events.get(timeout=0.02)
            except queue.Empty:
                event = None
            if event is not None:
                with self._cond:
                    self._apply(event)
                    self._cond.notify_all()
            self._collect()

    def _collect(self) -> None:
        with self._cond:
            for call in self._calls.values():
                if call.media is not None:
                    call._chunks.extend(f.pcm for f in call.media.read_frames())

    def _apply(self, event: ev.SipEvent) -> None:
        if isinstance(event, ev.CallRefused | ev.Registered):
            return
        if isinstance(event, ev.IncomingCall):  # a softphone only calls out
            log.info("softphone refuses incoming call %s", event.call_id)
            self.endpoint.hangup(event.call_id, 486)
            return
        call = self._calls.get(event.call_id)
        if call is None:
            return
        if isinstance(event, ev.CallProgress):
            call.progress.append(event.status_code)
        elif isinstance(event, ev.CallAnswered):
            call.answered = True
        elif isinstance(event, ev.MediaReady):
            call.media, call.codec = event.media, event.codec
        elif isinstance(event, ev.PlaybackDone):
            call._playback_done += 1
        elif isinstance(event, ev.DtmfReceived):
            call.dtmf += event.digit
        elif isinstance(event, ev.CallHeld):
            call.held = event.held
        elif isinstance(event, ev.TransferRequested):
            new = self._calls[event.new_call_id] = SoftphoneCall(self, event.new_call_id)
            call.transferred_to = new
        elif isinstance(event, ev.CallEnded):
            if call.media is not None:
                call._chunks.extend(f.pcm for f in call.media.read_frames())
            call.ended = event
