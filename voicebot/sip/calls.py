"""The pjsua2 side of calls: `Account` and `Call` subclasses whose callbacks only emit events.

Internal to `voicebot.sip`; everything here lives on the endpoint's thread (pjsua2 runs with
`mainThreadOnly`, so its SIP callbacks arrive inside `libHandleEvents` on that thread). Each
callback reads what it needs from pjsua2, builds a frozen event (`voicebot.sip.events`) and
hands it to `Registry.emit`; the only pjsua2 calls made here are the ones a callback must make
on the spot (180 Ringing, 403 to a caller outside the allow-list, connecting the media port).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable

import pjsua2 as pj

from voicebot.sip.config import AllowList, SipConfig
from voicebot.sip.events import (
    CallAnswered,
    CallEnded,
    CallHeld,
    CallProgress,
    CallRefused,
    DtmfReceived,
    IncomingCall,
    MediaReady,
    Registered,
    SipEvent,
    TransferOutcome,
    TransferRequested,
)
from voicebot.sip.media import CallMedia, MediaPort

log = logging.getLogger(__name__)

_ids = itertools.count(1)


def new_call_id() -> str:
    """A process-unique call id: pid, a counter and a little randomness ('4711-3-9f2c')."""
    return f"{os.getpid()}-{next(_ids)}-{os.urandom(2).hex()}"


def x_headers(message: str) -> dict[str, str]:
    """The X- headers of a SIP message's header block (first occurrence of each name wins)."""
    headers: dict[str, str] = {}
    for line in message.split("\r\n\r\n", 1)[0].splitlines()[1:]:
        name, sep, value = line.partition(":")
        if sep and name[:2].lower() == "x-":
            headers.setdefault(name.strip(), value.strip())
    return headers


