"""The worker pool's dialing: the choice of worker (a pure function of loads), the slot bound
on `max_concurrent`, one lease per worker reconciled when it dies, and the pool's routing
between planners and workers (real ledger, the workers' queues driven by the test)."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from test_leases import NOW, TTL, started

from voicebot.campaign.dialer import NotPlaced, Placed
from voicebot.campaign.ledger import Attempt, Ledger
from voicebot.campaign.loop import CampaignLoop
from voicebot.campaign.pacing import Outcome
from voicebot.campaign.pool import PoolDialer
from voicebot.errors import TooLate
from voicebot.server.placement import Load, Place, Report, WorkerLoad, assign, slots
from voicebot.server.pool_link import PoolLink
from voicebot.server.worker import OutboundResult, ServiceConfig


def test_each_call_goes_to_the_least_loaded_worker_with_a_free_slot() -> None:
    loads = [WorkerLoad("w1", 2), WorkerLoad("w2", 0), WorkerLoad("w3", 1)]
    assert assign(loads, 3) == ["w2", "w2", "w3"]  # w2: 0 -> 1, then ties go to the first
    assert assign(loads, 1) == ["w2"]
    assert assign([WorkerLoad("a", 1), WorkerLoad("b", 1)], 4) == ["a", "b", "a", "b"]


def test_inbound_calls_take_slots_and_no_worker_gets_more_than_its_slots() -> None:
    loads = [WorkerLoad("w1", 3), WorkerLoad("w2", 4), WorkerLoad("w3", 0, slots=2)]
    assert assign(loads, 10) == ["w3", "w3", "w1"]  # 2 + 0 + 1 free slots, fewest calls first
    assert assign([WorkerLoad("w1", 4), WorkerLoad("w2", 5)], 2) == []
    assert assign(loads, 0) == []
    assert slots(loads) == 10 and slots([]) == 0
    assert [load.free for load in loads] == [1, 0, 2]


def test_the_slots_of_the_live_workers_bound_max_concurrent(database_url: str) -> None:
    """max_concurrent 6 with 4 free slots: 4 calls, each under the lease of its slot's
    worker; one slot more later: one call more; never past max_concurrent."""
    ledger = Ledger(database_url)
    started(ledger, "c", *[f"+1212555{n:04d}" for n in range(100, 112)], max_concurrent=6)
    cid = ledger.campaign("c").id
    w1 = ledger.leases.acquire(cid, "w1", NOW, TTL)
    w2 = ledger.leases.acquire(cid, "w2", NOW, TTL)
    loop = CampaignLoop(ledger, "c", now=NOW)
    first = loop.step(NOW, [w1, w2, w1, w2])
    assert [d.lease for d in first] == [w1, w2, w1, w2]
    rows = {a["id"]: a["lease_id"] for a in ledger.attempts(ledger.campaign("c"))}
    assert [rows[d.attempt.id] for d in first] == [w1.id, w2.id, w1.id, w2.id]
    assert loop.step(NOW, []) == []  # no free slot: nothing, whatever max_concurrent says
    later = NOW + timedelta(seconds=1)
    one = loop.step(later, [w2])
    last = loop.step(later, [w1, w1, w2, w2])
    assert len(one) == 1 and [d.lease for d in last] == [w1]  # 6 up: max_concurrent
    # w1 dies: its three calls, and only those, are reconciled through its lease
    lost = ledger.reconcile(later, "c", lease=w1.id)
    assert sorted(lost) == sorted(d.attempt.id for d in first + one + last if d.lease == w1)
    assert ledger.in_flight(ledger.campaign("c")) == 3


def _order(pool: PoolDialer, worker: str, timeout: float = 10.0) -> Place:
    order = pool.orders[worker].get(timeout=timeout)
    assert isinstance(order, Place)
    return order


def _no_order(pool: PoolDialer, worker: str) -> None:
    with pytest.raises(queue.Empty):
        pool.orders[worker].get(timeout=1.5)


def test_the_pool_spreads_a_campaign_over_its_workers_and_reconciles_a_dead_one(
    tmp_path,
) -> None:
    """Two workers (played by the test on their queues), one with an inbound call: the pool
    fills the free slots least-loaded first, a result frees a slot, a worker's death closes
    its attempts as `unknown`, their slots are held `lost_call_hold_seconds`, then its
    replacement takes calls under a new lease."""
    db = str(tmp_path / "c.db")
    ledger = Ledger(db)
    phones = [f"+1212555{n:04d}" for n in range(100, 112)]
    started(ledger, "c", *phones, max_concurrent=6, cps=100, burst=20, lost_call_hold_seconds=2)
    t0 = time.monotonic()  # the pool's clock runs from NOW, inside the calling hours
    clock = lambda: NOW + timedelta(seconds=time.monotonic() - t0)  # noqa: E731
    pool = PoolDialer(db, "US", ["w1", "w2"], poll=0.2, clock=clock)
    pool.reports.put(Load("w1", 101, inbound=1))
    pool.reports.put(Load("w2", 102, inbound=0))
    pool.start()
    try:
        got = {"w1": [_order(pool, "w1") for _ in range(3)]}
        got["w2"] = [_order(pool, "w2") for _ in range(3)]  # 6 = max_concurrent, 7 slots free
        _no_order(pool, "w1")
        _no_order(pool, "w2")
        assert {o.pid for o in got["w1"]} == {101} and {o.pid for o in got["w2"]} == {102}
        assert pool.status()["workers"] == {"w1": 4, "w2": 3}
        done = got["w2"][0].attempt
        result = OutboundResult(done.id, "call-x", 486)
        pool.reports.put(Report("w2", done.id, result))
        nxt = _order(pool, "w2")  # the freed slot of w2 (w1 is full)
        assert nxt.attempt.phone not in {o.attempt.phone for o in got["w1"] + got["w2"]}
        pool.worker_gone("w1")
        pool.reports.put(Load("w1", 201, inbound=0))  # its replacement, ready
        _no_order(pool, "w1")  # w1's 3 lost calls keep their slots 2 s: the far end may hold them
        again: list[tuple[str, Place]] = []  # then 3 calls more: the new w1, and w2's free slot
        deadline = time.monotonic() + 10
        while len(again) < 3 and time.monotonic() < deadline:
            for worker in ("w1", "w2"):
                with contextlib.suppress(queue.Empty):
                    again.append((worker, pool.orders[worker].get(timeout=0.1)))
        assert len(again) == 3
        assert all(o.pid == {"w1": 201, "w2": 102}[w] for w, o in again)
        assert [w for w, _ in again].count("w1") >= 2  # w2 had one slot free at most
    finally:
        pool.stop(timeout=3)
    rows = {a["id"]: a for a in ledger.attempts(ledger.campaign("c"))}
    assert all(rows[o.attempt.id]["outcome"] == "unknown" for o in got["w1"])
    assert rows[done.id]["outcome"] == "busy"
    leases = {rows[o.attempt.id]["lease_id"] for w, o in again if w == "w1"} | {
        rows[o.attempt.id]["lease_id"] for o in got["w1"]
    }
    assert len(leases) == 2  # the dead process's lease and its replacement's


class FakeService:
    """What `PoolLink` uses of a `VoicebotService`: places calls, or fails to."""

    def __init__(self, fail: Exception | None = None):
        self.fail = fail
        self.placed: list[tuple[str, int, Path | None]] = []
        self.draining = threading.Event()
        self.results: queue.Queue[OutboundResult] = queue.Queue()
        self.calls: dict[str, object] = {}
        self.outbound: dict[str, object] = {}
        self.config = ServiceConfig(flow=Path("f.yaml"))

    def place_call(self, uri, contact, tag, ring_seconds, flow=None, not_after=None) -> str:
        if self.fail is not None:
            raise self.fail
        if not_after is not None and time.time() > not_after:  # as SipEndpoint.make_call
            raise TooLate(f"call {uri}: its turn passed: not sent")
        self.placed.append((uri, tag, flow))
        return f"call-{tag}"

    def check_ringing(self) -> None:
        pass

    def inbound_calls(self) -> int:
        return 1


def _attempt(n: int) -> Attempt:
    return Attempt(n, "c", n, f"+1212555010{n}", {"phone": "x"}, "/flows/f.yaml", NOW)


def test_a_worker_places_its_orders_refuses_when_draining_and_reports_failures() -> None:
    orders: queue.Queue[Place] = queue.Queue()
    reports: queue.Queue[object] = queue.Queue()
    link = PoolLink("w1", orders, reports)
    service = FakeService()
    trunk = "sip:{number}@127.0.0.1:5080"
    orders.put(Place(link.pid + 1, _attempt(1), trunk, 3.0))  # its predecessor's: dropped
    orders.put(Place(link.pid, _attempt(2), trunk, 3.0))
    link.step(service)  # type: ignore[arg-type]
    assert service.placed == [("sip:+12125550102@127.0.0.1:5080", 2, Path("/flows/f.yaml"))]
    assert reports.get_nowait() == Load("w1", link.pid, inbound=1, accepting=True)
    placed = reports.get_nowait()  # when its INVITE left: the planner's bucket counts from then
    assert isinstance(placed.item, Placed) and placed.item.attempt_id == 2
    assert abs(placed.item.at - time.time()) < 5
    service.results.put(OutboundResult(2, "call-2", 486))
    link.step(service)  # type: ignore[arg-type]
    assert reports.get_nowait() == Report("w1", 2, OutboundResult(2, "call-2", 486))
    service.draining.set()
    orders.put(Place(link.pid, _attempt(3), trunk, 3.0))
    link.step(service)  # type: ignore[arg-type]
    assert reports.get_nowait() == Load("w1", link.pid, inbound=1, accepting=False)
    refused = reports.get_nowait()
    assert refused.item.outcome == Outcome.CONGESTION and "draining" in refused.item.note
    broken = FakeService(FileNotFoundError("/flows/f.yaml"))
    orders.put(Place(link.pid, _attempt(4), trunk, 3.0))
    link.step(broken)  # type: ignore[arg-type]
    failed = []
    while not reports.empty():
        message = reports.get_nowait()
        if isinstance(message, Report):
            failed.append(message)
    assert [(r.attempt_id, r.item.outcome) for r in failed] == [(4, Outcome.FAILED)]
    assert "/flows/f.yaml" in failed[0].item.note


def test_orders_that_waited_for_a_busy_worker_leave_their_spacing_apart() -> None:
    """Two orders of one campaign queued while the worker was busy: the second leaves 1/cps
    after the first, not with it; another campaign's order is not held by them."""
    orders: queue.Queue[Place] = queue.Queue()
    link = PoolLink("w1", orders, queue.Queue())
    service = FakeService()
    trunk = "sip:{number}@127.0.0.1:5080"
    other = Attempt(9, "other", 9, "+12125550109", {"phone": "x"}, "/flows/f.yaml", NOW)
    for order in (_attempt(1), _attempt(2), other):
        orders.put(Place(link.pid, order, trunk, 3.0, spacing=0.3))
    placed_at: dict[int, float] = {}
    deadline = time.monotonic() + 5
    while len(placed_at) < 3 and time.monotonic() < deadline:
        link.step(service)  # type: ignore[arg-type]
        for _, tag, _ in service.placed:
            placed_at.setdefault(tag, time.monotonic())
        time.sleep(0.01)
    assert sorted(placed_at) == [1, 2, 9]
    assert placed_at[2] - placed_at[1] >= 0.3 - 0.02  # the same campaign: spaced
    assert placed_at[9] - placed_at[1] < 0.1  # another campaign: at once


