"""Worker processes under a supervisor: `voicebot serve --workers N`.

pjsua2 handles at most 4 calls per process, so capacity comes from processes. The supervisor
starts N workers (multiprocessing "spawn": pjsua2 must never be forked), each on its own SIP
port, and watches them:

- a worker that dies is started again, and `on_exit(spec, exitcode)` runs first so the calls
  it had are recorded as failed; a worker that keeps dying soon after start is restarted with
  an exponential back-off (1 s doubling to 30 s) instead of in a tight loop;
- SIGTERM or SIGINT drains: every worker gets SIGTERM (it stops taking calls and finishes the
  ones it has), the supervisor waits up to `drain_deadline`, then kills what is left.

A worker's `target(spec)` is a plain function run in the child; it returns when drained.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType

log = logging.getLogger(__name__)

QUICK_DEATH = 5.0  # a worker that dies sooner than this after start counts as crash-looping
MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class WorkerSpec:
    index: int
    name: str
    sip_port: int


def specs(count: int, base_port: int) -> list[WorkerSpec]:
    return [WorkerSpec(i, f"w{i + 1}", base_port + i) for i in range(count)]


@dataclass
class _Slot:
    spec: WorkerSpec
    process: BaseProcess | None = None
    started: float = 0.0
    restarts: int = 0
    quick_deaths: int = 0
    not_before: float = 0.0


class Supervisor:
    def __init__(
        self,
        workers: list[WorkerSpec],
        target: Callable[[WorkerSpec], object],
        *,
        on_exit: Callable[[WorkerSpec, int | None], None] | None = None,
        drain_deadline: float = 30.0,
        poll: float = 0.2,
    ):
        self.slots = [_Slot(spec) for spec in workers]
        self.target = target
        self.on_exit = on_exit
        self.drain_deadline = drain_deadline
        self.poll = poll
        self.draining = False
        self._ctx = multiprocessing.get_context("spawn")

    def _start(self, slot: _Slot, now: float) -> None:
        proc = self._ctx.Process(
            target=self.target, args=(slot.spec,), name=slot.spec.name, daemon=False
        )
        proc.start()
        slot.process, slot.started = proc, now
        log.info(
            "worker %s started (pid %s, SIP port %s)", slot.spec.name, proc.pid, slot.spec.sip_port
        )

    def _reap(self, slot: _Slot, now: float) -> None:
        proc = slot.process
        if proc is None or proc.is_alive():
            return
        code = proc.exitcode
        slot.process = None
        clean = self.draining and code == 0
        log.log(
            logging.INFO if clean else logging.WARNING,
            "worker %s exited with %s",
            slot.spec.name,
            code,
        )
        if self.on_exit is not None:
            try:
                self.on_exit(slot.spec, code)
            except Exception:  # recording the failure must not stop the supervision
                log.exception("on_exit for %s failed", slot.spec.name)
        if self.draining:
            return
        slot.restarts += 1
        slot.quick_deaths = slot.quick_deaths + 1 if now - slot.started < QUICK_DEATH else 0
        delay = min(MAX_BACKOFF, 2.0 ** (slot.quick_deaths - 1)) if slot.quick_deaths else 0.0
        slot.not_before = now + delay
        if delay:
            log.warning("worker %s keeps dying: restarting in %.0f s", slot.spec.name, delay)

    def step(self, now: float | None = None) -> None:
        """One round of supervision: reap the dead, start what should run."""
        now = time.monotonic() if now is None else now
        for slot in self.slots:
            self._reap(slot, now)
            if slot.process is None and not self.draining and now >= slot.not_before:
                self._start(slot, now)

    def alive(self) -> list[WorkerSpec]:
        return [s.spec for s in self.slots if s.process is not None and s.process.is_alive()]

    def drain(self) -> None:
        """SIGTERM every worker, wait for them up to the deadline, then kill the rest."""
        self.draining = True
        for slot in self.slots:
            if slot.process is not None and slot.process.is_alive():
                slot.process.terminate()
        deadline = time.monotonic() + self.drain_deadline
        while time.monotonic() < deadline and self.alive():
            time.sleep(self.poll)
        for slot in self.slots:
            if slot.process is not None and slot.process.is_alive():
                log.warning(
                    "worker %s did not drain in %.0f s: killing it",
                    slot.spec.name,
                    self.drain_deadline,
                )
                slot.process.kill()
                slot.process.join(5)
            self._reap(slot, time.monotonic())

    def run(self, should_stop: Callable[[], bool] | None = None) -> int:
        """Supervise until SIGTERM/SIGINT (or `should_stop()`), then drain. Main thread only."""
        stop = {"now": False}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %s: draining", signum)
            stop["now"] = True

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not stop["now"] and not (should_stop and should_stop()):
                self.step()
                time.sleep(self.poll)
            self.drain()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return 0
