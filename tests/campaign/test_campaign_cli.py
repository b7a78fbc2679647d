"""`campaign` commands end to end through a subprocess; exports and the status view."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from voicebot.campaign.ledger import Ledger
from voicebot.campaign.pacing import Outcome
from voicebot.campaign.results import export_csv, results, status_text, summary

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "dialog_flows" / "payment_reminder.yaml"
CSV = (
    "phone,name,amount_due,due_date\n"
    "(212) 555-0100,Ann,42.17,2026-11-01\n"
    "212-555-0101,,10,2026-11-02\n"
    "12,Bob,1,2026-11-01\n"
    "+1 212 555 0100,Dup,1,2026-11-01\n"
    "415 555 0102,Cy,5,2026-11-03\n"
    "415 555 0103,Di,7,2026-11-04\n"
)


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "voicebot", "campaign", *args, "--db", str(tmp_path / "c.db")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def created(tmp_path: Path) -> Path:
    (tmp_path / "reminders.csv").write_text(CSV)
    (tmp_path / "dnc.txt").write_text("# opted out by phone\n415-555-0103\nnot a number\n")
    r = cli(tmp_path, "create", "--flow", str(FLOW), "--contacts", "reminders.csv",
            "--dnc", "dnc.txt", "--cps", "2", "--max-concurrent", "3", "--retry", "busy=5x2",
            "--weekday", "sun=off")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [
        "reminders.csv:3: empty 'name' (the flow uses contact.name)",
        "reminders.csv:4: invalid phone number '12' for region US (too short)",
        "reminders.csv:5: duplicate number +12125550100 (first on line 2)",
        "dnc.txt:3: invalid phone number 'not a number' for region US (not a number)",
    ]
    assert r.stdout.strip() == (
        "campaign reminders created: 3 contact(s) (1 on the do-not-call list), 3 row(s) "
        "rejected of 6; start it with: voicebot campaign start reminders"
    )
    return tmp_path


@pytest.mark.slow
def test_lifecycle_status_and_export(created: Path) -> None:
    tmp = created
    assert cli(tmp, "start", "reminders").stdout == "campaign reminders: running\n"
    r = cli(tmp, "start", "reminders")
    assert (r.returncode, r.stderr) == (
        1,
        "error: campaign 'reminders' is running: cannot start it\n",
    )
    assert cli(tmp, "pause", "reminders").stdout == "campaign reminders: paused\n"
    assert cli(tmp, "resume", "reminders").stdout == "campaign reminders: running\n"
    # a dialer's calls, straight through the ledger
    ledger = Ledger(tmp / "c.db")
    c = ledger.campaign("reminders")
    assert c.settings.retries["busy"].backoff_minutes == 5 and c.policy.weekdays == {6: None}
    now = datetime.now(UTC)
    a = ledger.begin_attempt(1, now)
    promise = {"promise_amount": "42.17", "promise_date": "2026-12-01", "card": "4532015112830366"}
    ledger.finish_attempt(a.id, Outcome.ANSWERED, now, call_id="call-1", slots=promise,
                          vars={"disposition": "promise_to_pay"})  # fmt: skip
    b = ledger.begin_attempt(2, now)  # in flight
    status = cli(tmp, "status", "reminders").stdout
    assert "reminders  running  5/6 done" in status and "83%" in status
    words = [line.split() for line in status.splitlines()]
    for row in (["promise_to_pay", "1"], ["in_flight", "1"], ["rejected", "3"], ["dnc", "1"]):
        assert row in words
    assert "in flight 1" in status
    ledger.finish_attempt(b.id, Outcome.BUSY, now)
    listing = cli(tmp, "status").stdout
    assert listing.split() == ["reminders", "running", "payment_reminder.yaml"]

    out = cli(tmp, "export", "reminders").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["line"], r["phone"], r["disposition"], r["attempts"]) for r in rows] == [
        ("2", "+12125550100", "promise_to_pay", "1"),
        ("3", "212-555-0101", "rejected", "0"),
        ("4", "12", "rejected", "0"),
        ("5", "+1 212 555 0100", "rejected", "0"),
        ("6", "+14155550102", "pending", "1"),
        ("7", "+14155550103", "dnc", "0"),
    ]
    assert rows[0]["slot.promise_amount"] == "42.17" and rows[0]["call_id"] == "call-1"
    assert rows[0]["contact.name"] == "Ann" and rows[4]["last_outcome"] == "busy"
    assert rows[3]["reason"] == "duplicate number +12125550100 (first on line 2)"

    r = cli(tmp, "export", "reminders", "--out", "results.json")
    assert r.stderr == "6 row(s) written to results.json\n"
    data = json.loads((tmp / "results.json").read_text())
    assert data["state"] == "running" and len(data["contacts"]) == 6
    assert data["contacts"][0]["slots"] == {  # the card number is not kept (policy/card_numbers)
        "promise_amount": "42.17",
        "promise_date": "2026-12-01",
        "card": "•••• 0366",
    }
    assert stat.S_IMODE((tmp / "results.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp / "c.db").stat().st_mode) == 0o600

    assert cli(tmp, "cancel", "reminders").stdout == "campaign reminders: cancelled\n"
    out = cli(tmp, "export", "reminders", "--format", "json").stdout
    assert [c["disposition"] for c in json.loads(out)["contacts"]][4] == "cancelled"


@pytest.mark.slow
def test_create_refuses_files_a_flow_cannot_use(tmp_path: Path) -> None:
    (tmp_path / "short.csv").write_text("phone,name\n2125550100,Ann\n")
    r = cli(tmp_path, "create", "--flow", str(FLOW), "--contacts", "short.csv")
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[0] == (
        "error: short.csv:1: the flow payment_reminder.yaml needs columns the file does not "
        "have: amount_due, due_date"
    )
    assert lines[1].endswith("payment_reminder.yaml:30:10: uses contact.amount_due")
    (tmp_path / "bad.csv").write_text(CSV)
    r = cli(tmp_path, "create", "--flow", str(FLOW), "--contacts", "bad.csv", "--strict")
    assert r.returncode == 1 and "bad.csv: 3 row(s) rejected: nothing created" in r.stdout
    r = cli(tmp_path, "create", "--flow", str(FLOW), "--contacts", "bad.csv", "--window", "9-5")
    assert r.returncode == 1
    assert "window: Value error, '9-5' is not a window like 08:00-21:00" in r.stderr
    r = cli(tmp_path, "status", "nope")
    assert r.returncode == 1 and "no campaign 'nope' (known: none)" in r.stderr


@pytest.mark.slow
def test_dnc_commands(tmp_path: Path) -> None:
    assert cli(tmp_path, "dnc", "add", "(212) 555-0100").stdout == "(212) 555-0100: added\n"
    assert cli(tmp_path, "dnc", "add", "+12125550100").stdout == "+12125550100: unchanged\n"
    listing = cli(tmp_path, "dnc", "list").stdout
    assert listing.startswith("+12125550100") and "added by an operator" in listing
    assert cli(tmp_path, "dnc", "remove", "2125550100").stdout == "2125550100: removed\n"
    r = cli(tmp_path, "dnc", "add", "12")
    assert r.returncode == 1 and "invalid phone number '12'" in r.stderr


def test_status_view_and_csv_export_in_process(tmp_path: Path) -> None:
    from voicebot.campaign.config import CampaignSettings
    from voicebot.campaign.contacts import read_contacts

    (tmp_path / "c.csv").write_text("phone,name,timezone\n2125550100,Ann,\n2125550101,Bo,\n")
    ledger = Ledger(tmp_path / "c.db")
    imported = read_contacts(tmp_path / "c.csv", region="US", name="c.csv")
    t = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 00:00 in New York
    c = ledger.create("c", flow=str(FLOW), imported=imported, settings=CampaignSettings(), now=t)
    ledger.transition("c", "start", t)
    text = status_text(summary(ledger, ledger.campaign("c"), t), t)
    assert text.splitlines()[0] == "c  running  0/2 done"
    assert "next contact due 2026-11-23 13:00:00 UTC (in 8h00m)" in text
    a = ledger.begin_attempt(1, t + timedelta(hours=9))
    ledger.finish_attempt(a.id, Outcome.MACHINE, t + timedelta(hours=9), slots={"x": [1, 2]})
    assert export_csv(results(ledger, c), c.columns) == (
        "line,phone,disposition,attempts,last_outcome,call_id,reason,slot.x,contact.name,"
        "contact.timezone\n"
        '2,+12125550100,machine,1,machine,,,"[1, 2]",Ann,\n'
        "3,+12125550101,pending,0,,,,,Bo,\n"
    )
