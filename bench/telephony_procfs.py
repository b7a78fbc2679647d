"""What the telephony benchmark reads from /proc while the calls run (Linux only).

Sampler(groups, clocks).start() ... .stop()
    groups: name -> callable giving the group's pids now; each sample adds up the group's
            CPU ticks (utime + stime of every thread) and VmRSS
    clocks: name -> pid whose pjmedia "clock" thread (the one that sends RTP every 20 ms)
            to watch: its run-queue wait (schedstat), i.e. time it was ready to run but
            had no CPU -- what turns into outbound RTP gaps when the machine is busy
cpu_percent / peak_rss_mb / clock_wait_ms / clock_wait_worst_ms over a time window
hwm_kb(pid)      VmHWM: the process's resident peak since it started
children(pid), session_pids(sid)
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, int] | None:
    """(utime + stime ticks, VmRSS kB) of a process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(r"VmRSS:\s+(\d+)", status)
    return int(fields[11]) + int(fields[12]), int(m.group(1)) if m else 0


def threads_named(pid: int, name: str) -> list[int]:
    out = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                if (task / "comm").read_text().strip() == name:
                    out.append(int(task.name))
    return out


def run_delay_ns(pid: int, tid: int) -> int | None:
    """Time the thread has spent runnable but waiting for a CPU (schedstat's second field)."""
    try:
        return int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None


def hwm_kb(pid: int) -> int:
    try:
        m = re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return 0
    return int(m.group(1)) if m else 0


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def session_pids(sid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[3]) == sid:
                out.append(int(entry.name))
    return out


@dataclass
class Sampler:
    """Samples named groups of processes every `every` seconds on its own thread."""

    groups: dict[str, Any]  # name -> callable returning the pids of the group now
    clocks: dict[str, int] = field(default_factory=dict)  # name -> pid whose clock thread to watch
    every: float = 0.1
    series: dict[str, list[tuple[float, int, int]]] = field(default_factory=dict)
    # name -> (time, run-queue wait of pjmedia's "clock" thread so far, ns): the thread that
    # sends the bot's RTP every 20 ms; a jump of tens of ms means it waited for a CPU
    waits: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    realtime_clock: bool = False  # experiment: put each clock thread found on SCHED_FIFO
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        seen: dict[int, int] = {}  # pid -> ticks at its first sample (base for its group sum)
        totals: dict[str, int] = {}
        last_wait: dict[int, int] = {}  # clock thread id -> its run-queue wait at last sample
        waited: dict[str, int] = {}
        while not self._stop.is_set():
            now = time.time()
            # pjsua opens the (null) sound device, and so starts its clock thread, when a call
            # has audio and closes it a second after the last: look for the thread each time
            for name, pid in self.clocks.items():
                for tid in threads_named(pid, "clock"):
                    if self.realtime_clock and tid not in last_wait:
                        with contextlib.suppress(OSError):
                            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(10))
                    ns = run_delay_ns(pid, tid)
                    if ns is not None:
                        waited[name] = waited.get(name, 0) + ns - last_wait.get(tid, ns)
                        last_wait[tid] = ns
                self.waits.setdefault(name, []).append((now, waited.get(name, 0)))
            for name, pids_of in self.groups.items():
                ticks, rss = totals.get(name, 0), 0
                for pid in pids_of():
                    s = _stat(pid)
                    if s is None:
                        continue
                    key = hash((name, pid))
                    first = seen.setdefault(key, s[0])
                    ticks += s[0] - first
                    seen[key] = s[0]
                    rss += s[1]
                totals[name] = ticks
                self.series.setdefault(name, []).append((now, ticks, rss))
            self._stop.wait(self.every)

    def cpu_percent(self, name: str, start: float, end: float) -> float:
        rows = [r for r in self.series.get(name, []) if start <= r[0] <= end]
        if len(rows) < 2:
            return float("nan")
        return 100.0 * (rows[-1][1] - rows[0][1]) / CLK_TCK / (rows[-1][0] - rows[0][0])

    def clock_wait_ms(self, name: str, start: float, end: float) -> float:
        """The clock thread's run-queue wait between `start` and `end` (sample resolution)."""
        rows = self.waits.get(name, [])
        before = [w for t, w in rows if t <= start]
        after = [w for t, w in rows if t >= end]
        if not before or not after:
            return float("nan")
        return (after[0] - before[-1]) / 1e6

    def clock_wait_worst_ms(self, name: str, start: float, end: float) -> float:
        """The largest run-queue wait of the clock thread within one sampling interval."""
        rows = [r for r in self.waits.get(name, []) if start <= r[0] <= end]
        steps = [(b[1] - a[1]) / 1e6 for a, b in zip(rows, rows[1:], strict=False)]
        return max(steps, default=float("nan"))

    def peak_rss_mb(self, name: str, start: float, end: float) -> float:
        rows = [r[2] for r in self.series.get(name, []) if start <= r[0] <= end]
        return max(rows) / 1024 if rows else float("nan")