def _reported(reports: queue.Queue[object]) -> dict[int, object]:
    out = {}
    while not reports.empty():
        message = reports.get_nowait()
        if isinstance(message, Report):
            out[message.attempt_id] = message.item
    return out


def test_an_order_whose_turn_passed_is_not_sent_and_comes_back_late() -> None:
    """Past its `not_after` an order's INVITE does not leave: not a counted attempt, no
    back-pressure hold (`late`). An order held for spacing that could only leave after its
    turn comes back at once; orders still held when the worker stops come back too."""
    orders: queue.Queue[Place] = queue.Queue()
    reports: queue.Queue[object] = queue.Queue()
    link = PoolLink("w1", orders, reports)
    service = FakeService()
    trunk = "sip:{number}@127.0.0.1:5080"
    now = time.time()
    orders.put(Place(link.pid, _attempt(1), trunk, 3.0, not_after=now - 0.01))
    orders.put(Place(link.pid, _attempt(2), trunk, 3.0, spacing=0.5, not_after=now + 5))
    orders.put(Place(link.pid, _attempt(3), trunk, 3.0, spacing=0.5, not_after=now + 0.2))
    orders.put(Place(link.pid, _attempt(4), trunk, 3.0, spacing=0.5, not_after=now + 5))
    link.step(service)  # type: ignore[arg-type]
    got = _reported(reports)
    assert [tag for _, tag, _ in service.placed] == [2]
    late = got[1]
    assert isinstance(late, NotPlaced) and late.late and late.outcome == Outcome.CONGESTION
    assert "turn passed" in late.note
    assert isinstance(got[3], NotPlaced) and got[3].late  # held 0.5 s, its turn ends in 0.2
    assert 4 not in got  # held: it can still leave in its turn
    service.draining.set()
    link.refuse_waiting(service)  # type: ignore[arg-type]
    back = _reported(reports)[4]
    assert isinstance(back, NotPlaced) and not back.late and "draining" in back.note
    assert [tag for _, tag, _ in service.placed] == [2]
