"""What a worker tells its supervisor as it happens: the channel behind the console.

Workers are separate processes; the supervisor holds
the HTTP console, its live-calls view and `/metrics`. Each child gets one queue when it is
started (a `multiprocessing` queue of the "spawn" context, in the process's arguments) and
installs it with `install(queue)`; from then on `publish(event)` puts small frozen events on it:

    CallBegan     a call was offered or placed (direction, from, to, flow, worker)
    TurnTaken     a caller or bot turn, as it is written to the call record (masked text,
                  keys, confidence, the bot's latency)
    Recognised    a final recognition came back: how long it took
    AmdDecided    an outbound call was answered by a human or a machine
    SipResponse   the final SIP status of an INVITE we placed, or a refusal we sent
    CallFinished  a call's outcome, as in its record
    Heartbeat     every couple of seconds: the worker is alive, with its calls

Like logging, the sink is process-wide and never blocks a call: with nothing installed (the
CLI, tests of the cores, `serve` without the console) `publish` does nothing, and a full queue
drops the event (counted in `dropped`) instead of holding up a call's thread.
"""

from __future__ import annotations

import logging
import queue
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallBegan:
    call_id: str
    worker: str
    direction: str
    from_uri: str = ""
    to_uri: str = ""
    flow: str = ""
    at: float = 0.0  # time.time()


@dataclass(frozen=True)
class TurnTaken:
    call_id: str
    worker: str
    who: str  # "caller" | "bot"
    text: str = ""
    dtmf: str = ""
    confidence: float | None = None
    latency_ms: float | None = None
    step: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class Recognised:
    call_id: str
    worker: str
    seconds: float


@dataclass(frozen=True)
class AmdDecided:
    call_id: str
    worker: str
    answered_by: str  # "human" | "machine"


@dataclass(frozen=True)
class SipResponse:
    worker: str
    code: int


@dataclass(frozen=True)
class CallFinished:
    call_id: str
    worker: str
    outcome: str
    at: float = 0.0


@dataclass(frozen=True)
class Heartbeat:
    worker: str
    pid: int
    calls: int
    at: float = 0.0


Event = CallBegan | TurnTaken | Recognised | AmdDecided | SipResponse | CallFinished | Heartbeat


class Sink(Protocol):
    def put_nowait(self, item: Any) -> None: ...


_sink: Sink | None = None
dropped = 0


def install(sink: Sink | None) -> None:
    """Send this process's events to `sink` (a queue); None stops publishing."""
    global _sink
    _sink = sink


def installed() -> bool:
    return _sink is not None


def publish(event: Event) -> None:
    """Hand `event` to the supervisor; never blocks, never raises."""
    global dropped
    sink = _sink
    if sink is None:
        return
    try:
        sink.put_nowait(event)
    except queue.Full:
        dropped += 1
    except Exception:  # a closed or broken channel must not cost a call
        dropped += 1
        log.debug("telemetry event dropped", exc_info=True)
