"""Kamailio in front of the workers: one SIP address for many 4-call worker processes.

`voicebot serve --workers N` runs N pjsua2 processes, each on its own SIP port and each holding
at most 4 calls (the fifth INVITE gets 486). `render_config` writes a `kamailio.cfg` and a
`dispatcher.list` (Kamailio 5.6, Debian's; base `kamailio` package only; the script is the
Jinja2 template `kamailio.cfg.j2` beside this module) that put one address in front of such
workers, on this machine and on others. What the generated script does:

    in-dialog request     ACK, BYE, re-INVITE, INFO follow the Record-Route set
      (To tag)            (loose_route); a BYE from either side also frees the worker's
                          slot (ds_load_update); a REFER is relayed only from a worker (the
                          bot transferring its caller): a caller's REFER gets 403
    initial INVITE        403 unless from `allow_from` (when set: the workers now see only
                          Kamailio's address); at most `pike_limit` per source in 2 s (pike:
                          a source over it is ignored until it slows down); record_route,
                          pick a worker with ds_select_dst(1, 10), relay statefully
    OPTIONS               200 from Kamailio itself (a trunk's keepalive)
    anything else         405 (workers take calls, nothing else)
    every request         Max-Forwards (483 when exhausted) and sanity checks first

Choosing a worker: dispatcher algorithm 10, "call load". Calls last minutes and a worker holds 4,
so what counts is how many calls each worker holds *now*: round-robin counts calls started, and
would hand a fifth call to a worker still busy with four while another sits idle. Algorithm 10
counts each call from INVITE to BYE (by Call-ID, no dialog module), sends a new call to the
worker holding fewest, and never past a worker's `maxload` (its `max_calls`, 4 by default).
`max_calls` is thus a worker's weight: give a slow machine's workers 2, or run more workers on a
big machine. On a tie the first listed worker wins; workers are listed round-robin across
machines, so two concurrent calls land on two machines before any machine takes a second.

Failover: a call that a worker refuses with 408/480/486/5xx (full, draining, crashed), or does
not reply to within `reply_timeout_ms` (local 408), goes on to the next worker (failure_route,
ds_next_dst, which moves the call's load too); a worker that sent no reply at all is marked
inactive at once. Every `ping_interval` seconds each worker gets an OPTIONS; two missed replies
mark it inactive (skipped), one answer brings it back. When none is reachable the caller gets 503.

Busy means busy: the workers' own count of their calls is the truth, Kamailio's is a guide.
Kamailio's count runs ahead of theirs whenever a call ends without a BYE passing through it (a
BYE lost, a caller that vanished, a worker restarted): such a call stays counted until
`ds_hash_expire`. So when every worker is at `maxload` by Kamailio's count, the call is not
refused there: it is offered to the workers in priority order (algorithm 8), each full one
answers 486 at once, and failover moves on. A caller hears 486 only when every worker has said
busy itself (the last worker's 486 is relayed); Kamailio never answers 486 of its own.

API: `render_config(KamailioConfig) -> (kamailio_cfg, dispatcher_list)`, both text;
`voicebot kamailio-config` is voicebot/cli/kamailio.py.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

import jinja2

from voicebot.errors import ConfigError

MAX_CALLS_PER_WORKER = 4  # PJSUA_MAX_CALLS of the pjsua2-python wheel
_RTPENGINE = re.compile(r"^udp6?:[A-Za-z0-9.:\[\]-]+:\d{1,5}$")
_URI = re.compile(r"^sip:(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True)
class Destination:
    """One worker: `sip:host:port` (no user part, no parameters) and the calls it may hold."""

    uri: str
    max_calls: int = MAX_CALLS_PER_WORKER

    def __post_init__(self) -> None:
        m = _URI.match(self.uri)
        if not m or not 0 < int(m["port"] or 5060) < 65536:
            raise ConfigError(f"worker {self.uri!r}: write it as sip:HOST:PORT")
        if self.max_calls < 1:
            raise ConfigError(f"worker {self.uri}: max_calls must be at least 1")

    @property
    def host(self) -> str:
        m = _URI.match(self.uri)
        assert m  # checked in __post_init__
        return m["host"]


@dataclass(frozen=True)
class KamailioConfig:
    """What `render_config` needs: the workers, where callers reach Kamailio, and timings."""

    destinations: tuple[Destination, ...]
    listen_host: str = "0.0.0.0"  # "0.0.0.0": every interface (one socket per address)
    listen_port: int = 5060  # UDP and TCP, for callers
    transport: Literal["udp", "tcp"] = "udp"  # towards the workers
    list_file: str = "/etc/kamailio/dispatcher.list"  # where kamailio.cfg finds the list
    ping_interval: int = 5  # seconds between OPTIONS keepalives to each worker
    reply_timeout_ms: int = 2000  # no reply from a worker by then: try the next one
    children: int = 4  # Kamailio receiver processes per UDP socket (and TCP workers)
    allow_from: tuple[str, ...] = ()  # IPs / CIDRs that may start calls; () = anyone
    runtime_dir: str = "/run/kamailio"  # holds kamailio_ctl, the socket of `kamcmd -s`
    pike_limit: int = 20  # initial INVITEs one source may send in 2 s (0: no limit)
    tls_port: int = 0  # callers' SIP over TLS on this port (0: no TLS); needs rtpengine
    tls_certificate: str = ""  # PEM certificate (chain) Kamailio presents to TLS callers
    tls_private_key: str = ""  # its PEM private key
    rtpengine: str = ""  # rtpengine's control socket, e.g. udp:127.0.0.1:2223 ("": none)
    rtp_address: str = ""  # the address rtpengine puts in SDP (default: listen_host)
    rtp_ports: tuple[int, int] = (30000, 40000)  # rtpengine's media ports, first..last

    def __post_init__(self) -> None:
        if not self.destinations:
            raise ConfigError("no workers: give at least one sip:HOST:PORT")
        uris = [d.uri for d in self.destinations]
        if len(set(uris)) != len(uris):
            raise ConfigError(f"a worker is listed twice in {', '.join(uris)}")
        if self.transport not in ("udp", "tcp"):
            raise ConfigError(f"transport {self.transport!r}: use udp or tcp")
        if not 0 < self.listen_port < 65536:
            raise ConfigError(f"listen port {self.listen_port}: use 1-65535")
        for entry in self.allow_from:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(
                    f"allow {entry!r}: use an IP or a CIDR like 10.0.0.0/24"
                ) from None
        if self.pike_limit < 0:
            raise ConfigError(f"pike limit {self.pike_limit}: use 0 (off) or more")
        if self.ping_interval < 1 or self.reply_timeout_ms < 100:
            raise ConfigError("ping_interval must be >= 1 s and reply_timeout_ms >= 100 ms")
        if self.tls_port:
            if not 0 < self.tls_port < 65536 or self.tls_port == self.listen_port:
                raise ConfigError(f"TLS port {self.tls_port}: use 1-65535, not the UDP/TCP port")
            if not (self.tls_certificate and self.tls_private_key):
                raise ConfigError("TLS needs a certificate and its private key (PEM files)")
            if not self.rtpengine:
                raise ConfigError(
                    "TLS callers must get SRTP, which rtpengine terminates: give its control"
                    " socket (e.g. udp:127.0.0.1:2223)"
                )
        if self.rtpengine:
            if not _RTPENGINE.match(self.rtpengine):
                raise ConfigError(f"rtpengine {self.rtpengine!r}: write it as udp:HOST:PORT")
            try:
                ipaddress.ip_address(self.media_address)
            except ValueError:
                raise ConfigError(
                    "rtpengine needs the IP address callers send media to (--rtp-address):"
                    f" {self.media_address or 'none'} is not one"
                ) from None
            first, last = self.rtp_ports
            if not 1024 <= first < last < 65536:
                raise ConfigError(f"RTP ports {first}-{last}: use a range within 1024-65535")

    @property
    def media_address(self) -> str:
        """Where callers' media goes when rtpengine anchors it."""
        if self.rtp_address:
            return self.rtp_address
        return "" if self.listen_host in ("0.0.0.0", "*", "") else self.listen_host


