"""What the soak samples every second while its calls run (Linux /proc, and Kamailio's RPC).

SoakSampler(workers, groups, kamcmd).start() ... .stop(); .rows
    workers: name -> pid; each row has its VmRSS (kB), open descriptors (/proc/PID/fd),
             CPU ticks (utime + stime of all its threads)
    groups:  name -> callable giving pids now (Kamailio, sipp, dumpcap): their CPU ticks
    kamcmd:  argv of `kamcmd ... dispatcher.list`, or None: each worker's call load as
             Kamailio's dispatcher counts it (DLGLOAD), by its dispatcher URI
and for the machine: /proc/stat's busy and total jiffies (other helpers' work included)
and the 1-minute load average.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
_DEST = re.compile(r"URI: (sip:\S+).*?DLGLOAD: (\d+)", re.S)


def process(pid: int) -> tuple[int, int, int] | None:
    """(VmRSS kB, open descriptors, CPU ticks) of a process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    m = re.search(r"VmRSS:\s+(\d+)", status)
    return int(m.group(1)) if m else 0, fds, int(fields[11]) + int(fields[12])


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat's first line."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def dispatcher_loads(text: str) -> dict[str, int]:
    """Each destination's DLGLOAD in `kamcmd dispatcher.list`'s output, by URI."""
    return {uri: int(n) for uri, n in _DEST.findall(text)}


class SoakSampler:
    def __init__(
        self,
        workers: dict[str, int],
        groups: dict[str, Callable[[], list[int]]],
        kamcmd: list[str] | None,
        every: float = 1.0,
    ) -> None:
        self.workers, self.groups, self.kamcmd, self.every = workers, groups, kamcmd, every
        self.rows: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SoakSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def sample(self) -> dict[str, Any]:
        row: dict[str, Any] = {"t": time.time(), "workers": {}, "ticks": {}}
        for name, pid in self.workers.items():
            s = process(pid)
            row["workers"][name] = (
                None if s is None else {"rss_kb": s[0], "fds": s[1], "ticks": s[2]}
            )
        for name, pids_of in self.groups.items():
            alive = [s[2] for s in map(process, pids_of()) if s is not None]
            row["ticks"][name] = sum(alive) if alive else None  # None: the group is gone
        row["machine"] = machine_jiffies()
        row["load"] = os.getloadavg()[0]
        if self.kamcmd:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                done = subprocess.run(self.kamcmd, capture_output=True, text=True, timeout=2)
                row["kamailio_load"] = dispatcher_loads(done.stdout)
        return row

    def _run(self) -> None:
        while True:
            self.rows.append(self.sample())
            if self._stop.wait(self.every):
                return
