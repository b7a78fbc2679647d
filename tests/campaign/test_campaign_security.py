"""Issue 15 item 4-5 through `voicebot campaign create`: numbers outside the outbound policy and
fields with control characters are rejected with their line; oversized files are refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "dialog_flows" / "payment_reminder.yaml"
HEADER = "phone,name,amount_due,due_date\n"


def create(tmp_path: Path, csv: bytes | str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "c.db").unlink(missing_ok=True)
    path = tmp_path / "c.csv"
    path.write_bytes(csv.encode() if isinstance(csv, str) else csv)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
    environ.update(PYTHONPATH=str(ROOT), **env)
    proc = subprocess.run(
        [sys.executable, "-m", "voicebot", "campaign", "create", "--flow", str(FLOW),
         "--contacts", "c.csv", "--db", str(tmp_path / "c.db")],
        cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_premium_rate_and_special_numbers_are_rejected_with_their_line(tmp_path: Path) -> None:
    proc = create(
        tmp_path,
        HEADER
        + "+1 212 555 0100,Ann,1,2026-11-01\n"  # 2 ok
        + "+1 900 555 1234,Pay,1,2026-11-01\n"  # 3 premium rate (US 900)
        + "19002221234,Pay2,1,2026-11-01\n"  # 4 premium rate, written without +
        + "+44 909 879 0000,Gb,1,2026-11-01\n"  # 5 premium rate (GB 09)
        + "+33 8 84 01 23 45,Sc,1,2026-11-01\n"  # 6 shared cost (FR 08 84)
        + "+44 70 1234 5678,Pn,1,2026-11-01\n"  # 7 personal number (GB 070)
        + "+44 7640 123456,Pg,1,2026-11-01\n"  # 8 pager (GB 076)
        + "+1 500 555 0006,Fm,1,2026-11-01\n"  # 9 personal (US 500)
        + "+44 55 1234 5678,Ua,1,2026-11-01\n"  # 10 UAN (GB 055)
        + "+49 177 991234567,Vm,1,2026-11-01\n",  # 11 voicemail access (DE 0177 99)
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "c.csv:3: premium-rate number +19005551234 refused (settings outbound.refuse has "
        "premium_rate)",
        "c.csv:4: premium-rate number +19002221234 refused (settings outbound.refuse has "
        "premium_rate)",
        "c.csv:5: premium-rate number +449098790000 refused (settings outbound.refuse has "
        "premium_rate)",
        "c.csv:6: shared-cost number +33884012345 refused (settings outbound.refuse has "
        "shared_cost)",
        "c.csv:7: personal (follow-me) number +447012345678 refused (settings outbound.refuse "
        "has personal_number)",
        "c.csv:8: pager number +447640123456 refused (settings outbound.refuse has pager)",
        "c.csv:9: personal (follow-me) number +15005550006 refused (settings outbound.refuse "
        "has personal_number)",
        "c.csv:10: universal access (UAN) number +445512345678 refused (settings "
        "outbound.refuse has uan)",
        "c.csv:11: voicemail access number +49177991234567 refused (settings outbound.refuse "
        "has voicemail)",
    ]
    assert "1 contact(s)" in proc.stdout and "9 row(s) rejected of 10" in proc.stdout


def test_outbound_allow_limits_countries(tmp_path: Path) -> None:
    csv = HEADER + "+1 212 555 0100,Ann,1,2026-11-01\n+33 1 42 68 53 00,Fr,1,2026-11-01\n"
    proc = create(tmp_path, csv, VOICEBOT_OUTBOUND__ALLOW='["+1"]')
    assert proc.stderr.splitlines() == ["c.csv:3: +33142685300 is outside outbound.allow (+1)"]
    proc = create(tmp_path, csv, VOICEBOT_OUTBOUND__ALLOW='["US", "FR"]')
    assert proc.stderr == "" and "2 contact(s)" in proc.stdout, proc.stderr


def test_fields_with_control_characters_are_rejected_with_their_line(tmp_path: Path) -> None:
    proc = create(
        tmp_path,
        HEADER.encode()
        + b"+1 212 555 0100,Ann,1,2026-11-01\n"  # 2 ok
        + b'+1 212 555 0101,"Bob\r\nX-Evil: 1",1,2026-11-01\n'  # 3-4: CRLF inside quotes
        + b"+1 212 555 0102,Cy\x00,1,2026-11-01\n"  # 5 NUL
        + b"+1 212 555 0103,Di,1\x1b[2J,2026-11-01\n"  # 6 ESC (another C0)
        + b'+1 212 555 0104,"Ed\nFoo",1,2026-11-01\n'  # 7-8: a bare LF
        + b"+1 212 555 0105,Fa\tb,1,2026-11-01\n"  # 9 TAB inside a field
        + b"+1 212 555 0106,Gus ,1,2026-11-01\r\n",  # 10 ok: CRLF line end, trailing space
    )
    assert proc.returncode == 0, proc.stderr
    tail = "contact fields are one line of text (fix the cell; a line break inside quotes counts)"
    assert proc.stderr.splitlines() == [
        f"c.csv:3: control character U+000D in column 'name': {tail}",
        f"c.csv:5: control character U+0000 in column 'name': {tail}",
        f"c.csv:6: control character U+001B in column 'amount_due': {tail}",
        f"c.csv:7: control character U+000A in column 'name': {tail}",
        f"c.csv:9: control character U+0009 in column 'name': {tail}",
    ]
    assert "2 contact(s)" in proc.stdout and "5 row(s) rejected of 7" in proc.stdout


def test_an_oversized_contacts_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    rows = "".join(f"+1 212 555 {i:04d},N{i},1,2026-11-01\n" for i in range(100, 2100))
    proc = create(tmp_path, HEADER + rows, VOICEBOT_LIMITS__CSV_BYTES="10000")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "error: c.csv: refused: larger than 10000 bytes (split the file, or raise settings "
        "limits.csv_bytes)"
    )
    assert not (tmp_path / "c.db").exists() or "created" not in proc.stdout


PIN_FLOW = """\
version: 1
name: pin_check
start: pin
steps:
  pin:
    ask:
      slot: {name: pin, type: digits, min: 4, max: 4, sensitive: true}
      prompt: "{{ contact.name }}, please key your four digit PIN."
    on: {exhausted: bye}
    next: keep
  keep: {set: {vars.entered: "PIN {{ slots.pin }}", vars.checked: true}, next: bye}
  bye: {hangup: {}}