def _interleave_by_host(dests: tuple[Destination, ...]) -> tuple[Destination, ...]:
    """First worker of each machine, then the second of each, ... (ties go to the first)."""
    by_host: dict[str, list[Destination]] = {}
    for d in dests:
        by_host.setdefault(d.host, []).append(d)
    rounds = max(len(v) for v in by_host.values())
    return tuple(v[i] for i in range(rounds) for v in by_host.values() if i < len(v))


def render_dispatcher_list(settings: KamailioConfig) -> str:
    lines = [
        "# Generated by `voicebot kamailio-config`: the voicebot workers, dispatcher set 1.",
        "# setid uri flags priority attrs  (higher priority = listed first = wins a tie;",
        "# duid = id for call counting, maxload = most concurrent calls sent to it)",
    ]
    ordered = _interleave_by_host(settings.destinations)
    for i, d in enumerate(ordered):
        uri = d.uri + (";transport=tcp" if settings.transport == "tcp" else "")
        lines.append(f"1 {uri} 0 {len(ordered) - i} duid=w{i + 1};maxload={d.max_calls}")
    return "\n".join(lines) + "\n"


def render_config(settings: KamailioConfig) -> tuple[str, str]:
    """The text of kamailio.cfg and of dispatcher.list, in that order."""
    if settings.listen_host in ("0.0.0.0", "*", ""):
        listen = (
            f"port={settings.listen_port}  # every interface address, UDP and TCP\n"
            "mhomed=1  # several interfaces: send from the one that routes to the peer"
        )
    else:
        host = settings.listen_host
        listen = (
            f"listen=udp:{host}:{settings.listen_port}\nlisten=tcp:{host}:{settings.listen_port}"
        )
    tls_host = settings.listen_host if settings.listen_host not in ("0.0.0.0", "*", "") else ""
    cfg = _template().render(
        listen=listen,
        tls_port=settings.tls_port,
        tls_listen=(
            f"listen=tls:{tls_host}:{settings.tls_port}"
            if tls_host
            else f"tls_port_no={settings.tls_port}  # TLS on every interface address"
        ),
        tls_certificate=settings.tls_certificate,
        tls_private_key=settings.tls_private_key,
        rtpengine=settings.rtpengine,
        children=settings.children,
        list_file=settings.list_file,
        ping_interval=settings.ping_interval,
        fr_timer=settings.reply_timeout_ms,
        runtime_dir=settings.runtime_dir,
        pike_limit=settings.pike_limit,
        allow_check=_allow_check(settings),
    )
    return cfg, render_dispatcher_list(settings)


