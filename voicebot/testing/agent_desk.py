"""Simulated human agents for warm-transfer tests over real SIP: one process, one `SipEndpoint`.

    python -m voicebot.testing.agent_desk --port P --dir DIR [--tone 1000]

The dialed user part picks the behaviour:

    agent...   rings `--ring` seconds (0.3), answers, and from then on sends a steady tone of
               `--tone` Hz (so whoever is joined to it can tell the agent is there); keeps every
               frame it receives
    busy...    486 Busy Here
    silent...  180 Ringing, never answers (until the caller gives up: CANCEL), at most 120 s

Each call's received audio is written to DIR/CALLID.wav (16 kHz PCM16) when it ends, and DIR/
agent_desk.jsonl gets one JSON line per INVITE (`invite`: user, call id, X- headers, `at`) and
per end (`ended`: status, who ended it, `answered_at`, `ended_at`, the WAV's path); times are
`time.monotonic()`, the same clock in every process of the machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import queue
import random
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.audio.wav import write_wav
from voicebot.sip import events as ev
from voicebot.sip.config import SipConfig
from voicebot.sip.endpoint import SipEndpoint

log = logging.getLogger(__name__)
RATE = 16000
SILENT_MAX = 120.0


def tone(freq: float, seconds: float, rate: int = RATE, level: float = 0.2) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (level * 32767 * np.sin(2 * math.pi * freq * t)).astype("<i2").tobytes()


def behaviour(uri: str) -> str:
    match = re.search(r"sips?:([a-z]+)", uri.lower())
    user = match.group(1) if match else ""
    for kind in ("agent", "busy", "silent"):
        if user.startswith(kind):
            return kind
    return "unknown"


@dataclass
class _Call:
    call_id: str
    kind: str
    invited: float
    answered_at: float | None = None
    answering: bool = False
    media: Any = None
    chunks: list[bytes] = field(default_factory=list)


class AgentDesk:
    def __init__(self, endpoint: SipEndpoint, out: Path, ring: float, freq: float) -> None:
        self.endpoint, self.out, self.ring = endpoint, out, ring
        self.tone = tone(freq, 1.0)
        self.calls: dict[str, _Call] = {}
        self.log = (out / "agent_desk.jsonl").open("a", encoding="utf-8")

    def write(self, event: str, **fields: Any) -> None:
        self.log.write(json.dumps({"event": event, **fields}) + "\n")
        self.log.flush()

    def run(self, stop: threading.Event) -> None:
        events = self.endpoint.events()
        while not stop.is_set():
            try:
                event = events.get(timeout=0.02)
            except queue.Empty:
                event = None
            if event is not None:
                self.apply(event)
            self.tick(time.monotonic())

    def apply(self, event: ev.SipEvent) -> None:
        if isinstance(event, ev.IncomingCall):
            kind = behaviour(event.local_uri)
            self.calls[event.call_id] = _Call(event.call_id, kind, event.at)
            self.write("invite", call_id=event.call_id, user=kind, headers=event.headers,
                       at=event.at)  # fmt: skip
            if kind == "busy":
                self.endpoint.hangup(event.call_id, 486)
            elif kind == "unknown":
                self.endpoint.hangup(event.call_id, 404)
            return
        call = self.calls.get(getattr(event, "call_id", ""))
        if call is None:
            return
        if isinstance(event, ev.CallAnswered):
            call.answered_at = event.at
        elif isinstance(event, ev.MediaReady):
            call.media = event.media
            call.media.play(self.tone)
        elif isinstance(event, ev.PlaybackDone) and call.media is not None:
            call.media.play(self.tone)  # a steady tone for as long as the call lasts
        elif isinstance(event, ev.CallEnded):
            self._collect(call)
            wav = self.out / f"{call.call_id}.wav"
            write_wav(wav, b"".join(call.chunks), RATE)
            del self.calls[call.call_id]
            self.write("ended", call_id=call.call_id, user=call.kind, status=event.status_code,
                       by=event.by, answered_at=call.answered_at, ended_at=event.at,
                       wav=str(wav))  # fmt: skip

    def tick(self, now: float) -> None:
        for call in list(self.calls.values()):
            self._collect(call)
            if call.kind == "agent" and not call.answering and now - call.invited >= self.ring:
                call.answering = True
                self.endpoint.answer(call.call_id)
            elif call.kind == "silent" and now - call.invited > SILENT_MAX:
                self.endpoint.hangup(call.call_id, 480)

    @staticmethod
    def _collect(call: _Call) -> None:
        if call.media is not None:
            call.chunks.extend(f.pcm for f in call.media.read_frames())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m voicebot.testing.agent_desk", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, default=5090, help="SIP port (0: any free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--dir", required=True, type=Path, help="recordings and the log")
    parser.add_argument("--ring", type=float, default=0.3, metavar="S")
    parser.add_argument("--tone", type=float, default=1000.0, metavar="HZ")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="agent_desk %(levelname)s: %(message)s")
    args.dir.mkdir(parents=True, exist_ok=True)
    rtp = random.randrange(20000, 40000, 2)
    config = SipConfig(port=args.port, host=args.host, rtp_port=rtp, user="agent_desk")
    endpoint = SipEndpoint(config)
    endpoint.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"agent desk ready on {endpoint.uri}", flush=True)
    try:
        AgentDesk(endpoint, args.dir, args.ring, args.tone).run(stop)
    finally:
        endpoint.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
