"""Which worker places a campaign's next calls, and the messages between the pool and workers.

`voicebot serve --workers N` dials started campaigns through its workers (`campaign/pool.py`):
the supervisor plans (one thread per campaign, it alone touches the campaign database) and each
call is placed by the worker this module picks. The choice is a pure function of the workers'
loads: `assign(loads, count)` gives `count` new calls one at a time to the live worker with the
fewest calls that still has a free slot (4 per worker, its inbound calls included), ties to the
first listed; `slots(loads)` is what a campaign's `max_concurrent` is bounded by.

The messages (frozen, pickled across the "spawn" queues):

    supervisor -> worker   Place    one attempt, for one worker process (its pid)
    worker -> supervisor   Load     the worker is ready (or draining) and its calls in use
                           Report   how an attempt ended (a result, not placed, an opt-out)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from voicebot.sip.config import MAX_CALLS


@dataclass(frozen=True)
class WorkerLoad:
    """A live worker as the pool sees it: its calls (inbound, agent legs, and the outbound ones
    the pool gave it that have not ended yet) out of its slots."""

    worker: str
    calls: int
    slots: int = MAX_CALLS

    @property
    def free(self) -> int:
        return max(0, self.slots - self.calls)


def slots(loads: Sequence[WorkerLoad]) -> int:
    """Every call slot of the live workers: the most calls a campaign can have up here."""
    return sum(load.slots for load in loads)


def assign(loads: Sequence[WorkerLoad], count: int) -> list[str]:
    """The workers for up to `count` new calls, one entry per call: each to the least-loaded
    worker with a free slot at that moment (ties: the first listed). Fewer when slots run out."""
    calls = {load.worker: load.calls for load in loads}
    out: list[str] = []
    for _ in range(count):
        free = [load for load in loads if calls[load.worker] < load.slots]
        if not free:
            break
        chosen = min(free, key=lambda load: calls[load.worker]).worker
        calls[chosen] += 1
        out.append(chosen)
    return out


@dataclass(frozen=True)
class Place:
    """Place `attempt` (a `campaign.ledger.Attempt`, already written `dialing` under the
    worker's lease). `pid` is the worker process it is for: a restarted worker ignores what was
    queued for its predecessor (those attempts were reconciled when it died)."""

    pid: int
    attempt: Any
    trunk: str
    ring_seconds: float
    spacing: float = 0.0  # seconds at least after this worker's previous INVITE of the campaign
    not_after: float | None = None  # time.time() after which the INVITE must not leave


@dataclass(frozen=True)
class Load:
    worker: str
    pid: int
    inbound: int  # slots taken by calls the pool did not place (inbound, agent legs)
    accepting: bool = True  # False once draining: no new calls


@dataclass(frozen=True)
class Report:
    """What became of attempt `attempt_id`: `Placed` when its INVITE left, an `OptOut` while
    the call runs, then an `OutboundResult` or a `NotPlaced` (`campaign.dialer`)."""

    worker: str
    attempt_id: int
    item: Any
