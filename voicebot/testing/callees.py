"""Simulated callees for campaign tests over real SIP: one process, one `SipEndpoint`, and a
behaviour chosen by the dialed number.

    python -m voicebot.testing.callees --port P --log FILE.jsonl [--host 127.0.0.1]

The number plan (the hundreds digit of the dialed number, so +12125550123 is a human):

    ..1xx  human     answers after 0.4 s of ringing, says "hello?"; once the bot has spoken
                     and then waited 1 s in silence (its menu listens) presses 1, or, when the
                     tens digit is 5-9, says "yes I'll be there"; again if the bot asks again
    ..2xx  machine   answers, plays a ~6 s espeak-ng greeting ("Hi, you've reached ... leave
                     a message after the tone"), then a 0.5 s 1 kHz beep, then stays silent,
                     measuring what the bot says before and after the beep, until hung up
    ..3xx  busy      486 Busy Here
    ..4xx  no_answer 180 Ringing until the caller cancels (after `--max-ring` seconds: 480,
                     so a dead caller's INVITE does not hold a call slot for ever)
    ..5xx  congested 503 Service Unavailable for the number's first `--congested-invites`
                     INVITEs (back-pressure), then answers as a human who presses 1
    ..6xx  invalid   404 Not Found (also 0xx, 8xx and 9xx: no such number)
    ..7xx  opt_out   a human who answers "hello?" and then says "stop calling me"

An answered call the bot leaves silent for `--quiet-timeout` seconds (a dialer killed
mid-call sends silence for ever) or that lasts `--max-call` seconds is hung up by the callee.

The log (`--log`, JSON lines, flushed per line) is the evidence a campaign test checks against
the ledger: `time.time()` as `t`, and for every INVITE one `invite` line (number, call id,
behaviour, `nth` INVITE of that number, `up`: calls up, ringing or answered, counting this
one) and for every end one `hangup` line (status, who ended it, `up` after it, and for
answered calls what was heard and done); an `answer_menu` line each time a human answers
the bot's question (key, "yes", or "stop calling me"). pjsua2 holds at most 4 calls: a 5th INVITE is
answered 486 by pjsua2 itself before any event, so it is logged from pjsip's log as an
`overflow` line; a run with `up` <= 4 and no `overflow` line never had more than 4 calls.
A `slots` line gives pjsua2's own count of slots in use whenever it changes: a call the callee
hung up on a dead caller keeps its slot until the BYE times out (32 s), so whoever restarts a
killed dialer waits for `slots` 0 first.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import math
import os
import queue
import random
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.sip import events as ev
from voicebot.sip.config import SipConfig
from voicebot.sip.endpoint import SipEndpoint

log = logging.getLogger(__name__)

RATE = 16000
PLAN = {
    "1": "human",
    "2": "machine",
    "3": "busy",
    "4": "no_answer",
    "5": "congested",
    "6": "invalid",
    "7": "opt_out",
}
REJECT = {"busy": 486, "invalid": 404}
GREETING = (
    "Hi, you've reached the Miller family. We can't come to the phone right now. "
    "Please leave a message after the tone."
)
SPEECH_RMS = 300.0  # a received frame louder than this is the bot speaking
RING_SECONDS = 0.4  # humans let it ring this long
HELLO_AFTER = 0.3  # and say hello this long after the call is up
ASK_SILENCE = 1.0  # the bot spoke, then was silent this long: it is waiting for an answer
ASK_SPEECH = 1.0  # ... after at least this much speech since the last answer
MAX_ANSWERS = 3


def behaviour_for(number: str) -> str:
    """The behaviour of a dialed number (module docstring); 'invalid' when unassigned."""
    digits = re.sub(r"\D", "", number)
    return PLAN.get(digits[-3:-2], "invalid") if len(digits) >= 3 else "invalid"


def number_of(uri: str) -> str:
    """The user part of a SIP URI: '<sip:+12125550123@127.0.0.1:5080>' -> '+12125550123'."""
    match = re.search(r"sips?:([^@;>]+)@", uri)
    return match.group(1) if match else uri


def speaks_confirmation(number: str) -> bool:
    """Humans whose tens digit is 5-9 answer the menu by voice instead of pressing 1."""
    digits = re.sub(r"\D", "", number)
    return len(digits) >= 2 and digits[-2] in "56789"


@dataclass(frozen=True)
class Voices:
    """What callees say, rendered once (PCM16 mono at `RATE`)."""

    hello: bytes
    confirm: bytes
    stop: bytes
    greeting: bytes  # the machine's greeting, a short pause and the beep
    greeting_seconds: float  # when the beep ends, from the start of the greeting

    @classmethod
    def render(cls) -> Voices:
        from voicebot.speech.synthesizer import EspeakSynthesizer, Voice

        tts = EspeakSynthesizer(Voice("en-us", 160))
        words = tts.synthesize(GREETING, RATE, Voice("en-gb", 165))
        beep = (0.3 * 32767 * np.sin(2 * math.pi * 1000 * np.arange(RATE // 2) / RATE)).astype(
            "<i2"
        )
        greeting = words + bytes(2 * RATE * 4 // 10) + beep.tobytes()
        return cls(
            tts.synthesize("hello?", RATE),
            tts.synthesize("yes, I'll be there", RATE),
            tts.synthesize("stop calling me", RATE),
            greeting,
            len(greeting) / (2 * RATE),
        )


@dataclass
class Call:
    """One INVITE and, once answered, what the callee heard and did."""

    call_id: str
    number: str
    behaviour: str
    invited: float  # monotonic
    nth: int
    answered: float | None = None
    media: Any = None
    hello_at: float | None = None
    beep_end: float | None = None
    speech: float = 0.0  # seconds of bot speech heard
    speech_since_answer: float = 0.0  # ... since our last answer to it
    last_speech: float | None = None
    first_speech: float | None = None  # seconds after answer
    before_beep: float = 0.0
    after_beep: float = 0.0
    message_start: float | None = None  # seconds after the beep ended
    spoke_until: float = 0.0  # when what the callee last said ends
    did: list[str] = field(default_factory=list)


class _Overflow(logging.Handler):
    """pjsua2 answering an INVITE 486 by itself (no call slot left) becomes a log line."""

    def __init__(self, sink: CalleeLog) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "too many calls" in text.lower():
            self.sink.write("overflow", message=text.strip())


class CalleeLog:
    """JSON lines, one per event, flushed at once (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("a", encoding="utf-8")
        self.lock = threading.Lock()

    def write(self, event: str, t: float | None = None, **fields: Any) -> None:
        stamp = round(time.time() if t is None else t, 4)
        line = json.dumps({"t": stamp, "event": event, **fields})
        with self.lock:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self) -> None:
        with self.lock:
            self.file.close()