def render_rtpengine_conf(settings: KamailioConfig) -> str:
    """rtpengine's config file (`rtpengine --config-file F`) for the generated kamailio.cfg:
    userspace forwarding (no kernel module), the control socket Kamailio uses, the media
    address and ports. Empty when `settings.rtpengine` is not set."""
    if not settings.rtpengine:
        return ""
    ng = settings.rtpengine.split(":", 1)[1]
    first, last = settings.rtp_ports
    return (
        "# Generated by `voicebot kamailio-config`: rtpengine, beside Kamailio, anchors the\n"
        "# media of every call (SRTP for TLS callers, plain RTP towards the workers).\n"
        "[rtpengine]\n"
        f"interface = {settings.media_address}\n"
        f"listen-ng = {ng}\n"
        f"port-min = {first}\n"
        f"port-max = {last}\n"
        "table = -1\n"  # userspace only: no kernel module, no iptables rules
        "delete-delay = 0\n"  # a call's ports are free once Kamailio deletes it
        "timeout = 60\n"  # no media for a minute: the call's ports are released
        "log-stderr = true\n"
    )


def _template() -> jinja2.Template:
    """kamailio.cfg.j2 beside this module (Kamailio's script, with the settings as fields)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("voicebot.deploy", "."),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # a Kamailio script, not HTML
    )
    return env.get_template("kamailio.cfg.j2")


def _allow_check(settings: KamailioConfig) -> str:
    """Kamailio script refusing initial INVITEs from outside `allow_from` (workers then see
    only Kamailio's address, so their own allow-list can no longer tell callers apart)."""
    if not settings.allow_from:
        return ""
    nets = [ipaddress.ip_network(e, strict=False) for e in settings.allow_from]
    terms = [f"src_ip=={n.network_address if n.num_addresses == 1 else n}" for n in nets]
    return (
        f"\tif (!({' || '.join(terms)})) {{\n"
        '\t\txlog("L_WARN", "call from $si refused: not in the allow list\\n");\n'
        '\t\tsl_send_reply("403", "Caller Not Allowed");\n'
        "\t\texit;\n\t}\n"
    )
