"""Registration with digest auth against a minimal UDP registrar on loopback (RFC 3261 + 2617)."""

from __future__ import annotations

import hashlib
import re
import socket
import threading

import pytest
from sip_peers import Peer, answering_server

pytestmark = pytest.mark.sip

REALM, NONCE, USER, PASSWORD = "voicebot.test", "4f2a9c0d", "bot", "s3cret"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class Registrar(threading.Thread):
    """Challenges every REGISTER without credentials (401), checks the digest, answers 200."""

    def __init__(self, port: int, realm: str = REALM) -> None:
        super().__init__(daemon=True)
        self.realm = realm
        self.authorizations: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.log: list[tuple[str, int]] = []  # (expires asked, status answered)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            self.sock.sendto(self.answer(data.decode()).encode(), addr)

    def answer(self, request: str) -> str:
        head = request.split("\r\n\r\n", 1)[0].split("\r\n")
        method, ruri = head[0].split()[:2]
        headers = [line.split(":", 1) for line in head[1:] if ":" in line]
        get = lambda name: next((v.strip() for k, v in headers if k.lower() == name), "")  # noqa: E731
        expires = get("expires") or re.search(r"expires=(\d+)", get("contact")).group(1)
        auth = get("authorization")
        if auth:
            self.authorizations.append(auth)
        if not auth:
            status, extra = 401, [f'WWW-Authenticate: Digest realm="{self.realm}", nonce="{NONCE}"']
        else:
            fields = dict(re.findall(r'(\w+)="?([^",]+)"?', auth))
            ha1 = md5(f"{USER}:{REALM}:{PASSWORD}")
            ha2 = md5(f"{method}:{fields['uri']}")
            good = fields["username"] == USER and fields["response"] == md5(f"{ha1}:{NONCE}:{ha2}")
            status, extra = (200, [f"Contact: {get('contact')}"]) if good else (403, [])
        self.log.append((expires, status))
        reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden"}[status]
        copied = [f"{k}:{v}" for k, v in headers if k.lower() in ("via", "from", "call-id", "cseq")]
        lines = [f"SIP/2.0 {status} {reason}", *copied, f"To: {get('to')};tag=reg1"]
        lines += [*extra, f"Expires: {expires}", "Content-Length: 0"]
        assert method == "REGISTER" and ruri.startswith("sip:")
        return "\r\n".join(lines) + "\r\n\r\n"


def test_registers_with_digest_auth_and_unregisters_on_stop():
    registrar = Registrar(0)
    registrar.start()
    try:
        with Peer(
            answering_server,
            port=0,
            rtp_port=33000,
            registrar=f"sip:127.0.0.1:{registrar.port}",
            username=USER,
            password=PASSWORD,
            realm=REALM,
        ) as bot:
            registered = bot.event("Registered")
        # leaving the block stops the bot, which unregisters (Expires: 0) before it exits
    finally:
        registrar.stopped.set()
        registrar.join(2)
        registrar.sock.close()
    assert registered["status_code"] == 200 and registered["expires"] == 300
    assert registrar.log[:2] == [("300", 401), ("300", 200)]
    assert ("0", 200) in registrar.log[2:]


def test_credentials_are_never_answered_to_another_realm():
    """A server challenging for a realm other than the configured one gets no digest response
    (pjsip's realm '*' answered any challenge: crackable offline, issue 15)."""
    registrar = Registrar(0, realm="evil.example")
    registrar.start()
    try:
        with Peer(
            answering_server,
            port=0,
            rtp_port=33100,
            registrar=f"sip:127.0.0.1:{registrar.port}",
            username=USER,
            password=PASSWORD,
            realm=REALM,
        ) as bot:
            registered = bot.event("Registered")
    finally:
        registrar.stopped.set()
        registrar.join(2)
        registrar.sock.close()
    assert registered["status_code"] == 401
    assert registrar.authorizations == []
    assert registrar.log and all(status == 401 for _, status in registrar.log)


def test_realm_defaults_to_the_registrars_host_and_star_is_refused():
    from voicebot.sip.config import SipConfig

    assert SipConfig(registrar="sip:pbx.example.com:5070").auth_realm == "pbx.example.com"
    assert SipConfig(registrar="sip:pbx.example.com", realm="asterisk").auth_realm == "asterisk"
    with pytest.raises(ValueError, match="realm '\\*' answers any server"):
        SipConfig(registrar="sip:pbx.example.com", realm="*")