class Callees:
    """The callees' dispatcher: SIP events in, behaviours out, one log line per INVITE/end."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        sink: CalleeLog,
        voices: Voices,
        *,
        max_ring: float = 30.0,
        congested_invites: int = 1,
        quiet_timeout: float = 15.0,
        max_call: float = 120.0,
    ) -> None:
        self.endpoint, self.sink, self.voices = endpoint, sink, voices
        self.max_ring, self.congested_invites = max_ring, congested_invites
        self.quiet_timeout, self.max_call = quiet_timeout, max_call
        self.calls: dict[str, Call] = {}
        self.invites: Counter[str] = Counter()
        self.wall = time.time() - time.monotonic()  # monotonic -> time.time()
        self.slots = _slot_counter()
        self.slots_used = 0

    def run(self, stop: threading.Event) -> None:
        events = self.endpoint.events()
        while not stop.is_set():
            try:
                event = events.get(timeout=0.02)
            except queue.Empty:
                event = None
            try:
                if event is not None:
                    self.dispatch(event)
                self.tick(time.monotonic())
                self._count_slots()
            except Exception:  # a callee must keep answering whatever one call did
                log.exception("callee dispatch failed")

    def _count_slots(self) -> None:
        """Log pjsua2's own count of call slots in use when it changes (a call we hung up
        keeps its slot until its BYE is answered or times out, 32 s with a dead caller)."""
        used = self.slots() if self.slots is not None else len(self.calls)
        if used != self.slots_used:
            self.slots_used = used
            self.sink.write("slots", slots=used, up=len(self.calls))

    def dispatch(self, event: Any) -> None:
        if isinstance(event, ev.IncomingCall):
            self._incoming(event)
        elif isinstance(event, ev.MediaReady):
            call = self.calls.get(event.call_id)
            if call is not None and call.media is None:
                call.media, call.answered = event.media, event.at
                self._greet(call, event.at)
        elif isinstance(event, ev.CallEnded):
            self._ended(event)

    def _incoming(self, event: ev.IncomingCall) -> None:
        number = number_of(event.local_uri)
        self.invites[number] += 1
        behaviour = behaviour_for(number)
        call = Call(event.call_id, number, behaviour, event.at, self.invites[number])
        self.calls[event.call_id] = call
        self.sink.write(
            "invite",
            self.wall + event.at,
            number=number,
            call_id=event.call_id,
            behaviour=behaviour,
            nth=call.nth,
            up=len(self.calls),
            source=event.source,
        )
        status = REJECT.get(behaviour, 0)
        if behaviour == "congested" and call.nth <= self.congested_invites:
            status = 503
        if status:
            call.did.append(str(status))
            self.endpoint.hangup(event.call_id, status)
        elif behaviour == "machine":
            call.did.append("answer")
            self.endpoint.answer(event.call_id)
        # humans answer after RING_SECONDS (tick); no_answer rings until cancelled

    def _greet(self, call: Call, now: float) -> None:
        if call.behaviour == "machine":
            call.media.play(self.voices.greeting)
            call.beep_end = now + self.voices.greeting_seconds
            call.did.append("greeting")
        else:
            call.hello_at = now + HELLO_AFTER

    def tick(self, now: float) -> None:
        for call in list(self.calls.values()):
            if call.answered is None:
                self._ringing(call, now)
            else:
                self._talking(call, now)

    def _ringing(self, call: Call, now: float) -> None:
        if call.did:  # answered or rejected already
            return
        waited = now - call.invited
        if call.behaviour == "no_answer":
            if waited > self.max_ring:
                call.did.append("480")
                self.endpoint.hangup(call.call_id, 480)
        elif waited >= RING_SECONDS:
            call.did.append("answer")
            self.endpoint.answer(call.call_id)

    def _talking(self, call: Call, now: float) -> None:
        assert call.answered is not None and call.media is not None
        for frame in call.media.read_frames():
            self._heard(call, frame)
        if call.hello_at is not None and now >= call.hello_at:
            call.hello_at = None
            self._say(call, self.voices.hello, now)
            call.did.append("hello")
        quiet_since = max(
            call.last_speech or 0.0, call.beep_end or 0.0, call.spoke_until, call.answered
        )
        if call.behaviour in ("human", "congested", "opt_out"):
            asked = (
                call.speech_since_answer >= ASK_SPEECH
                and call.last_speech is not None
                and now - call.last_speech >= ASK_SILENCE
                and len([d for d in call.did if d not in ("answer", "hello")]) < MAX_ANSWERS
            )
            if asked:
                self._answer_menu(call, now)
        ending = ""
        if now - quiet_since > self.quiet_timeout:
            ending = "quiet"
        elif now - call.answered > self.max_call:
            ending = "max_call"
        if ending and ending not in call.did:
            call.did.append(ending)
            self.endpoint.hangup(call.call_id)

    def _say(self, call: Call, pcm: bytes, now: float) -> None:
        call.media.play(pcm)
        call.spoke_until = now + len(pcm) / (2 * RATE)

    def _answer_menu(self, call: Call, now: float) -> None:
        call.speech_since_answer = 0.0
        self.sink.write("answer_menu", number=call.number, call_id=call.call_id)
        if call.behaviour == "opt_out":
            self._say(call, self.voices.stop, now)
            call.did.append("said: stop calling me")
        elif speaks_confirmation(call.number):
            self._say(call, self.voices.confirm, now)
            call.did.append("said: yes, I'll be there")
        else:
            self.endpoint.send_dtmf(call.call_id, "1")
            call.did.append("dtmf 1")

    def _heard(self, call: Call, frame: Any) -> None:
        samples = np.frombuffer(frame.pcm, dtype="<i2").astype(np.float32)
        if not samples.size or math.sqrt(float(np.mean(samples * samples))) < SPEECH_RMS:
            return
        at, seconds = frame.timestamp, frame.duration
        assert call.answered is not None
        call.speech += seconds
        call.speech_since_answer += seconds
        call.last_speech = at
        if call.first_speech is None:
            call.first_speech = at - call.answered
        if call.beep_end is not None:
            if at < call.beep_end:
                call.before_beep += seconds
            else:
                call.after_beep += seconds
                if call.message_start is None:
                    call.message_start = at - call.beep_end

    def _ended(self, event: ev.CallEnded) -> None:
        call = self.calls.pop(event.call_id, None)
        if call is None:
            return
        if call.media is not None:
            for frame in call.media.read_frames():
                self._heard(call, frame)
        fields: dict[str, Any] = {
            "number": call.number,
            "call_id": call.call_id,
            "behaviour": call.behaviour,
            "nth": call.nth,
            "up": len(self.calls),
            "status": event.status_code,
            "reason": event.reason,
            "by": "callee" if event.by == "local" else "caller",
            "answered": call.answered is not None,
        }
        if call.answered is not None:
            fields.update(
                seconds=round(event.at - call.answered, 2),
                bot_speech=round(call.speech, 2),
                first_bot_speech=_round(call.first_speech),
                did=call.did,
            )
        if call.behaviour == "machine" and call.answered is not None:
            fields.update(
                bot_speech_before_beep=round(call.before_beep, 2),
                bot_speech_after_beep=round(call.after_beep, 2),
                message_start_after_beep=_round(call.message_start),
            )
        self.sink.write("hangup", self.wall + event.at, **fields)


def _slot_counter() -> Callable[[], int] | None:
    """pjsua's `pjsua_call_get_count` (a plain read of its call counter), if it is exported."""
    try:
        import pjsua2._pjsua2 as native

        count = ctypes.CDLL(native.__file__).pjsua_call_get_count
    except (ImportError, OSError, AttributeError):
        return None
    count.restype = ctypes.c_uint
    return lambda: int(count())


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The callee log's lines (a torn last line, if any, is skipped)."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def last(lines: list[dict[str, Any]], key: str) -> int:
    """The latest value of `key` ('up' or 'slots') in the log, 0 before any."""
    return next((int(x[key]) for x in reversed(lines) if key in x), 0)


