"""Blind transfer by REFER on loopback: bot -> caller (transferee) -> target, X- headers kept."""

from __future__ import annotations

import pytest
from sip_peers import Peer, answering_server, scripted_caller

pytestmark = pytest.mark.sip

CONTEXT = {"X-Case-Id": "42", "X-Reason": "billing question; urgent"}


def test_refer_carries_x_headers_to_the_target_and_reports_success():
    with Peer(answering_server, port=0, rtp_port=32400) as target:
        transfer = (f"sip:agent@127.0.0.1:{target.port}", CONTEXT)
        with Peer(answering_server, port=0, rtp_port=32500, transfer=transfer) as bot:
            script = [
                ("dial", f"sip:bot@127.0.0.1:{bot.port}"),
                ("wait_answered",),
                ("wait_transferred",),
                ("wait_answered",),
                ("sleep", 0.3),
                ("hangup",),
                ("wait_ended",),
            ]
            with Peer(scripted_caller, rtp_port=32600, script=script, watch=("REFER ",)) as caller:
                original, transferred = caller.result()
            outcome = bot.event("TransferOutcome", final=True)
            bot.event("CallEnded", by="local")  # the bot hangs up once the transfer worked
            incoming = target.event("IncomingCall")
            target.event("CallEnded", by="remote")
        refers = [m[1] for m in caller.messages if m[0] == "log" and "REFER sip:" in m[1]]

    assert outcome["status_code"] == 200
    assert original["answered"] and original["ended"]["by"] == "remote"
    assert transferred["answered"] and transferred["ended"]["by"] == "local"
    assert incoming["local_uri"].startswith("<sip:agent@127.0.0.1")
    assert incoming["headers"] == CONTEXT  # from the Refer-To URI into the new INVITE
    assert refers and all(f"{k}: {v}" in refers[0] for k, v in CONTEXT.items())


def test_transfer_to_a_target_that_rejects_reports_the_failure_and_keeps_the_call():
    with Peer(answering_server, port=0, rtp_port=32700, reject=486) as target:
        transfer = (f"sip:agent@127.0.0.1:{target.port}", {"X-Case-Id": "7"})
        with Peer(answering_server, port=0, rtp_port=32800, transfer=transfer) as bot:
            script = [
                ("dial", f"sip:bot@127.0.0.1:{bot.port}"),
                ("wait_answered",),
                ("sleep", 1.5),
                ("hangup",),
                ("wait_ended",),
            ]
            with Peer(scripted_caller, rtp_port=32900, script=script) as caller:
                (call,) = caller.result()
            outcome = bot.event("TransferOutcome", final=True)
            ended = bot.event("CallEnded")
    assert outcome["status_code"] == 486
    assert ended["by"] == "remote"  # the call went on until the caller hung up
    assert call["answered"] and call["ended"]["by"] == "local"
