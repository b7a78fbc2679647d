"""Registration with digest auth against a minimal UDP registrar on loopback (RFC 3261 + 2617)."""

from __future__ import annotations

import pytest
from sip_peers import Peer, answering_server

from voicebot.testing.registrar import Registrar

pytestmark = pytest.mark.sip

USER, PASSWORD = "bot", "s3cret"


def test_registers_with_digest_auth_and_unregisters_on_stop():
    registrar = Registrar(USER, PASSWORD)
    registrar.start()
    try:
        with Peer(
            answering_server,
            port=0,
            rtp_port=33000,
            registrar=f"sip:127.0.0.1:{registrar.port}",
            username=USER,
            password=PASSWORD,
        ) as bot:
            registered = bot.event("Registered")
        # leaving the block stops the bot, which unregisters (Expires: 0) before it exits
    finally:
        registrar.stop()
    assert registered["status_code"] == 200 and registered["expires"] == 300
    assert registrar.log[:2] == [("300", 401), ("300", 200)]
    assert ("0", 200) in registrar.log[2:]
