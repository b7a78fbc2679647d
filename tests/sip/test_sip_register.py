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
            realm=registrar.realm,
        ) as bot:
            registered = bot.event("Registered")
        # leaving the block stops the bot, which unregisters (Expires: 0) before it exits
    finally:
        registrar.stop()
    assert registered["status_code"] == 200 and registered["expires"] == 300
    assert registrar.log[:2] == [("300", 401), ("300", 200)]
    assert ("0", 200) in registrar.log[2:]


def test_credentials_are_never_answered_to_another_realm():
    """A server challenging for a realm other than the configured one gets no digest response
    (pjsip's realm '*' answered any challenge: crackable offline, issue 15)."""
    registrar = Registrar(USER, PASSWORD, realm="evil.example")
    registrar.start()
    try:
        with Peer(
            answering_server,
            port=0,
            rtp_port=33100,
            registrar=f"sip:127.0.0.1:{registrar.port}",
            username=USER,
            password=PASSWORD,
            realm="voicebot.test",
        ) as bot:
            registered = bot.event("Registered")
    finally:
        registrar.stop()
    assert registered["status_code"] == 401
    assert registrar.authorizations == []
    assert registrar.log and all(status == 401 for _, status in registrar.log)


def test_realm_defaults_to_the_registrars_host_and_star_is_refused():
    from voicebot.sip.config import SipConfig

    assert SipConfig(registrar="sip:pbx.example.com:5070").auth_realm == "pbx.example.com"
    assert SipConfig(registrar="sip:pbx.example.com", realm="asterisk").auth_realm == "asterisk"
    with pytest.raises(ValueError, match="realm '\\*' answers any server"):
        SipConfig(registrar="sip:pbx.example.com", realm="*")
