"""`voicebot serve` with the console: the supervisor process also serves the HTTP API, the
dashboard and /metrics (settings `http.host`/`http.port`, `--http-port`; 0: none).

    workers ──telemetry queue──> Relay thread ──> LiveCalls (SSE) and Metrics
    campaigns started from the console (or the CLI) are dialed through the same workers
    (`voicebot.campaign.pool`), their calls published like inbound ones
    uvicorn thread: create_app(ConsoleParts) over the service layer and the stores

The console's tokens and audit trail live in the campaign database (settings
`campaign.database`).
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from typing import Any

from voicebot.console.api import ConsoleParts, create_app
from voicebot.console.audit import AuditTrail
from voicebot.console.database import databases, open_engine
from voicebot.console.live import LiveCalls, Relay
from voicebot.console.metrics import Metrics
from voicebot.console.server import ConsoleServer
from voicebot.console.service import Console, ConsoleConfig
from voicebot.console.tokens import TokenStore
from voicebot.server.supervisor import Supervisor, WorkerSpec
from voicebot.server.worker import ServiceConfig, campaign_pool, serve_workers

log = logging.getLogger(__name__)

CHANNEL_SIZE = 10_000
HEARTBEAT_STALE = 10.0  # seconds without a heartbeat: the worker is not answering


def console_config(settings: Any) -> ConsoleConfig:
    campaign_db, records = databases(settings)
    return ConsoleConfig(
        flows_dir=settings.flows_dir,
        campaign_db=campaign_db,
        call_records=records,
        data_dir=settings.data_dir,
        audio_dir=settings.audio_assets_dir,
        limits=settings.limits.flow(),
        csv_bytes=settings.limits.csv_bytes,
        numbers=settings.outbound.policy(),
        campaign=settings.campaign,
        retention_days=settings.retention.days,
    )


def worker_health(sup: Supervisor | None, live: LiveCalls) -> list[dict[str, Any]]:
    now = time.time()
    out = []
    for slot in sup.slots if sup is not None else []:
        beat = live.heartbeats.get(slot.spec.name)
        proc = slot.process
        alive = proc is not None and proc.is_alive()
        seen = now - beat.at if beat is not None else None
        out.append(
            {
                "name": slot.spec.name,
                "sip_port": slot.spec.sip_port,
                "pid": proc.pid if proc is not None else None,
                "alive": alive,
                "healthy": alive and seen is not None and seen < HEARTBEAT_STALE,
                "restarts": slot.restarts,
                "calls": beat.calls if beat is not None else 0,
                "heartbeat_age": round(seen, 1) if seen is not None else None,
            }
        )
    return out


def serve_with_console(
    config: ServiceConfig, workers: int, settings: Any, host: str, port: int
) -> int:
    cconfig = console_config(settings)
    console = Console(cconfig)
    engine = open_engine(cconfig.campaign_db)
    live = LiveCalls()
    supervisor: list[Supervisor] = []

    def alive() -> int:
        return len(supervisor[0].alive()) if supervisor else 0

    metrics = Metrics(active=live.counts, alive=alive, campaigns=console.campaigns)
    channel = multiprocessing.get_context("spawn").Queue(CHANNEL_SIZE)
    relay = Relay(channel, [live.apply, metrics.apply])
    pool = campaign_pool(config, workers, always=True)  # the console's campaign database
    assert pool is not None
    parts = ConsoleParts(
        console,
        TokenStore(engine),
        AuditTrail(engine),
        live,
        metrics,
        workers=lambda: worker_health(supervisor[0] if supervisor else None, live),
        on_campaign=pool.on_campaign,
    )
    server = ConsoleServer(create_app(parts), host, port)

    def on_worker_exit(sup: Supervisor, spec: WorkerSpec, failed: list[str]) -> None:
        live.worker_gone(spec.name)
        for _ in failed:
            metrics.ended.labels("failed").inc()
        if not sup.draining:
            metrics.worker_restarted(spec.name)

    relay.start()
    server.start()
    print(f"voicebot console at {server.url} (API {server.url}api/v1/)", flush=True)
    try:
        return serve_workers(
            config, workers, channel=channel, on_worker_exit=on_worker_exit,
            watch=supervisor.append, pool=pool,
        )  # fmt: skip
    finally:
        server.stop()
        relay.stop()
        console.close()
