"""A call's media port leaves the conference bridge when the call ends, whoever still holds it.

`SipCall.release` destroys the C++ port explicitly (off the bridge, under the bridge's lock)
before the Python object can be torn down, so PJSIP's clock thread never calls into a
half-freed `MediaPort` (that crashed a long campaign run with SIGSEGV).
"""

from __future__ import annotations

import queue
import time

import pytest

from voicebot.sip import events as ev
from voicebot.sip.config import SipConfig
from voicebot.sip.endpoint import SipEndpoint

pytestmark = pytest.mark.sip


def _until(events: queue.Queue, kind: type, count: int, timeout: float = 10.0) -> list:
    seen, deadline = [], time.monotonic() + timeout
    while len(seen) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"{len(seen)} {kind.__name__} of {count} within {timeout} s"
        try:
            event = events.get(timeout=left)
        except queue.Empty:
            continue
        if isinstance(event, ev.IncomingCall):
            endpoint.answer(event.call_id)
        if isinstance(event, kind):
            seen.append(event)
    return seen


endpoint: SipEndpoint


def test_ended_calls_ports_are_off_the_bridge_even_while_referenced():
    global endpoint
    endpoint = SipEndpoint(SipConfig(port=0, rtp_port=0, user="self"))
    endpoint.start()
    try:
        events = endpoint.events()
        for _round in range(3):  # one endpoint calls itself: two legs, two ports
            endpoint.make_call(endpoint.uri)
            ready = _until(events, ev.MediaReady, 2)
            ports = [endpoint._registry.calls[r.call_id].port for r in ready]
            assert all(p is not None and p.thisown for p in ports)
            media = [r.media for r in ready]
            time.sleep(0.2)
            endpoint.hangup(ready[0].call_id)
            _until(events, ev.CallEnded, 2)
            deadline = time.monotonic() + 5
            while any(p.thisown for p in ports) and time.monotonic() < deadline:
                time.sleep(0.02)  # reaped on the endpoint thread's next turn
            assert [p.thisown for p in ports] == [False, False]  # destroyed, though held here
            counts = [m.frames_received for m in media]
            time.sleep(0.2)  # ten clock ticks: no callback reaches the ports any more
            assert [m.frames_received for m in media] == counts
    finally:
        endpoint.stop()
