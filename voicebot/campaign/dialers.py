"""The campaign dialers `voicebot serve` runs for campaigns started from the console.

A campaign started (or resumed) through the API is dialed by a child process of the supervisor
doing what `voicebot campaign run NAME` does (`dialer.run_until_signalled`: its own pjsua2
endpoint on a free SIP port, the dialer lock on the database), publishing its calls' turns to
the supervisor like a worker (`voicebot.telemetry`). One dialer per campaign database at a
time (the lock): campaigns started while one runs wait their turn, in order. Campaigns already
`running` when `serve` starts are dialed again (the ledger reconciles what a dead dialer left).
SIGTERM (serve draining) lets the dialer finish its calls in progress.

    queue     campaigns waiting for the dialer, oldest first
    running   (name, process) or None
    step()    reap a dialer that exited; start the next one queued
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import threading
from multiprocessing.process import BaseProcess
from typing import Any

from voicebot import telemetry

log = logging.getLogger(__name__)


def dialer_main(config: str, name: str, database: str, region: str, channel: Any) -> None:
    """Body of a dialer process: `config` is `worker.encode(ServiceConfig)`."""
    from voicebot.campaign.dialer import run_until_signalled
    from voicebot.campaign.ledger import Ledger
    from voicebot.server.worker import decode

    telemetry.install(channel)
    base = decode(config)
    logging.basicConfig(
        level=base.log_level,
        format=f"%(asctime)s dialer:{name} %(levelname)s %(name)s: %(message)s",
    )
    run_until_signalled(name, Ledger(database, region), base)


class CampaignDialers:
    def __init__(
        self,
        config: Any,
        database: str,
        region: str,
        channel: Any = None,
        *,
        rtp_port: int = 0,
        poll: float = 0.5,
    ):
        from voicebot.server.worker import encode

        sip = dataclasses.replace(config.sip, port=0, rtp_port=rtp_port or config.sip.rtp_port)
        self._config = encode(dataclasses.replace(config, sip=sip, worker="dialer"))
        self.database, self.region, self.channel = database, region, channel
        self.queue: list[str] = []
        self.running: tuple[str, BaseProcess] | None = None
        self.poll = poll
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dialers", daemon=True)

    def on_campaign(self, name: str, action: str) -> None:
        """The console changed a campaign's state: dial it if it now runs."""
        if action in ("start", "resume"):
            self.want(name)

    def want(self, name: str) -> None:
        with self._lock:
            if name not in self.queue and (self.running is None or self.running[0] != name):
                self.queue.append(name)
        self.step()

    def step(self) -> None:
        with self._lock:
            if self.running is not None and not self.running[1].is_alive():
                name, proc = self.running
                log.info("dialer of campaign %s exited with %s", name, proc.exitcode)
                self.running = None
            if self.running is None and self.queue and not self._stop.is_set():
                name = self.queue.pop(0)
                proc = self._ctx.Process(
                    target=dialer_main,
                    args=(self._config, name, self.database, self.region, self.channel),
                    name=f"dialer-{name}",
                )
                proc.start()
                self.running = (name, proc)
                log.info("dialing campaign %s (pid %s)", name, proc.pid)

    def status(self) -> dict[str, Any]:
        with self._lock:
            running = self.running
            return {
                "dialing": running[0] if running else None,
                "pid": running[1].pid if running else None,
                "queued": list(self.queue),
            }

    def start(self, running: list[str]) -> None:
        for name in running:
            self.want(name)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.step()
            except Exception:
                log.exception("campaign dialers")

    def stop(self, timeout: float = 40.0) -> None:
        """SIGTERM the dialer (it drains its calls), then wait for it."""
        self._stop.set()
        with self._lock:
            running, self.running = self.running, None
        if running is None:
            return
        proc = running[1]
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout)
        if proc.is_alive():
            log.warning("dialer of campaign %s did not drain: killing it", running[0])
            proc.kill()
            proc.join(5)