class Registry:
    """What the pjsua2 objects share: live calls by id, the allow-list, the event sink."""

    def __init__(self, emit: Callable[[SipEvent], None], config: SipConfig) -> None:
        self.emit = emit
        self.allow = AllowList(config.allow_from)
        self.rate = config.audio_rate
        self.max_call_seconds = config.max_call_seconds
        self.accept_refer = config.accept_refer
        self._next_sweep = 0.0
        self.calls: dict[str, SipCall] = {}
        self.ended: list[SipCall] = []  # disconnected; dropped on the next loop turn
        self.deferred: list[Callable[[], None]] = []  # run on the next loop turn
        self.account: SipAccount | None = None

    def defer(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the next loop turn, outside the pjsua2 callback we are in."""
        self.deferred.append(fn)

    def run_deferred(self) -> None:
        while self.deferred:
            fn = self.deferred.pop(0)
            try:
                fn()
            except pj.Error as exc:
                log.warning("deferred SIP action failed: %s", exc.reason)

    def hanging_up_all(self) -> None:
        """Mark every call as ended from our side (the endpoint is stopping)."""
        for call in self.calls.values():
            call.hung_up_here = True

    def sweep(self, now: float) -> None:
        """End every call older than `max_call_seconds`, however it started (a backstop)."""
        if not self.max_call_seconds or now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        for call in list(self.calls.values()):
            if call.disconnected or call.hung_up_here:
                continue
            if now - call.started_at > self.max_call_seconds:
                log.warning("call %s: up %.0f s, over the limit, ending it",
                            call.call_id, now - call.started_at)  # fmt: skip
                call.hung_up_here = True
                try:
                    _hangup(call, 0)
                except pj.Error as exc:
                    log.warning("call %s: hang-up failed: %s", call.call_id, exc.reason)

    def live_calls(self) -> int:
        return sum(not call.disconnected for call in self.calls.values())

    def refill(self) -> None:
        """Top up each call's silent frames (done here so the clock thread never builds any)."""
        for call in self.calls.values():
            if call.media is not None:
                call.media._refill()

    def reap(self, force: bool = False) -> None:
        """Drop calls that ended (never inside their own callback: pjsua2 is still using them).

        pjsua gives an ended call's slot to the next call at once, and `pj.Call`'s destructor
        acts on its slot, not on its call: it clears the slot's link to its Python object and
        hangs up whatever call holds the slot then. A caller's INVITE handled in the same poll
        as the end of another call, or our own INVITE sent just after, took that slot and was
        hung up unseen (603, no event). So an ended call's port goes at once, its object only
        once its slot is idle (`force`: the endpoint is stopping)."""
        keep: list[SipCall] = []
        while self.ended:
            call = self.ended.pop()
            self.calls.pop(call.call_id, None)
            call.release()
            if call.isActive() and not force:
                keep.append(call)  # its slot holds another call now
        self.ended = keep


class SipAccount(pj.Account):
    def __init__(self, registry: Registry) -> None:
        super().__init__()
        self.registry = registry

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        reg = self.registry
        source = prm.rdata.srcAddress
        call = SipCall(reg, self, "inbound", prm.callId)
        reg.calls[call.call_id] = call
        info = call.getInfo()
        if not reg.allow.allows(source):
            log.warning("refusing call from %s (%s): not in allow_from", source, info.remoteUri)
            call.refused = True
            # not inside this callback: a final response sent from here frees the INVITE's
            # cloned rx data, which pjsua frees again when the callback returns (an abort on
            # `pjsip_rx_data_free_cloned: Assertion 'rdata' failed` for an INVITE without
            # SDP or one over ~4 kB: tests/sip/test_sip_attacks.py)
            reg.defer(lambda: _hangup(call, 403))
            reg.emit(CallRefused(info.remoteUri, source, 403, at=time.monotonic()))
            return
        op = pj.CallOpParam()
        op.statusCode = 180
        call.answer(op)
        log.info("incoming call %s from %s (%s)", call.call_id, info.remoteUri, source)
        reg.emit(
            IncomingCall(
                call.call_id,
                info.remoteUri,
                info.localUri,
                source,
                sip_call_id=info.callIdString,
                headers=x_headers(prm.rdata.wholeMsg),
                at=time.monotonic(),
            )
        )

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        log.info("registration: %s %s (expires %s)", prm.code, prm.reason, prm.expiration)
        self.registry.emit(Registered(prm.code, prm.reason, prm.expiration, at=time.monotonic()))


class SipCall(pj.Call):
    def __init__(
        self,
        registry: Registry,
        account: pj.Account,
        direction: str,
        pj_call_id: int = pj.PJSUA_INVALID_ID,
    ) -> None:
        super().__init__(account, pj_call_id)
        self.registry = registry
        self.account = account
        self.call_id = new_call_id()
        self.direction = direction
        self.media: CallMedia | None = None
        self.port: MediaPort | None = None
        self.confirmed = False
        self.held = False
        self.hold_asked = False  # we sent the (un)hold re-INVITE
        self.media_ready: MediaReady | None = None  # held back until the call is confirmed
        self.hung_up_here = False
        self.refused = False
        self.disconnected = False
        self.started_at = time.monotonic()
        # the call id of the call joined to this one's audio (a warm transfer); an id, not the
        # object: two calls holding each other would outlive their reaping, and a pj.Call freed
        # late, by the garbage collector, aborts pjsua ("pjsua_call_set_user_data: Assertion")
        self.bridged: str | None = None

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        now = time.monotonic()
        emit = self.registry.emit
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.confirmed:
            self.confirmed = True
            emit(CallAnswered(self.call_id, self.direction, at=now))
            if self.media_ready is not None:
                emit(self.media_ready)
        elif info.state in (pj.PJSIP_INV_STATE_EARLY, pj.PJSIP_INV_STATE_CALLING):
            if self.direction == "outbound" and info.lastStatusCode:
                emit(CallProgress(self.call_id, info.lastStatusCode, info.lastReason, at=now))
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.disconnected:
            self.disconnected = True
            if self.media is not None:
                self.media._close()
            self.registry.ended.append(self)
            if self.refused:
                return
            by = "local" if self.hung_up_here else "remote"
            log.info(
                "call %s ended by %s: %s %s",
                self.call_id,
                by,
                info.lastStatusCode,
                info.lastReason,
            )
            emit(CallEnded(self.call_id, info.lastReason, info.lastStatusCode, by, at=now))

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        for mi in info.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            self._hold_changed(mi.status)
            if mi.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                return
            audio = self.getAudioMedia(mi.index)
            first = self.port is None
            if first:
                self.media = CallMedia(self.call_id, self.registry.rate, self.registry.emit)
                self.port = MediaPort(self.media)
            assert self.port is not None and self.media is not None
            peer = self.registry.calls.get(self.bridged) if self.bridged else None
            if peer is not None and not peer.disconnected:  # a re-INVITE of a joined call
                audio.startTransmit(peer.getAudioMedia(-1))
                peer.getAudioMedia(-1).startTransmit(audio)
                return
            audio.startTransmit(self.port)
            self.port.startTransmit(audio)
            if first:
                stream = self.getStreamInfo(mi.index)
                codec = f"{stream.codecName}/{stream.codecClockRate}"
                log.info("call %s media ready (%s)", self.call_id, codec)
                # audio sent before the far end has our 200 OK (or we its ACK) can be lost:
                # MediaReady waits for the call to be confirmed, so it follows CallAnswered
                self.media_ready = MediaReady(self.call_id, self.media, codec, at=time.monotonic())
                if self.confirmed:
                    self.registry.emit(self.media_ready)
            return

    def bridge_to(self, other: SipCall) -> None:
        """Send this call's audio to `other` (and stop feeding our media port with it, and
        it with ours); `other.bridge_to(self)` makes it two-way."""
        audio = self.getAudioMedia(-1)
        if self.port is not None:
            audio.stopTransmit(self.port)
            self.port.stopTransmit(audio)
        self.bridged = other.call_id
        audio.startTransmit(other.getAudioMedia(-1))

    def _hold_changed(self, status: int) -> None:
        held = status in (pj.PJSUA_CALL_MEDIA_LOCAL_HOLD, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD)
        if held == self.held or self.port is None:
            return
        self.held = held
        by = "local" if status == pj.PJSUA_CALL_MEDIA_LOCAL_HOLD or self.hold_asked else "remote"
        self.hold_asked = False
        log.info("call %s %s by %s", self.call_id, "held" if held else "resumed", by)
        self.registry.emit(CallHeld(self.call_id, held, by, at=time.monotonic()))

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        method = "info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
        duration = prm.duration if prm.duration < 60_000 else 0  # (unsigned)-1 = unknown
        self.registry.emit(
            DtmfReceived(self.call_id, prm.digit, method, duration, at=time.monotonic())
        )

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        log.info(
            "call %s transfer: %s %s%s",
            self.call_id,
            prm.statusCode,
            prm.reason,
            " (final)" if prm.finalNotify else "",
        )
        self.registry.emit(
            TransferOutcome(
                self.call_id, prm.statusCode, prm.reason, prm.finalNotify, at=time.monotonic()
            )
        )
        prm.cont = not prm.finalNotify

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        # A REFER from the far end would have the bot INVITE whatever its Refer-To says (a
        # premium number, the PBX, a listener collecting our digest answer) in a call no flow
        # runs: refused unless `accept_refer` (the scripted softphone, a transferee in tests).
        if not self.registry.accept_refer:
            log.warning("call %s: refusing REFER to %s from the far end", self.call_id, prm.dstUri)
            prm.statusCode = 403
            return
        # we are the transferee: pjsua2 places the new call through the object we hand it
        new = SipCall(self.registry, self.account, "outbound")
        self.registry.calls[new.call_id] = new
        prm.newCall = new
        log.info("call %s transferred to %s as %s", self.call_id, prm.dstUri, new.call_id)
        self.registry.emit(
            TransferRequested(self.call_id, prm.dstUri, new.call_id, at=time.monotonic())
        )

    def release(self) -> None:
        """Destroy and drop the media port (endpoint thread, after the call ended).

        The C++ port is destroyed first, while its Python object is whole: its destructor
        takes it off the conference bridge (waiting, with the GIL released, for a clock tick
        in progress). Dropping the last reference instead tore the Python object down first,
        and the clock thread, which calls every registered port each tick, could call into the
        half-freed object ("'MediaPort' object has no attribute 'media'", then SIGSEGV: once
        in ~170 calls of bench/campaign_bench.py)."""
        port, self.port = self.port, None
        if port is not None and port.thisown:
            pj.AudioMediaPort.__swig_destroy__(port)  # disowns it: no second delete later


def _hangup(call: pj.Call, status_code: int) -> None:
    op = pj.CallOpParam()
    op.statusCode = status_code
    call.hangup(op)
