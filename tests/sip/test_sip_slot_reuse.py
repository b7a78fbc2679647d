"""A call that takes the slot of a call that just ended is not hung up with it.

pjsua hands an ended call's slot to the next call at once, and `pj.Call`'s destructor hangs up
whatever call holds its slot when it runs. With all 4 slots ringing, a CANCEL of the first
call and a fifth INVITE sent back to back are handled in one poll: the fifth gets the first's
slot before the first call's object is dropped. Before `Registry.reap` waited for an idle
slot, the fifth caller got 603 Decline and the endpoint never saw it end (a simulated callee
of a campaign test counted it up for ever; a worker would lose a caller or its own INVITE).
"""

from __future__ import annotations

import queue
import re
import socket
import time

import pytest

from voicebot.sip import events as ev
from voicebot.sip.config import SipConfig
from voicebot.sip.endpoint import SipEndpoint
from voicebot.testing.sip_datagrams import cancel, invite

pytestmark = pytest.mark.sip


def _events(events: queue.Queue, seconds: float) -> list:
    out, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            out.append(events.get(timeout=left))
        except queue.Empty:
            break
    return out


def _answers(sock: socket.socket, seconds: float) -> list[str]:
    """(Call-ID, status line) of each response within `seconds`."""
    out, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65535).decode("latin-1")
        except OSError:
            break
        call_id = re.search(r"\r\nCall-ID: *([^\r]+)", data, re.I)
        out.append((call_id.group(1) if call_id else "", data.split("\r\n", 1)[0]))
    return out


def test_a_call_in_the_slot_of_one_that_just_ended_stays_up() -> None:
    endpoint = SipEndpoint(SipConfig(port=0, rtp_port=0, user="bot"))
    endpoint.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        target = ("127.0.0.1", endpoint.port)
        events = endpoint.events()
        invites = [invite("127.0.0.1", endpoint.port, "127.0.0.1", sock.getsockname()[1])
                   for _ in range(5)]  # fmt: skip
        for message in invites[:4]:
            sock.sendto(message.encode(), target)
        offered = [e for e in _events(events, 2.0) if isinstance(e, ev.IncomingCall)]
        assert len(offered) == 4  # every slot holds a ringing call
        _answers(sock, 0.2)
        sock.sendto(cancel(invites[0]).encode(), target)
        sock.sendto(invites[4].encode(), target)
        seen = _events(events, 1.5)
        fifth_id = re.search(r"Call-ID: ([^\r]+)", invites[4]).group(1)  # type: ignore[union-attr]
        answers = [status for call_id, status in _answers(sock, 0.5) if call_id == fifth_id]
        incoming = [e for e in seen if isinstance(e, ev.IncomingCall)]
        ended = [e.call_id for e in seen if isinstance(e, ev.CallEnded)]
        assert [e.sip_call_id for e in incoming] == [fifth_id]
        assert ended == [offered[0].call_id]  # the cancelled one only
        assert not [s for s in answers if re.match(r"SIP/2.0 [3-6]\d\d", s)], answers
        assert endpoint._registry.live_calls() == 4
    finally:
        sock.close()
        endpoint.stop()
