"""`voicebot serve`: answer SIP calls with a flow (one worker, or supervised workers)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicebot.cli.flow import pairs
from voicebot.errors import VoicebotError

if TYPE_CHECKING:
    from voicebot.server.worker import ServiceConfig


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("serve", help="answer SIP calls with a flow")
    p.add_argument("--flow", help="flow file (default: settings flows_dir/default_flow)")
    p.add_argument("--port", type=int, help="SIP port, UDP and TCP (worker i: port + i)")
    p.add_argument("--host", help="address to bind (default: settings sip.host)")
    p.add_argument("--workers", type=int, help="worker processes, 4 calls each")
    p.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="env.NAME for the flow"
    )
    p.add_argument("--clock", help="demos/tests: the ISO time the flow sees as each call starts")
    p.add_argument(
        "--http-port", type=int, help="console port (default: settings http.port); 0: no console"
    )
    p.add_argument("--http-host", help="console address (default: settings http.host)")
    p.set_defaults(func=cmd_serve, service=True)


def service_config(args: argparse.Namespace) -> ServiceConfig:
    from voicebot.server.worker import ServiceConfig
    from voicebot.settings import load_settings
    from voicebot.sip.config import SipConfig
    from voicebot.speech.synthesizer import Voice

    st = load_settings()
    flow = Path(args.flow) if args.flow else st.flows_dir / st.default_flow
    sip = SipConfig(
        port=args.port if args.port is not None else st.sip.port,
        host=args.host or st.sip.host,
        public_host=st.sip.public_host,
        rtp_port=st.sip.rtp_port,
        allow_from=tuple(st.sip.allow_from),
        audio_rate=st.sip.audio_rate,
        registrar=st.sip.registrar,
        username=st.sip.username,
        password=st.sip.password.get_secret_value(),
        realm=st.sip.realm,
        transaction_timeout=st.sip.transaction_timeout,
        # the endpoint's backstop behind the session's own limit (a call no flow ends)
        max_call_seconds=st.sip.max_call_seconds + 60,
    )
    env = st.flow_environment()
    env.update(pairs(getattr(args, "env", []) or [], "--env"))
    return ServiceConfig(
        flow=flow,
        sip=sip,
        data_dir=st.data_dir,
        call_records=st.call_records,
        database_url=st.database.url,
        audio_dir=st.audio_assets_dir,
        model_dir=st.speech.model_dir,
        compute_type=st.speech.compute_type,
        cpu_threads=st.speech.cpu_threads,
        turn_model=st.speech.turn_model,
        turn_threshold=st.speech.turn_threshold,
        env=env,
        currency=st.currency,
        locale=st.locale,
        max_call_seconds=st.sip.max_call_seconds,
        drain_seconds=st.sip.drain_seconds,
        watchdog_seconds=st.sip.watchdog_seconds,
        http_connect_timeout=st.http.connect_timeout,
        http_max_reply_bytes=st.http.max_reply_bytes,
        clock=getattr(args, "clock", None),
        voice=Voice(st.speech.tts_voice, st.speech.tts_rate),
        log_level=args.log_level.upper() if args.log_level else st.log_level,
        transfer_allow=tuple(st.transfers.allow),
        transfer_context_url=st.transfers.context_url,
        outbound_allow=tuple(st.outbound.allow),
        outbound_refuse=tuple(st.outbound.refuse),
        region=st.campaign.region,
        campaign_database=st.campaign.database,
        limits=st.limits.flow(),
        llm=st.llm.endpoint(),
        llm_options=st.llm.options(),
        retention_days=st.retention.days,
        retention_every=st.retention.every_minutes * 60,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from voicebot.server.worker import campaign_pool, serve_forever, serve_workers
    from voicebot.settings import load_settings

    config = service_config(args)
    settings = load_settings()
    workers = args.workers or settings.sip.workers
    if workers > 1 and config.sip.port == 0:
        raise VoicebotError(
            f"--workers {workers} listen on port, port+1, ...: give a fixed --port (e.g. 5071)"
        )
    timer = None
    if config.retention_days:  # purges at start, then every retention.every_minutes
        from voicebot.call.retention import RetentionTimer

        timer = RetentionTimer(
            config.call_records or config.database_url,
            config.recordings_dir,
            days=config.retention_days,
            every=config.retention_every,
        )
        timer.start()  # its own thread and connection, in this process only (not the workers')
    http_port = args.http_port if args.http_port is not None else settings.http.port
    try:
        if http_port:  # the console runs in the supervisor: even one worker is a child process
            from voicebot.console.serving import serve_with_console

            host = args.http_host or settings.http.host
            return serve_with_console(config, workers, settings, host, http_port)
        if workers == 1:
            serve_forever(config)
            return 0
        return serve_workers(config, workers, pool=campaign_pool(config, workers))
    finally:
        if timer is not None:
            timer.stop()