def idle(path: str | Path) -> bool:
    """The callees have no call up and pjsua2 no call slot in use (by their log)."""
    lines = read_log(path)
    return last(lines, "up") == 0 and last(lines, "slots") == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m voicebot.testing.callees", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, default=5080, help="SIP port (0: any free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--rtp-port", type=int, default=0, help="first RTP port (0: random)")
    parser.add_argument("--log", required=True, metavar="FILE.jsonl")
    parser.add_argument("--max-ring", type=float, default=30.0, metavar="S")
    parser.add_argument("--congested-invites", type=int, default=1, metavar="N")
    parser.add_argument("--quiet-timeout", type=float, default=15.0, metavar="S")
    parser.add_argument("--max-call", type=float, default=120.0, metavar="S")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="callees %(levelname)s %(name)s: %(message)s")
    voices = Voices.render()
    sink = CalleeLog(Path(args.log))
    logging.getLogger("voicebot.sip.pjsip").addHandler(_Overflow(sink))
    rtp = args.rtp_port or random.randrange(20000, 40000, 2)
    endpoint = SipEndpoint(SipConfig(port=args.port, host=args.host, rtp_port=rtp, user="callee"))
    endpoint.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sink.write("ready", port=endpoint.port, pid=os.getpid())
    print(f"callees ready on {endpoint.uri}", flush=True)
    try:
        Callees(
            endpoint,
            sink,
            voices,
            max_ring=args.max_ring,
            congested_invites=args.congested_invites,
            quiet_timeout=args.quiet_timeout,
            max_call=args.max_call,
        ).run(stop)
    finally:
        endpoint.stop()
        sink.write("stopped")
        sink.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
