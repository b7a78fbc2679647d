"""The dialer's bookkeeping around pjsua2's call slots, without SIP.

* An answered outbound call's result goes out only once both its flow and its SIP call are
  over: the flow ends when the bot sends BYE, and pjsua2 keeps the call's slot until the BYE is
  answered; a dialer taking the result as a free slot placed a fifth call (PJ_ETOOMANY).
* A call pjsua2 refuses to place is reported as back-pressure (not an attempt) instead of
  ending `campaign run` with the attempt left `dialing`.
"""

from __future__ import annotations

import queue
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from voicebot.campaign.config import CampaignSettings
from voicebot.campaign.contacts import read_contacts
from voicebot.campaign.dialer import place
from voicebot.campaign.ledger import Ledger
from voicebot.campaign.loop import CampaignLoop
from voicebot.campaign.pacing import Outcome
from voicebot.errors import SipError, TooLate
from voicebot.policy.redaction import Redactor
from voicebot.server.worker import Outbound, VoicebotService
from voicebot.sip import events as sev

NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 14:00 in Tokyo


def bare_service() -> VoicebotService:
    """The service's outbound bookkeeping only (no flow, model or endpoint)."""
    service = VoicebotService.__new__(VoicebotService)
    service.calls, service.pending, service.outbound = {}, {}, {}
    service.results = queue.Queue()
    service._half_done, service._half_lock = {}, threading.Lock()
    service.resources = SimpleNamespace(records=None)
    service.config = SimpleNamespace(worker="w1")  # names the worker in its telemetry
    return service


def live_call(call_id: str, service: VoicebotService) -> SimpleNamespace:
    engine = SimpleNamespace(
        slots={"new_date": "2026-12-02"}, vars={"disposition": "x"}, redactor=Redactor()
    )
    live = SimpleNamespace(
        call_id=call_id,
        session=SimpleNamespace(engine=engine, answered_by="human"),
        outcome="completed",
        on_done=service._outbound_done,
        posted=[],
    )
    live.post = live.posted.append
    return live


def test_an_answered_calls_result_waits_for_its_sip_call_to_end() -> None:
    for flow_first in (True, False):
        service = bare_service()
        service.outbound["c1"] = Outbound(7, "sip:x", {}, 0.0, 30.0)
        live = live_call("c1", service)
        service.calls["c1"] = live
        ended = sev.CallEnded("c1", "Normal call clearing", 200, by="local")
        if flow_first:
            service._outbound_done(live)  # the bot's BYE is out, its answer is not in
            assert service.results.empty()
            service._ended(ended)
        else:
            service._ended(ended)  # the callee hung up; the flow is still finishing
            assert service.results.empty()
            service._outbound_done(live)
        result = service.results.get_nowait()
        assert (result.tag, result.status, result.answered_by) == (7, 200, "human")
        assert result.vars == {"disposition": "x"} and service.results.empty()
        assert service._half_done == {}


def test_a_call_pjsua2_refuses_is_back_pressure_not_an_attempt(tmp_path: Path) -> None:
    flow = Path(__file__).resolve().parents[2] / "dialog_flows" / "payment_reminder.yaml"
    (tmp_path / "c.csv").write_text(
        "phone,name,amount_due,due_date,timezone\n+12125550100,Ann,42.17,2026-11-01,Asia/Tokyo\n"
    )
    ledger = Ledger(tmp_path / "c.db")
    imported = read_contacts(tmp_path / "c.csv", region="US")
    ledger.create("t", flow=str(flow), imported=imported, settings=CampaignSettings(), now=NOW)
    ledger.transition("t", "start", NOW)
    loop = CampaignLoop(ledger, "t", now=NOW)
    (decision,) = loop.step(NOW)

    class Refusing:
        def place(self, attempt: object, not_after: float | None = None) -> None:
            raise SipError("make_call: Too many objects of the specified type (PJ_ETOOMANY)")

    inbox: queue.Queue = queue.Queue()  # the SIP thread hands the refusal to the planner
    assert place(Refusing(), inbox, decision.attempt) is False  # type: ignore[arg-type]
    refused = inbox.get_nowait()
    loop.report(refused.attempt_id, refused.outcome, NOW, note=refused.note)
    (row,) = ledger.attempts(ledger.campaign("t"))
    assert (row["state"], row["outcome"], row["counts"]) == ("done", "congestion", 0)
    assert "PJ_ETOOMANY" in row["note"]
    (waiting,) = ledger.pending(ledger.campaign("t"), NOW)
    assert waiting[0].attempts == 0  # dialed again after the pause, nothing counted
    assert loop.pacer.hold_until is not None  # and the whole campaign holds a moment

    class Late:
        def place(self, attempt: object, not_after: float | None = None) -> None:
            raise TooLate("call sip:+12125550100@trunk: its turn passed 130 ms ago: not sent")

    later = NOW + timedelta(seconds=10)
    (again,) = loop.step(later)
    assert place(Late(), inbox, again.attempt, time.time()) is False  # type: ignore[arg-type]
    late = inbox.get_nowait()
    assert late.late and late.outcome == Outcome.CONGESTION
    loop.report(late.attempt_id, late.outcome, later, note=late.note, late=True)
    row = ledger.attempts(ledger.campaign("t"))[-1]
    assert (row["outcome"], row["counts"]) == ("congestion", 0) and "130 ms" in row["note"]
    assert loop.pacer.congestion == 1 and loop.pacer.hold_until < later  # no new hold


def test_an_answered_call_whose_flow_crashed_is_a_failed_attempt():
    from voicebot.campaign.dialer import outcome_of
    from voicebot.campaign.pacing import Outcome
    from voicebot.server.worker import OutboundResult

    assert outcome_of(OutboundResult(1, "c", 200, "human", "completed")) == Outcome.ANSWERED
    assert outcome_of(OutboundResult(1, "c", 200, "machine", "completed")) == Outcome.MACHINE
    assert outcome_of(OutboundResult(1, "c", 200, "human", "failed")) == Outcome.FAILED
    assert outcome_of(OutboundResult(1, "c", 486)) == Outcome.BUSY
