"""Live calls: what the workers publish (`voicebot.telemetry`), as the console shows it.

`LiveCalls.apply(event)` keeps the calls in progress with their turns so far (and the last
ended ones, for a while) and the workers' heartbeats; it returns the message to stream, if any:

    {"type": "began", "call": {...}}                a call was offered or placed
    {"type": "turn", "call_id": ..., "turn": {...}} a caller or bot turn, masked as recorded
    {"type": "ended", "call_id": ..., "outcome": ...}

Subscribers (the API's Server-Sent Events streams, each on the server's event loop) get every
message through `asyncio.Queue`s fed thread-safely; a subscriber that stops reading loses its
queue's overflow, never holds up the relay. `Relay` is the supervisor's thread that drains the
workers' queue into `LiveCalls` and the metrics.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from voicebot import telemetry

log = logging.getLogger(__name__)

KEEP_ENDED = 50  # ended calls kept in the live view
QUEUE_SIZE = 1000


@dataclass
class LiveCall:
    call_id: str
    worker: str
    direction: str
    from_uri: str
    to_uri: str
    flow: str
    began_at: float
    turns: list[dict[str, Any]] = field(default_factory=list)
    outcome: str | None = None
    ended_at: float | None = None

    def view(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any]]
    call_id: str | None


class LiveCalls:
    def __init__(self) -> None:
        self.active: dict[str, LiveCall] = {}
        self.ended: OrderedDict[str, LiveCall] = OrderedDict()
        self.heartbeats: dict[str, telemetry.Heartbeat] = {}
        self._subscribers: list[_Subscriber] = []
        self._lock = threading.Lock()

    # -- the state ---------------------------------------------------------------------------
    def apply(self, event: telemetry.Event) -> dict[str, Any] | None:
        with self._lock:
            message = self._apply(event)
        if message is not None:
            self._broadcast(message)
        return message

    def _apply(self, event: telemetry.Event) -> dict[str, Any] | None:
        match event:
            case telemetry.CallBegan():
                call = LiveCall(
                    event.call_id,
                    event.worker,
                    event.direction,
                    event.from_uri,
                    event.to_uri,
                    event.flow,
                    event.at or time.time(),
                )
                self.active[event.call_id] = call
                return {"type": "began", "call": call.view()}
            case telemetry.TurnTaken():
                turn = {
                    "who": event.who,
                    "text": event.text,
                    "dtmf": event.dtmf,
                    "confidence": event.confidence,
                    "latency_ms": event.latency_ms,
                    "step": event.step,
                    "at": event.at,
                }
                found = self.active.get(event.call_id)
                if found is not None:
                    found.turns.append(turn)
                return {"type": "turn", "call_id": event.call_id, "turn": turn}
            case telemetry.CallFinished():
                return self._end(event.call_id, event.outcome, event.at or time.time())
            case telemetry.Heartbeat():
                self.heartbeats[event.worker] = event
        return None

    def _end(self, call_id: str, outcome: str, at: float) -> dict[str, Any] | None:
        call = self.active.pop(call_id, None)
        if call is None:
            return None
        call.outcome, call.ended_at = outcome, at
        self.ended[call_id] = call
        while len(self.ended) > KEEP_ENDED:
            self.ended.popitem(last=False)
        return {"type": "ended", "call_id": call_id, "outcome": outcome}

    def worker_gone(self, worker: str) -> list[dict[str, Any]]:
        """A worker died: its calls are over (recorded as failed by the supervisor)."""
        with self._lock:
            gone = [c for c in self.active.values() if c.worker == worker]
            messages = [self._end(c.call_id, "failed", time.time()) for c in gone]
            self.heartbeats.pop(worker, None)
        out = [m for m in messages if m is not None]
        for m in out:
            self._broadcast(m)
        return out

    def snapshot(self, call_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            calls = [*self.active.values(), *reversed(self.ended.values())]
            return [c.view() for c in calls if call_id is None or c.call_id == call_id]

    def counts(self) -> dict[str, int]:
        """Calls in progress by direction."""
        with self._lock:
            out = {"inbound": 0, "outbound": 0}
            for c in self.active.values():
                out[c.direction] = out.get(c.direction, 0) + 1
            return out

    # -- subscribers -------------------------------------------------------------------------
    def subscribe(self, call_id: str | None = None) -> asyncio.Queue[dict[str, Any]]:
        """A queue of the messages from now on (of one call, or all); on the running loop."""
        sub = _Subscriber(asyncio.get_running_loop(), asyncio.Queue(QUEUE_SIZE), call_id)
        with self._lock:
            self._subscribers.append(sub)
        return sub.queue

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s.queue is not q]

    def _broadcast(self, message: dict[str, Any]) -> None:
        about = message.get("call_id") or message.get("call", {}).get("call_id")
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            if sub.call_id is not None and sub.call_id != about:
                continue
            try:
                sub.loop.call_soon_threadsafe(_offer, sub.queue, message)
            except RuntimeError:  # its loop is closed: the stream is gone
                self.unsubscribe(sub.queue)


def _offer(q: asyncio.Queue[dict[str, Any]], message: dict[str, Any]) -> None:
    try:
        q.put_nowait(message)
    except asyncio.QueueFull:  # a reader that stopped reading loses messages, not the relay
        pass


class Relay:
    """The supervisor's thread that reads the workers' telemetry queue into its consumers."""

    def __init__(self, channel: Any, consumers: list[Callable[[telemetry.Event], object]]):
        self.channel = channel
        self.consumers = consumers
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="telemetry", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                event = self.channel.get(timeout=0.2)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return
            for consume in self.consumers:
                try:
                    consume(event)
                except Exception:  # one bad event must not stop the console
                    log.exception("telemetry %s failed", type(event).__name__)
