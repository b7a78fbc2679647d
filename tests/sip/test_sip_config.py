"""SipConfig validation, the allow-list and the SIP text helpers (no pjsua2 endpoint)."""

from __future__ import annotations

import pytest

from voicebot.sip.calls import x_headers
from voicebot.sip.config import AllowList, SipConfig
from voicebot.sip.endpoint import _header_vector, _refer_to

pytestmark = pytest.mark.sip


@pytest.mark.parametrize(
    "entries, source, allowed",
    [
        ((), "203.0.113.9:5060", True),
        (("127.0.0.1",), "127.0.0.1:5062", True),
        (("127.0.0.1",), "127.0.0.2:5062", False),
        (("10.0.0.0/24",), "10.0.0.77:5060", True),
        (("10.0.0.0/24",), "10.0.1.1:5060", False),
        (("::1",), "[::1]:5060", True),
        (("2001:db8::/32",), "[2001:db8::5]:5080", True),
        (("127.0.0.1",), "not an address", False),
        (("127.0.0.1",), "127.0.0.1", True),
    ],
)
def test_allow_list(entries, source, allowed):
    assert AllowList(entries).allows(source) is allowed


def test_config_rejects_what_pjsua2_cannot_do():
    with pytest.raises(ValueError, match="1 to 4 calls per process"):
        SipConfig(max_calls=8)
    with pytest.raises(ValueError, match="audio_rate 44100"):
        SipConfig(audio_rate=44100)
    with pytest.raises(ValueError, match="transports"):
        SipConfig(transports=("tls",))
    with pytest.raises(ValueError, match="allow_from entry 'office'"):
        SipConfig(allow_from=("office",))


def test_uri_with_and_without_registrar():
    assert SipConfig(port=5070).uri == "sip:voicebot@127.0.0.1:5070"
    cfg = SipConfig(registrar="sip:pbx.example.com;transport=tcp", username="ivr")
    assert cfg.uri == "sip:ivr@pbx.example.com"


def test_x_headers_are_read_from_the_invite():
    invite = (
        "INVITE sip:bot@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\n"
        "X-Case-Id: 42\r\nx-lang:  en \r\nSubject: hi\r\nX-Case-Id: 43\r\n\r\nv=0\r\nX-No: body\r\n"
    )
    assert x_headers(invite) == {"X-Case-Id": "42", "x-lang": "en"}


def test_refer_to_carries_headers_escaped():
    assert _refer_to("sip:agent@pbx", {}) == "<sip:agent@pbx>"
    assert (
        _refer_to("<sip:agent@pbx;transport=tcp>", {"X-Case": "4 2", "X-Q": "a&b=c"})
        == "<sip:agent@pbx;transport=tcp?X-Case=4%202&X-Q=a%26b%3Dc>"
    )
    assert _refer_to("sip:a@b?X-A=1", {"X-B": "2"}) == "<sip:a@b?X-A=1&X-B=2>"


def test_header_names_and_values_are_checked():
    assert len(_header_vector({"X-Case-Id": "42"})) == 1
    with pytest.raises(ValueError, match="must be a token"):
        _header_vector({"X Case": "1"})
    with pytest.raises(ValueError, match="value one line"):
        _header_vector({"X-Case": "1\r\nEvil: yes"})
