"""SipEndpoint's errors: what a caller of the command methods sees when pjsua2 says no."""

from __future__ import annotations

import pytest
from sip_peers import Peer, endpoint_errors

pytestmark = pytest.mark.sip


def test_errors_name_the_command_and_the_reason():
    with Peer(endpoint_errors) as peer:
        out = peer.result()
    assert out == {
        "bind": "cannot listen for SIP on tcp 127.0.0.1:PORT: Address already in use",
        "late": "TooLate: call URI: its turn passed N ms ago: not sent",
        "offered": "",  # the late INVITE never left
        "bad uri": "SipError: call not a uri: Invalid Request URI (PJSIP_EINVALIDREQURI)",
        "no call": "SipError: no call c-404 (it ended, or never existed)",
        "dtmf": "ValueError: DTMF digits '12x': use 0-9, A-D, * and #",
        "stopped": "answer c-1: the SIP endpoint is not running",
    }
