"""SIP peers for the loopback tests, each in its own process (pjsua2: one Endpoint per process).

`Peer(target, **kwargs)` starts `answering_server` or `scripted_caller` in a spawned process and
collects what it reports: ("event", name, fields) for each SipEvent, ("audio", call_id, pcm)
when a server's call ends, ("result", dict) at the end of a caller's script, ("log", line) for
pjsip log lines that mention a watched word. Everything has a timeout; `Peer.close()` stops the
process and kills it if it does not stop in time.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import queue
import re
import time
from collections.abc import Callable
from typing import Any

_ctx = multiprocessing.get_context("spawn")
RATE = 16000


class _Watch(logging.Handler):
    """Forwards pjsip log lines containing any of `words` to the report queue."""

    def __init__(self, report: Any, words: tuple[str, ...]) -> None:
        super().__init__(logging.DEBUG)
        self.report, self.words = report, words

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if any(w in text for w in self.words):
            self.report.put(("log", text))


def _setup_logging(report: Any, watch: tuple[str, ...]) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(processName)s %(name)s %(message)s")
    if watch:
        pjlog = logging.getLogger("voicebot.sip.pjsip")
        pjlog.setLevel(logging.DEBUG)
        pjlog.addHandler(_Watch(report, watch))


def _fields(event: Any) -> dict[str, Any]:
    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "media"}


def answering_server(
    report: Any,
    stop: Any,
    port: int,
    rtp_port: int,
    answer: bool = True,
    reject: int = 0,
    play: bytes = b"",
    hangup_after: float = 0.0,
    transfer: tuple[str, dict[str, str]] | None = None,
    allow_from: tuple[str, ...] = (),
    registrar: str = "",
    username: str = "",
    password: str = "",
    realm: str = "",
    max_call_seconds: float = 0.0,
    max_seconds: float = 30.0,
    codecs: tuple[str, ...] = ("G722/16000", "PCMU/8000", "PCMA/8000"),
    audio_rate: int = RATE,
) -> None:
    """Answer calls (or let them ring, or reject them), play `play`, report events and audio."""
    from voicebot.sip import events as ev
    from voicebot.sip.config import SipConfig
    from voicebot.sip.endpoint import SipEndpoint

    _setup_logging(report, ())
    cfg = SipConfig(
        port=port,
        rtp_port=rtp_port,
        allow_from=allow_from,
        registrar=registrar,
        username=username,
        password=password,
        realm=realm,
        max_call_seconds=max_call_seconds,
        user="bot",
        codecs=codecs,
        audio_rate=audio_rate,
    )
    endpoint = SipEndpoint(cfg)
    endpoint.start()
    report.put(("ready", endpoint.port))
    media: dict[str, Any] = {}
    audio: dict[str, list[bytes]] = {}
    hangups: dict[str, float] = {}
    deadline = time.monotonic() + max_seconds
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                event = endpoint.events().get(timeout=0.02)
            except queue.Empty:
                event = None
            if event is not None:
                report.put(("event", type(event).__name__, _fields(event)))
            if isinstance(event, ev.IncomingCall):
                if reject:
                    endpoint.hangup(event.call_id, reject)
                elif answer:
                    endpoint.answer(event.call_id)
            elif isinstance(event, ev.MediaReady):
                media[event.call_id] = event.media
                audio[event.call_id] = []
                if play:
                    event.media.play(play)
                if hangup_after:
                    hangups[event.call_id] = time.monotonic() + hangup_after
                if transfer:
                    endpoint.transfer(event.call_id, transfer[0], transfer[1])
            elif isinstance(event, ev.TransferOutcome) and event.ok:
                endpoint.hangup(event.call_id)
            elif isinstance(event, ev.CallEnded) and event.call_id in media:
                audio[event.call_id] += [f.pcm for f in media.pop(event.call_id).read_frames()]
                report.put(("audio", event.call_id, b"".join(audio[event.call_id])))
            for call_id, m in media.items():
                audio[call_id] += [f.pcm for f in m.read_frames()]
            for call_id, due in list(hangups.items()):
                if time.monotonic() >= due:
                    del hangups[call_id]
                    endpoint.hangup(call_id)
    finally:
        endpoint.stop()
        while not endpoint.events().empty():  # what happened while stopping
            event = endpoint.events().get()
            report.put(("event", type(event).__name__, _fields(event)))
        report.put(("stopped",))


def scripted_caller(
    report: Any,
    stop: Any,
    rtp_port: int,
    script: list[tuple[Any, ...]],
    watch: tuple[str, ...] = (),
) -> None:
    """Run `script` on a Softphone and report what every call saw.

    Steps (the call is the last one dialled unless a step names an index):
    ("dial", uri[, headers]) ("wait_answered",) ("wait_media",) ("play", pcm, rate)
    ("wav", path) ("save", path[, index]) (the recording so far, as a WAV)
    ("dtmf", digits[, method]) ("sleep", seconds) ("hold",) ("unhold",) ("hangup"[, index])
    ("wait_ended"[, index])
    ("wait_transferred",) (then later steps act on the transferred call)
    """
    from voicebot.sip.config import SipConfig
    from voicebot.sip.softphone import Softphone

    _setup_logging(report, watch)
    level = 4 if watch else 2  # pjsip logs whole messages at level 4
    phone = Softphone(SipConfig(port=0, rtp_port=rtp_port, user="caller", pjsip_log_level=level))
    phone.start()
    report.put(("ready", phone.endpoint.port))
    calls: list[Any] = []
    try:
        for step in script:
            if stop.is_set():
                break
            op, args = step[0], step[1:]
            if op == "dial":
                calls.append(phone.dial(*args))
            elif op == "wait_answered":
                calls[args[0] if args else -1].wait_answered(10)
            elif op == "wait_media":
                calls[-1].wait_media(10)
            elif op == "play":
                calls[-1].play_pcm(args[0], args[1], wait=True, timeout=20)
            elif op == "dtmf":
                calls[-1].send_dtmf(*args)
            elif op == "sleep":
                time.sleep(args[0])
            elif op == "wav":
                calls[-1].play_wav(args[0], wait=True, timeout=20)
            elif op == "save":
                calls[args[1] if len(args) > 1 else -1].save_recording(args[0])
            elif op in ("hold", "unhold"):
                getattr(calls[-1], op)()
            elif op == "hangup":
                calls[args[0] if args else -1].hangup()
            elif op == "wait_ended":
                calls[args[0] if args else -1].wait_ended(10)
            elif op == "wait_transferred":
                new = calls[-1].wait_transferred(10)
                if new is not None:
                    calls.append(new)
            else:
                raise ValueError(f"unknown step {op!r}")
        result = [
            {
                "call_id": c.call_id,
                "progress": list(c.progress),
                "answered": c.answered,
                "ended": _fields(c.ended) if c.ended else None,
                "codec": c.codec,
                "dtmf": c.dtmf,
                "recording": c.recording(),
            }
            for c in calls
        ]
        report.put(("result", result))
    finally:
        phone.stop()
        report.put(("stopped",))


class Peer:
    """A peer process and what it reported so far."""

    def __init__(self, target: Callable[..., None], **kwargs: Any) -> None:
        self.report = _ctx.Queue()
        self.stop_event = _ctx.Event()
        self.messages: list[tuple[Any, ...]] = []
        self.process = _ctx.Process(
            target=target, args=(self.report, self.stop_event), kwargs=kwargs, daemon=True
        )
        self.process.start()
        self.port = self.wait_for(lambda m: m[0] == "ready", 20)[1]

    def poll(self, timeout: float = 0.05) -> None:
        try:
            self.messages.append(self.report.get(timeout=timeout))
            while True:
                self.messages.append(self.report.get_nowait())
        except queue.Empty:
            pass

    def wait_for(self, match: Callable[[tuple[Any, ...]], bool], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for message in self.messages[seen:]:
                if match(message):
                    return message
            seen = len(self.messages)
            if time.monotonic() > deadline:
                raise TimeoutError(f"peer did not report it within {timeout} s: {self.messages}")
            if not self.process.is_alive() and self.report.empty():
                raise RuntimeError(f"peer exited ({self.process.exitcode}): {self.messages}")
            self.poll()

    def event(self, name: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """The first event `name` whose fields include `fields` (waiting up to `timeout`)."""
        message = self.wait_for(
            lambda m: (
                m[0] == "event"
                and m[1] == name
                and all(m[2].get(k) == v for k, v in fields.items())
            ),
            timeout,
        )
        return message[2]

    def wait_count(self, name: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The events `name`, once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m[2] for m in self.messages if m[0] == "event" and m[1] == name]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)} {name} events after {timeout} s, not {count}")
            self.poll()

    def events(self, name: str) -> list[dict[str, Any]]:
        self.poll(0)
        return [m[2] for m in self.messages if m[0] == "event" and m[1] == name]

    def result(self, timeout: float = 30.0) -> Any:
        return self.wait_for(lambda m: m[0] == "result", timeout)[1]

    def audio(self, call_id: str, timeout: float = 10.0) -> bytes:
        return self.wait_for(lambda m: m[0] == "audio" and m[1] == call_id, timeout)[2]

    def close(self, timeout: float = 10.0) -> None:
        """Stop the peer, reading its reports meanwhile (a child cannot exit with unread ones)."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        while self.process.is_alive() and time.monotonic() < deadline:
            self.poll(0.05)
        if self.process.is_alive():  # killed mid-write, its queue cannot be read any more
            self.process.kill()
            self.process.join(5)
            return
        self.process.join(1)
        self.poll(0)

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def endpoint_errors(report: Any, stop: Any) -> None:
    """Commands that must fail, and how: reports ("result", {case: message})."""
    import socket

    from voicebot.errors import SipError
    from voicebot.sip.config import SipConfig
    from voicebot.sip.endpoint import SipEndpoint

    _setup_logging(report, ())
    report.put(("ready", 0))
    out: dict[str, str] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        try:  # UDP is free on that port, TCP is not
            SipEndpoint(SipConfig(port=port)).start()
        except SipError as exc:
            out["bind"] = str(exc).replace(str(port), "PORT")
    endpoint = SipEndpoint(SipConfig(port=0))  # a second Endpoint once the first is gone
    endpoint.start()
    events = endpoint.events()
    for case, command in [
        ("late", lambda: endpoint.make_call(endpoint.uri, not_after=time.time() - 0.05)),
        ("bad uri", lambda: endpoint.make_call("not a uri")),
        ("no call", lambda: endpoint.answer("c-404")),
        ("dtmf", lambda: endpoint.send_dtmf("c-404", "12x")),
    ]:
        try:
            command()
        except (SipError, ValueError) as exc:
            out[case] = f"{type(exc).__name__}: {exc}"
    out["late"] = re.sub(r"\d+ ms", "N ms", out["late"].replace(endpoint.uri, "URI"))
    time.sleep(0.5)  # an INVITE to itself would be offered by now
    offered = []
    while not events.empty():
        offered.append(type(events.get_nowait()).__name__)
    out["offered"] = ", ".join(offered)
    endpoint.hangup("c-404")  # idempotent: no error
    endpoint.stop()
    try:
        endpoint.answer("c-1")
    except SipError as exc:
        out["stopped"] = str(exc)
    report.put(("result", out))
