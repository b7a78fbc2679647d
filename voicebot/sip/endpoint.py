"""`SipEndpoint`: the one thread of a process that owns pjsua2, and its command interface.

API::

    class SipEndpoint:
        __init__(config: SipConfig | None = None)
        start(timeout: float = 10.0) -> None    # thread up, transports bound, account added
        stop(timeout: float = 10.0) -> None     # hang up every call, destroy pjsua2, join
        events() -> queue.Queue[SipEvent]       # what happened (voicebot.sip.events)
        port -> int                             # the bound SIP port (UDP and TCP)
        uri -> str                              # e.g. "sip:voicebot@127.0.0.1:5060"

        answer(call_id: str, status_code: int = 200) -> None
        hangup(call_id: str, status_code: int = 0) -> None
            # before answer: the final response (0 = 603 Decline; outbound: CANCEL);
            # after: BYE; a call that already ended is left alone (no error)
        make_call(uri: str, headers: Mapping[str, str] | None = None) -> str   # the call_id
        send_dtmf(call_id: str, digits: str, method: str = "rfc4733") -> None  # or "info"
        transfer(call_id: str, target: str, headers: Mapping[str, str] | None = None) -> None
            # blind transfer by REFER; `headers` (X-...) go in the REFER and, as URI headers
            # of Refer-To, into the INVITE the transferee sends to `target`. Progress comes
            # back as TransferOutcome events; hanging up after a final 2xx is the caller's call.
        hold(call_id: str, on: bool = True) -> None   # re-INVITE sendonly / back to sendrecv
        bridge(call_a: str, call_b: str) -> None
            # join two calls on pjsua2's conference bridge: each one's audio goes to the other,
            # and neither hears nor feeds the bot's media port any more (a warm transfer)
        calls_in_use() -> int                   # calls holding one of pjsua2's slots
        media(call_id: str) -> CallMedia | None # also handed out in MediaReady

    SipError (voicebot.errors)                  # a command pjsua2 refused, or start failed

Thread rules. pjsua2 allows one `Endpoint` per process, and this class keeps every pjsua2 call
on one thread of its own ("pjsua2 thread"): it creates the library with `threadCnt = 0` and
`mainThreadOnly = True`, polls `libHandleEvents(10)` and, between polls, runs commands that
other threads put on its command queue (each command method blocks until its command ran, at
most ~10 ms plus the work). pjsua2's callbacks run inside that poll and only emit events onto
`events()`. The media callbacks run on PJSIP's clock thread and only move bytes
(`voicebot.sip.media`). Incoming calls get 180 Ringing at once; calls from sources outside
`allow_from` get 403 and a `CallRefused` event; beyond 4 calls pjsua2 answers 486 by itself.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import logging
import queue
import re
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TypeVar

import pjsua2 as pj

from voicebot.errors import SipError, TooLate
from voicebot.sip.calls import Registry, SipAccount, SipCall
from voicebot.sip.config import SipConfig
from voicebot.sip.events import SipEvent
from voicebot.sip.media import CallMedia

log = logging.getLogger(__name__)
_pjlog = logging.getLogger("voicebot.sip.pjsip")

T = TypeVar("T")
_POLL_MS = 10
_TOKEN = re.compile(r"^[A-Za-z0-9!%*_+`'~.-]+$")
_DTMF = re.compile(r"^[0-9A-Da-d*#]+$")
_TRANSPORTS = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP}
_PJ_TO_LOGGING = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}


class _LogWriter(pj.LogWriter):
    """pjsip's log lines into stdlib logging (called from any pjsip thread)."""

    def write(self, entry: pj.LogEntry) -> None:
        level = _PJ_TO_LOGGING.get(entry.level, logging.DEBUG)
        if _pjlog.isEnabledFor(level):
            _pjlog.log(level, "%s", entry.msg.rstrip())


def _quiet_pjlib() -> None:
    """Silence pjlib's start-up banner, printed before libInit applies our log config."""
    try:
        import pjsua2._pjsua2 as native

        ctypes.CDLL(native.__file__).pj_log_set_level(0)
    except (ImportError, OSError, AttributeError):
        pass


