"""How a `SipEndpoint` listens, registers and whom it lets call in.

API::

    @dataclass(frozen=True)
    class SipConfig:
        port: int = 5060                 # UDP and TCP (0 = any free port)
        host: str = "127.0.0.1"          # address to bind and put in Contact/SDP ("0.0.0.0": all)
        transports: tuple[str, ...] = ("udp", "tcp")
        rtp_port: int = 4000             # first RTP port tried (+2 per call, next free one)
        public_host: str = ""            # address to advertise instead of `host` (NAT)
        allow_from: tuple[str, ...] = () # IPs / CIDRs allowed to call in; () = anyone
        codecs: tuple[str, ...] = ("G722/16000", "PCMU/8000", "PCMA/8000")  # first = preferred
        audio_rate: int = 16000          # rate of the PCM in `CallMedia` (8000 or 16000)
        max_calls: int = 4               # pjsua2-python is built with PJSUA_MAX_CALLS = 4
        user: str = "voicebot"           # user part of our SIP URI
        registrar: str = ""              # e.g. "sip:pbx.example.com"; "" = no REGISTER
        domain: str = ""                 # for the AOR when registering (default: registrar host)
        username: str = ""               # digest auth
        password: str = ""
        realm: str = ""                  # digest realm answered; "" = the registrar's host
        register_expires: int = 300
        transaction_timeout: float = 4.0 # pjsip's timers B/F/H: no ACK or answer by then ends it
        max_call_seconds: float = 0.0    # any call older than this is ended (0 = no limit)
        accept_refer: bool = False       # follow a far end's REFER (softphones only)
        user_agent: str = "voicebot"
        pjsip_log_level: int = 2         # pjsip's own log (1 errors .. 5 everything) -> logging
        switch_interval: float = 0.001   # sys.setswitchinterval at start (0: leave it)

    class AllowList:
        __init__(entries: Iterable[str])     # "10.0.0.5", "10.0.0.0/24", "::1"
        allows(source: str) -> bool          # "host:port", "[v6]:port" or a bare address

Digest credentials are answered only to `realm` (by default the registrar's host): a far end
that challenges for any other realm gets nothing it could crack offline. `realm: "*"` (pjsip's
"any realm") is refused.

`transaction_timeout`: a 200 OK that is never ACKed held its call slot for pjsip's 64*T1
(32 s, then as long again for the BYE nobody answers): four such INVITEs (2 kB from a spoofable
source) made every call 486 for a minute. The same timer bounds the wait for any answer to a
request of ours (INVITE before its first response, BYE, REGISTER), which on a working network
comes in milliseconds. `accept_refer`: a REFER from the far end is answered 403 unless set
(the bot never dials where a caller tells it to). `max_call_seconds`: the endpoint's own
backstop behind the flow's limit, for any call however it started.

Codecs not named in `codecs` are disabled, so the SDP offers/accepts only those.

`switch_interval`: every media callback must take the GIL on PJSIP's clock thread; while
another thread runs Python, that waits up to `sys.getswitchinterval()` (5 ms by default) per
callback, four callbacks per tick with two calls. bench/sip_media_bench.py measured the tick
spacing under a GIL-busy thread at p99 33-45 ms with 5 ms and 22-24 ms with 1 ms, so the
endpoint sets 1 ms for its process (a process-wide setting: 0 leaves it alone).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from voicebot.audio.frames import SAMPLE_RATES

MAX_CALLS = 4  # PJSUA_MAX_CALLS of the pjsua2-python wheel; more is clamped silently


@dataclass(frozen=True)
class SipConfig:
    port: int = 5060
    host: str = "127.0.0.1"
    transports: tuple[str, ...] = ("udp", "tcp")
    rtp_port: int = 4000
    public_host: str = ""
    allow_from: tuple[str, ...] = ()
    codecs: tuple[str, ...] = ("G722/16000", "PCMU/8000", "PCMA/8000")
    audio_rate: int = 16000
    max_calls: int = MAX_CALLS
    user: str = "voicebot"
    registrar: str = ""
    domain: str = ""
    username: str = ""
    password: str = field(default="", repr=False)  # kept out of logs and tracebacks
    realm: str = ""
    register_expires: int = 300
    transaction_timeout: float = 4.0
    max_call_seconds: float = 0.0
    accept_refer: bool = False
    user_agent: str = "voicebot"
    pjsip_log_level: int = 2
    switch_interval: float = 0.001

    def __post_init__(self) -> None:
        if self.audio_rate not in SAMPLE_RATES:
            raise ValueError(f"audio_rate {self.audio_rate}: use one of {SAMPLE_RATES}")
        if not 1 <= self.max_calls <= MAX_CALLS:
            raise ValueError(
                f"max_calls {self.max_calls}: pjsua2 handles 1 to {MAX_CALLS} calls per "
                "process; run more workers for more calls"
            )
        unknown = set(self.transports) - {"udp", "tcp"}
        if unknown or not self.transports:
            raise ValueError(f"transports {self.transports}: use 'udp' and/or 'tcp'")
        AllowList(self.allow_from)  # fail early on a malformed entry
        if self.realm.strip() == "*":
            raise ValueError(
                "realm '*' answers any server's digest challenge with our credentials: "
                "name the registrar's realm (or leave it empty for the registrar's host)"
            )
        if not 1 <= self.transaction_timeout <= 32:
            raise ValueError(f"transaction_timeout {self.transaction_timeout}: use 1 to 32 seconds")

    @property
    def auth_realm(self) -> str:
        """The one realm our digest credentials are answered to."""
        if self.realm:
            return self.realm
        host = self.registrar.split(":", 1)[-1].split(";")[0]
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host

    @property
    def uri(self) -> str:
        """Our SIP address, e.g. ``sip:voicebot@127.0.0.1:5060`` (the registered AOR if any)."""
        if self.registrar:
            domain = self.domain or self.registrar.split(":", 1)[-1].split(";")[0]
            return f"sip:{self.username or self.user}@{domain}"
        return f"sip:{self.user}@{_host_for_uri(self.host)}:{self.port}"


class AllowList:
    """Source addresses allowed to place calls; an empty list allows everyone."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._nets = []
        for entry in entries:
            try:
                self._nets.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(
                    f"allow_from entry {entry!r}: use an IP address or a CIDR like 10.0.0.0/24"
                ) from exc

    def allows(self, source: str) -> bool:
        if not self._nets:
            return True
        try:
            addr = ipaddress.ip_address(_strip_port(source))
        except ValueError:
            return False
        return any(addr in net for net in self._nets)


def _strip_port(source: str) -> str:
    """'1.2.3.4:5060' -> '1.2.3.4'; '[::1]:5060' -> '::1'; a bare address is returned as is."""
    source = source.strip()
    if source.startswith("["):
        return source[1 : source.index("]")]
    if source.count(":") == 1:
        return source.split(":", 1)[0]
    return source


def _host_for_uri(host: str) -> str:
    return f"[{host}]" if ":" in host else host
