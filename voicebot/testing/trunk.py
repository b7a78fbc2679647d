"""A simulated trunk with more than 4 lines: callee processes behind a real Kamailio.

One pjsua2 process holds at most 4 calls, the simulated callees' (`callees.py`) as well as a
worker's. A campaign with more calls up needs several callee processes and a trunk that spreads
the INVITEs over them by load: Kamailio with the config `voicebot kamailio-config` writes
(`voicebot.deploy.kamailio`), the callee processes as its destinations, except that a callee's
own answer (486 busy, 503, 480 no answer) goes back to the caller instead of to the next callee
process: only a process that sends nothing is failed over.

    procs = Procs(work, env)                     # every process in its own group, output in
    trunk = start_trunk(procs, callees=2)        # work/NAME.out; procs.stop_all() ends them
    trunk.uri                                    # sip:{number}@127.0.0.1:PORT, the campaign trunk
    logs = trunk.logs()                          # each callee process's own log
    most_up(logs)                                # calls up at once across them
    merged(logs)                                 # one log, by time, for `callee_log.check`
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicebot.deploy.kamailio import Destination, KamailioConfig, render_config
from voicebot.testing.callees import read_log
from voicebot.testing.sip_probe import options_ok

HOST = "127.0.0.1"


class Procs:
    """Processes started in `work` with `env`, each in its own process group."""

    def __init__(self, work: Path, env: dict[str, str]):
        self.work, self.env = work, env
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with (self.work / f"{name}.out").open("wb") as out:
            proc = subprocess.Popen(
                args, cwd=self.work, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.running.append(proc)
        return proc

    def output(self, name: str, tail: int = 4000) -> str:
        """The end of process `name`'s output (`tail` 0: all of it)."""
        return (self.work / f"{name}.out").read_text(errors="replace")[-tail:]

    def stop_all(self, wait: float = 40.0) -> None:
        for proc in reversed(self.running):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(wait)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Trunk:
    port: int  # Kamailio's
    callee_logs: tuple[Path, ...]

    @property
    def uri(self) -> str:
        return f"sip:{{number}}@{HOST}:{self.port}"

    def logs(self) -> list[list[dict[str, Any]]]:
        return [read_log(log) for log in self.callee_logs]


def start_callees(procs: Procs, name: str, *options: str) -> tuple[int, Path]:
    """One callee process; its SIP port and its log."""
    log = procs.work / f"{name}.jsonl"
    proc = procs.start(name, [
        sys.executable, "-m", "voicebot.testing.callees", "--port", "0", "--log", str(log),
        *options,
    ])  # fmt: skip
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start: {procs.output(name)}")
        time.sleep(0.1)
    return int(json.loads(log.read_text().splitlines()[0])["port"]), log


def start_kamailio(procs: Procs, ports: list[int]) -> int:
    """Kamailio on a free port in front of the callees on `ports`; its port."""
    binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
    port, run = free_udp_port(), procs.work / "run"
    run.mkdir(exist_ok=True)
    settings = KamailioConfig(
        tuple(Destination(f"sip:{HOST}:{p}") for p in ports),
        listen_host=HOST, listen_port=port, list_file=str(procs.work / "dispatcher.list"),
        runtime_dir=str(run), pike_limit=0, ping_interval=1,
    )  # fmt: skip
    cfg, listed = render_config(settings)
    # In front of workers a 486/5xx/408/480 moves the call to the next worker; a trunk's
    # callee answers for its number (busy, congested, no answer): only silence fails over.
    failover = 't_check_status("408|477|480|486|5[0-9][0-9]")'
    if failover not in cfg:
        raise RuntimeError("the Kamailio template changed: update voicebot/testing/trunk.py")
    cfg = cfg.replace(failover, "t_branch_timeout() && !t_branch_replied()")
    (procs.work / "dispatcher.list").write_text(listed)
    (procs.work / "kamailio.cfg").write_text(cfg)
    proc = procs.start("kamailio", [
        binary, "-f", str(procs.work / "kamailio.cfg"), "-DD", "-E", "-Y", str(run),
        "-P", str(run / "kamailio.pid"), "-m", "64", "-M", "8",
    ])  # fmt: skip
    deadline = time.monotonic() + 10
    while not options_ok(HOST, port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"kamailio not answering: {procs.output('kamailio')}")
    return port


def start_trunk(procs: Procs, callees: int, *options: str) -> Trunk:
    """`callees` callee processes (with `options`), then Kamailio in front of them."""
    started = [start_callees(procs, f"callees-{i + 1}", *options) for i in range(callees)]
    port = start_kamailio(procs, [p for p, _ in started])  # the callees answer OPTIONS by now
    return Trunk(port, tuple(log for _, log in started))


def most_up(logs: list[list[dict[str, Any]]], lasting: float = 0.0) -> int:
    """Calls up at once across the callee processes (each one's latest `up`, summed), for at
    least `lasting` seconds: each process stamps a call's end when its busy thread gets to the
    BYE, so on loaded cores a sum of separate processes' counts may briefly overlap calls that
    the caller ended before starting the next. 0: the instantaneous most."""
    events = sorted(
        (x["t"], i, x["up"]) for i, lines in enumerate(logs) for x in lines if "up" in x
    )
    now = [0] * len(logs)
    levels: list[tuple[float, int]] = []  # (from when, the sum from then on)
    for t, i, up in events:
        now[i] = up
        levels.append((t, sum(now)))
    if lasting <= 0:
        return max((level for _, level in levels), default=0)
    ends = [t for t, _ in levels[1:]] + [levels[-1][0] if levels else 0.0]
    for level in sorted({level for _, level in levels}, reverse=True):
        since = None  # start of the current run at this level or above
        for (t, value), end in zip(levels, ends, strict=True):
            if value < level:
                since = None
                continue
            since = t if since is None else since
            if end - since >= lasting:
                return level
    return 0


def merged(logs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return sorted((x for lines in logs for x in lines), key=lambda x: x["t"])