class SipEndpoint:
    """One pjsua2 endpoint on its own thread; see the module docstring for the rules."""

    def __init__(self, config: SipConfig | None = None) -> None:
        self.config = config or SipConfig()
        self._events: queue.Queue[SipEvent] = queue.Queue()
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._started: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._stopping = threading.Event()
        self._registry = Registry(self._events.put, self.config)
        self.port = self.config.port

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            raise SipError("SipEndpoint.start() called twice")
        if self.config.switch_interval > 0:
            sys.setswitchinterval(self.config.switch_interval)
        self._thread = threading.Thread(target=self._run, name="pjsua2", daemon=True)
        self._thread.start()
        try:
            self.port = self._started.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            raise SipError(f"SIP endpoint did not start within {timeout} s") from exc
        except SipError:
            raise
        except Exception as exc:
            raise SipError(f"SIP endpoint could not start: {exc}") from exc

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("pjsua2 thread still running %s s after stop()", timeout)

    def events(self) -> queue.Queue[SipEvent]:
        return self._events

    @property
    def uri(self) -> str:
        cfg = self.config
        host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
        return cfg.uri if cfg.registrar else f"sip:{cfg.user}@{host}:{self.port}"

    # -- commands (any thread) ---------------------------------------------------------------

    def answer(self, call_id: str, status_code: int = 200) -> None:
        def run() -> None:
            op = pj.CallOpParam()
            op.statusCode = status_code
            self._call(call_id).answer(op)

        self._submit(run, f"answer {call_id}")

    def hangup(self, call_id: str, status_code: int = 0) -> None:
        def run() -> None:
            call = self._registry.calls.get(call_id)
            if call is None or call.disconnected:  # already over: hanging up is idempotent
                return
            call.hung_up_here = True
            op = pj.CallOpParam()
            op.statusCode = status_code
            call.hangup(op)

        self._submit(run, f"hang up {call_id}")

    def make_call(
        self, uri: str, headers: Mapping[str, str] | None = None, not_after: float | None = None
    ) -> str:
        """Send an INVITE to `uri`; `not_after` (a `time.time()`): if the SIP thread comes to it
        later than that, nothing is sent and `TooLate` is raised."""

        def run() -> str:
            late = 0.0 if not_after is None else time.time() - not_after
            if late > 0:
                raise TooLate(f"call {uri}: its turn passed {late * 1000:.0f} ms ago: not sent")
            account = self._registry.account
            assert account is not None
            call = SipCall(self._registry, account, "outbound")
            op = pj.CallOpParam(True)
            op.txOption.headers = _header_vector(headers)
            call.makeCall(uri, op)
            self._registry.calls[call.call_id] = call
            return call.call_id

        return self._submit(run, f"call {uri}")

    def send_dtmf(self, call_id: str, digits: str, method: str = "rfc4733") -> None:
        if not _DTMF.match(digits):
            raise ValueError(f"DTMF digits {digits!r}: use 0-9, A-D, * and #")
        if method not in ("rfc4733", "info"):
            raise ValueError(f"DTMF method {method!r}: use 'rfc4733' or 'info'")

        def run() -> None:
            prm = pj.CallSendDtmfParam()
            prm.digits = digits
            prm.method = (
                pj.PJSUA_DTMF_METHOD_SIP_INFO if method == "info" else pj.PJSUA_DTMF_METHOD_RFC2833
            )
            self._call(call_id).sendDtmf(prm)

        self._submit(run, f"send DTMF {digits!r} on {call_id}")

    def transfer(self, call_id: str, target: str, headers: Mapping[str, str] | None = None) -> None:
        refer_to = _refer_to(target, headers or {})

        def run() -> None:
            op = pj.CallOpParam(True)
            op.txOption.headers = _header_vector(headers)
            self._call(call_id).xfer(refer_to, op)

        self._submit(run, f"transfer {call_id} to {target}")

    def hold(self, call_id: str, on: bool = True) -> None:
        def run() -> None:
            call = self._call(call_id)
            call.hold_asked = True
            op = pj.CallOpParam(True)
            if on:
                call.setHold(op)
            else:
                op.opt.flag = pj.PJSUA_CALL_UNHOLD
                call.reinvite(op)

        self._submit(run, f"{'hold' if on else 'resume'} {call_id}")

    def bridge(self, call_a: str, call_b: str) -> None:
        def run() -> None:
            a, b = self._call(call_a), self._call(call_b)
            a.bridge_to(b)
            b.bridge_to(a)

        self._submit(run, f"bridge {call_a} and {call_b}")

    def calls_in_use(self) -> int:
        return self._submit(self._registry.live_calls, "count calls")

    def media(self, call_id: str) -> CallMedia | None:
        call = self._registry.calls.get(call_id)
        return call.media if call is not None else None

    # -- the pjsua2 thread -------------------------------------------------------------------

    def _submit(self, fn: Callable[[], T], what: str, timeout: float = 5.0) -> T:
        """Run `fn` on the pjsua2 thread and return its result; `what` names it in errors."""
        if threading.current_thread() is self._thread:
            return self._guarded(fn, what)
        if self._thread is None or not self._thread.is_alive() or self._stopping.is_set():
            raise SipError(f"{what}: the SIP endpoint is not running")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def command() -> None:
            try:
                future.set_result(self._guarded(fn, what))
            except BaseException as exc:  # handed back to the caller's thread
                future.set_exception(exc)

        self._commands.put(command)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            raise SipError(f"{what}: the SIP thread did not run it within {timeout} s") from exc

    @staticmethod
    def _guarded(fn: Callable[[], T], what: str) -> T:
        try:
            return fn()
        except pj.Error as exc:
            message = f"{what}: {exc.reason}"
        # raised out here, the SipError keeps no frame of `fn`: pjsua2 objects made there
        # (a SipCall whose makeCall failed) are freed now, on this thread
        raise SipError(message)

    def _call(self, call_id: str) -> SipCall:
        call = self._registry.calls.get(call_id)
        if call is None:
            raise SipError(f"no call {call_id} (it ended, or never existed)")
        return call

    def _run(self) -> None:
        _quiet_pjlib()
        ep = pj.Endpoint()
        writer = _LogWriter()
        try:
            ep.libCreate()
            self._configure(ep, writer)
        except Exception as exc:
            if isinstance(exc, pj.Error):
                exc = SipError(f"{exc.title}: {exc.reason}")
            self._destroy(ep)
            del ep  # pjsua2 allows a new Endpoint only once this one is gone ...
            # ... and its frames in the traceback would keep it
            self._started.set_exception(exc.with_traceback(None))
            return
        self._started.set_result(self.port)
        try:
            while not self._stopping.is_set():
                ep.libHandleEvents(_POLL_MS)
                self._registry.run_deferred()
                self._drain_commands()
                self._registry.sweep(time.monotonic())
                self._registry.reap()
                self._registry.refill()
        except Exception:
            log.exception("pjsua2 thread failed")
        finally:
            self._shutdown(ep)
            del ep

    def _configure(self, ep: pj.Endpoint, writer: _LogWriter) -> None:
        cfg = self.config
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0
        ep_cfg.uaConfig.mainThreadOnly = True
        ep_cfg.uaConfig.maxCalls = cfg.max_calls
        ep_cfg.uaConfig.userAgent = cfg.user_agent
        ep_cfg.logConfig.writer = writer
        ep_cfg.logConfig.level = cfg.pjsip_log_level
        ep_cfg.logConfig.consoleLevel = cfg.pjsip_log_level
        ep_cfg.logConfig.decor = pj.PJ_LOG_HAS_SENDER
        ep_cfg.medConfig.clockRate = cfg.audio_rate
        ep_cfg.medConfig.sndClockRate = cfg.audio_rate
        ep_cfg.medConfig.channelCount = 1
        ep_cfg.medConfig.noVad = True  # keep sending RTP through silences
        ep_cfg.medConfig.ecTailLen = 0  # no echo canceller: nothing to cancel on a server
        ep.libInit(ep_cfg)
        _set_transaction_timeout(cfg.transaction_timeout)
        ep.audDevManager().setNullDev()

        tcfg = pj.TransportConfig()
        if cfg.host not in ("", "0.0.0.0", "::"):
            tcfg.boundAddress = cfg.host
        tcfg.publicAddress = cfg.public_host or tcfg.boundAddress
        self.port = self._bind(ep, tcfg)
        ep.libStart()
        _set_codecs(ep, cfg.codecs)

        acfg = pj.AccountConfig()
        acfg.idUri = self.uri
        if cfg.registrar:
            acfg.regConfig.registrarUri = cfg.registrar
            acfg.regConfig.timeoutSec = cfg.register_expires
            acfg.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", cfg.auth_realm, cfg.username or cfg.user, 0, cfg.password)
            )
        rtp = acfg.mediaConfig.transportConfig
        rtp.port = cfg.rtp_port
        rtp.boundAddress = tcfg.boundAddress
        rtp.publicAddress = tcfg.publicAddress
        account = SipAccount(self._registry)
        account.create(acfg, True)
        self._registry.account = account
        log.info("SIP endpoint %s up (%s)", self.uri, "+".join(cfg.transports))

    def _bind(self, ep: pj.Endpoint, tcfg: pj.TransportConfig) -> int:
        """Create the transports on one port; with port 0, find one that is free for all."""
        kinds = self.config.transports
        for _attempt in range(20 if self.config.port == 0 else 1):
            tcfg.port = self.config.port
            created: list[int] = []
            try:
                for kind in kinds:
                    created.append(ep.transportCreate(_TRANSPORTS[kind], tcfg))
                    if tcfg.port == 0:  # the others share the first one's port
                        tcfg.port = int(ep.transportGetInfo(created[0]).localName.rsplit(":")[-1])
                return tcfg.port
            except pj.Error as exc:
                for tid in created:
                    ep.transportClose(tid)
                where = f"{kinds[len(created)]} {tcfg.boundAddress or '*'}:{tcfg.port}"
                error = f"{where}: {exc.reason}"
        raise SipError(f"cannot listen for SIP on {error}")

    def _drain_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command()

    def _shutdown(self, ep: pj.Endpoint) -> None:
        # No pjsua2 object may outlive libDestroy (a Call destroyed after it aborts the
        # process), so none is held in a local variable here: the registry owns them all.
        reg = self._registry
        try:
            if reg.calls:
                reg.hanging_up_all()
                ep.hangupAllCalls()
                deadline = time.monotonic() + 2.0
                while reg.live_calls() and time.monotonic() < deadline:
                    ep.libHandleEvents(_POLL_MS)
            reg.reap(force=True)
        except Exception:
            log.exception("hanging up calls at stop")
        self._drain_commands()  # wake anyone waiting: the endpoint is gone
        reg.calls.clear()
        if reg.account is not None:
            reg.account.shutdown()
            reg.account = None
        self._destroy(ep)

    def _destroy(self, ep: pj.Endpoint) -> None:
        # without a registrar there is nothing to wait for: skip pjsua's 1 s grace period
        flags = 0 if self.config.registrar else pj.PJSUA_DESTROY_NO_RX_MSG
        try:
            ep.libDestroy(flags)
        except Exception:
            log.exception("pjsua2 libDestroy")


