"""`voicebot kamailio-config`: Kamailio's config for the workers (voicebot.deploy.kamailio)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from voicebot.deploy.kamailio import (
    MAX_CALLS_PER_WORKER,
    Destination,
    KamailioConfig,
    render_config,
    render_rtpengine_conf,
)
from voicebot.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Write a Kamailio config putting one SIP address in front of workers."
    add = parser.add_argument
    add("--listen", default="0.0.0.0:5060", metavar="HOST:PORT", help="callers' address (UDP+TCP)")
    add("--worker", action="append", default=[], metavar="URI", help="sip:HOST:PORT (repeat)")
    add("--workers", type=int, default=0, metavar="N", help="and N workers at --host:--base-port+i")
    add("--base-port", type=int, default=5071, metavar="PORT", help="default %(default)s")
    add("--host", default="127.0.0.1", help="host of the --workers (default %(default)s)")
    add("--max-calls", type=int, default=MAX_CALLS_PER_WORKER, metavar="N", help="per worker")
    add("--transport", choices=("udp", "tcp"), default="udp", help="towards the workers")
    add("--ping-interval", type=int, default=5, metavar="S", help="OPTIONS keepalive period")
    add(
        "--allow",
        action="append",
        default=[],
        metavar="CIDR",
        help="callers allowed (repeat; default: loopback only, as the workers; 'any': anyone)",
    )
    add("--pike", type=int, default=20, metavar="N", help="INVITEs per source in 2 s (0: off)")
    add("--tls", metavar="HOST:PORT", help="also SIP over TLS for callers (e.g. 0.0.0.0:5061)")
    add("--tls-cert", metavar="PEM", help="certificate (chain) presented to TLS callers")
    add("--tls-key", metavar="PEM", help="its private key")
    add("--rtpengine", metavar="udp:HOST:PORT", help="rtpengine's control socket: anchor media")
    add("--rtp-address", metavar="IP", help="address in SDP for media (default: --listen host)")
    add("--out", metavar="DIR", help="write DIR/kamailio.cfg, DIR/dispatcher.list (else print)")


def run(args: argparse.Namespace) -> int:
    host, _, port = args.listen.rpartition(":")
    if not port.isdigit():
        raise ConfigError(f"--listen {args.listen!r}: write it as HOST:PORT, e.g. 0.0.0.0:5060")
    if args.workers < 0 or not 0 < args.base_port < 65536 - args.workers:
        raise ConfigError("--workers must be >= 0 and --base-port + workers a valid port")
    uris = list(args.worker)
    uris += [f"sip:{args.host}:{args.base_port + i}" for i in range(args.workers)]
    if not uris:
        raise ConfigError("no workers: give --worker sip:HOST:PORT (repeat) or --workers N")
    out = Path(args.out) if args.out else None
    list_file = str((out / "dispatcher.list").resolve()) if out else KamailioConfig.list_file
    allow = tuple(args.allow) or ("127.0.0.0/8", "::1")
    if "any" in allow:
        allow = ()
    settings = KamailioConfig(
        destinations=tuple(Destination(u, max_calls=args.max_calls) for u in uris),
        listen_host=host or "0.0.0.0",
        listen_port=int(port),
        transport=args.transport,
        list_file=list_file,
        ping_interval=args.ping_interval,
        allow_from=allow,
        pike_limit=args.pike,
        tls_port=_tls_port(args.tls, host),
        tls_certificate=str(Path(args.tls_cert).resolve()) if args.tls_cert else "",
        tls_private_key=str(Path(args.tls_key).resolve()) if args.tls_key else "",
        rtpengine=args.rtpengine or "",
        rtp_address=args.rtp_address or "",
    )
    cfg, dispatcher_list = render_config(settings)
    rtpengine_conf = render_rtpengine_conf(settings)
    if out is None:
        sys.stdout.write(f"# ---- kamailio.cfg ----\n{cfg}\n# ---- {list_file} ----\n")
        sys.stdout.write(dispatcher_list)
        if rtpengine_conf:
            sys.stdout.write(f"# ---- rtpengine.conf ----\n{rtpengine_conf}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    (out / "kamailio.cfg").write_text(cfg)
    (out / "dispatcher.list").write_text(dispatcher_list)
    print(f"wrote {out / 'kamailio.cfg'} and {list_file} ({len(uris)} workers)")
    if rtpengine_conf:
        (out / "rtpengine.conf").write_text(rtpengine_conf)
        conf = out / "rtpengine.conf"
        print(f"wrote {conf}: run rtpengine --config-file {conf} --foreground")
    print(f"check: kamailio -c -f {out / 'kamailio.cfg'}")
    return 0


def _tls_port(tls: str | None, listen_host: str) -> int:
    """The port of --tls HOST:PORT; its host must be the --listen host (one address)."""
    if not tls:
        return 0
    host, _, port = tls.rpartition(":")
    if not port.isdigit():
        raise ConfigError(f"--tls {tls!r}: write it as HOST:PORT, e.g. 0.0.0.0:5061")
    if host and host != (listen_host or "0.0.0.0"):
        raise ConfigError(f"--tls {tls!r}: use the --listen host ({listen_host or '0.0.0.0'})")
    return int(port)
