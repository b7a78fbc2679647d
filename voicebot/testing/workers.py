"""Worker bodies for testing the supervisor with real processes (no SIP)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from voicebot.server.supervisor import WorkerSpec

LOG_DIR_ENV = "VOICEBOT_TEST_WORKER_LOG"


def _log(spec: WorkerSpec, what: str) -> None:
    directory = Path(os.environ[LOG_DIR_ENV])
    with open(directory / f"{spec.name}.log", "a") as f:
        f.write(f"{what} {os.getpid()} {spec.sip_port}\n")


def drains_on_term(spec: WorkerSpec) -> None:
    """Runs until SIGTERM, then 'finishes its calls' (0.3 s) and exits 0."""
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    _log(spec, "start")
    while not stop["now"]:
        time.sleep(0.02)
    time.sleep(0.3)
    _log(spec, "drained")


def crashes(spec: WorkerSpec) -> None:
    """Worker w1 dies at once with exit code 3; the others behave."""
    if spec.name == "w1":
        _log(spec, "crash")
        os._exit(3)
    drains_on_term(spec)


def ignores_term(spec: WorkerSpec) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _log(spec, "start")
    while True:
        time.sleep(0.05)