"""


def test_campaign_export_masks_a_sensitive_slot(tmp_path: Path) -> None:
    """An answered campaign call's result, from a real engine that collected a keyed PIN, goes
    through the service and the dialer's planner into the ledger: `campaign export` (JSON and CSV) shows
    the slot, and vars holding it, masked."""
    import json
    import queue
    import threading
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from voicebot.campaign.dialer import Planner, _hand_over
    from voicebot.campaign.ledger import Ledger
    from voicebot.dialog import events as ev
    from voicebot.dialog.engine import DialogEngine
    from voicebot.flow.loader import load_flow
    from voicebot.server.worker import Outbound, VoicebotService
    from voicebot.sip import events as sev

    flow = tmp_path / "pin.yaml"
    flow.write_text(PIN_FLOW)
    (tmp_path / "c.csv").write_text("phone,name,timezone\n+12125550100,Ann,Asia/Tokyo\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
    environ["PYTHONPATH"] = str(ROOT)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "voicebot", "campaign", *args, "--db", str(tmp_path / "c.db")],
            cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    assert cli("create", "--flow", str(flow), "--contacts", "c.csv", "--name", "p").returncode == 0
    assert cli("start", "p").returncode == 0
    now = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 14:00 in Tokyo
    ledger = Ledger(tmp_path / "c.db")
    inbox: queue.Queue = queue.Queue()
    planner = Planner(ledger, "p", queue.Queue(), inbox, threading.Event(), lambda: now)
    (decision,) = planner.loop.step(now)
    attempt = decision.attempt

    engine = DialogEngine(load_flow(flow), call_id="c1")
    started = ev.CallStarted("c1", "sip:bot", "sip:+12125550100", "outbound", now, attempt.contact)
    engine.handle(started, now)
    engine.handle(ev.Dtmf("4321"), now)
    assert engine.slots == {"pin": "4321"} and engine.ended  # the engine keeps the real value

    service = VoicebotService.__new__(VoicebotService)  # its outbound bookkeeping only
    service.calls, service.pending, service.results = {}, {}, queue.Queue()
    service._half_done, service._half_lock = {}, threading.Lock()
    service.resources = SimpleNamespace(records=None)
    service.config = SimpleNamespace(worker="w1")  # names the worker in its telemetry
    service.outbound = {"c1": Outbound(attempt.id, "sip:+12125550100", attempt.contact, 0, 30)}
    live = SimpleNamespace(
        call_id="c1",
        session=SimpleNamespace(engine=engine, answered_by="human"),
        outcome="completed",
        on_done=service._outbound_done,
        post=lambda item: None,
    )
    service.calls["c1"] = live
    service._outbound_done(live)  # type: ignore[arg-type]
    service._ended(sev.CallEnded("c1", "Normal call clearing", 200, by="local"))
    _hand_over(service, inbox)  # the SIP thread's side: results to the planner's inbox
    planner._handle(inbox.get_nowait())  # the planner's side: into the ledger
    assert inbox.empty()
    ledger.close()

    exported = cli("export", "p", "--format", "json")
    assert exported.returncode == 0, exported.stderr
    (row,) = json.loads(exported.stdout)["contacts"]
    assert row["slots"] == {"pin": "[masked]"}
    assert "4321" not in exported.stdout
    csv_out = cli("export", "p", "--format", "csv").stdout
    assert "[masked]" in csv_out and "4321" not in csv_out