def _set_transaction_timeout(seconds: float) -> None:
    """pjsip's transaction timeout (timers B, F, H: 64*T1 = 32 s by default), process-wide.

    Timer H is the wait for the ACK of our 2xx: until it fires, a call whose caller never
    ACKs holds its slot (four such INVITEs made every call 486 for a minute). It is also how
    long we wait for a first answer to a request of ours (INVITE, BYE, REGISTER), which on a
    live network comes in milliseconds. pjsua2 does not expose it; pjsip does."""
    import pjsua2._pjsua2 as native

    t1, t2, t4, td = (ctypes.c_uint(ms) for ms in (500, 4000, 5000, int(seconds * 1000)))
    ctypes.CDLL(native.__file__).pjsip_tsx_set_timers(t1, t2, t4, td)


def _set_codecs(ep: pj.Endpoint, wanted: tuple[str, ...]) -> None:
    """Enable exactly the `wanted` codecs, first preferred (priority 255, 254, ...)."""
    for info in ep.codecEnum2():
        name = info.codecId
        rank = next((i for i, w in enumerate(wanted) if name.lower().startswith(w.lower())), None)
        ep.codecSetPriority(name, 0 if rank is None else 255 - rank)


def _header_vector(headers: Mapping[str, str] | None) -> pj.SipHeaderVector:
    vector = pj.SipHeaderVector()
    for name, value in (headers or {}).items():
        if not _TOKEN.match(name) or "\r" in value or "\n" in value:
            raise ValueError(f"SIP header {name!r}: name must be a token, value one line")
        header = pj.SipHeader()
        header.hName = name
        header.hValue = value
        vector.append(header)
    return vector


def _refer_to(target: str, headers: Mapping[str, str]) -> str:
    """`target` as a Refer-To name-addr carrying `headers` as URI headers (RFC 3261 19.1.1)."""
    uri = target.strip().removeprefix("<").removesuffix(">")
    if not headers:
        return f"<{uri}>"
    query = "&".join(
        f"{urllib.parse.quote(k, safe='-')}={urllib.parse.quote(v, safe='')}"
        for k, v in headers.items()
    )
    return f"<{uri}{'&' if '?' in uri else '?'}{query}>"
