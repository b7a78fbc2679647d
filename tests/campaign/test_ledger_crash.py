"""The attempt ledger: write-ahead attempts, state transitions, and a real kill -9 mid-write."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from voicebot.campaign import CampaignError
from voicebot.campaign.config import CampaignSettings
from voicebot.campaign.contacts import read_contacts
from voicebot.campaign.ledger import Ledger
from voicebot.campaign.loop import CampaignLoop
from voicebot.campaign.pacing import Outcome

FLOW = Path(__file__).resolve().parents[2] / "dialog_flows" / "payment_reminder.yaml"
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 10:00 in New York
ROOT = Path(__file__).resolve().parents[2]


def make(tmp_path: Path, n: int = 4, **settings: object) -> Ledger:
    rows = ["phone,name,timezone"] + [f"+1212555{100 + i:04d},C{i},UTC" for i in range(n)]
    (tmp_path / "c.csv").write_text("\n".join(rows) + "\n")
    imported = read_contacts(tmp_path / "c.csv", region="US")
    ledger = Ledger(tmp_path / "campaigns.db")
    conf = CampaignSettings.model_validate(
        {"window": "00:00-00:00", "cps": 100, "burst": 10, "max_concurrent": 1000, **settings}
    )
    ledger.create("c", flow=str(FLOW), imported=imported, settings=conf, now=NOW)
    return ledger


def test_transitions_follow_the_table(tmp_path: Path) -> None:
    ledger = make(tmp_path)
    with pytest.raises(CampaignError, match="campaign 'c' is created: cannot pause it"):
        ledger.transition("c", "pause", NOW)
    assert ledger.transition("c", "start", NOW).state == "running"
    with pytest.raises(CampaignError, match="is running: cannot start it"):
        ledger.transition("c", "start", NOW)
    assert ledger.transition("c", "pause", NOW).state == "paused"
    loop = CampaignLoop(ledger, "c", now=NOW)
    assert loop.step(NOW) == []  # paused: nothing dialed
    assert ledger.transition("c", "resume", NOW).state == "running"
    assert len(loop.step(NOW)) == 4
    with pytest.raises(CampaignError, match="no campaign 'd' \\(known: c\\)"):
        ledger.campaign("d")


def test_cancel_ends_waiting_contacts_and_calls_in_flight(tmp_path: Path) -> None:
    ledger = make(tmp_path)
    ledger.transition("c", "start", NOW)
    first = ledger.begin_attempt(1, NOW)
    second = ledger.begin_attempt(2, NOW)
    ledger.transition("c", "cancel", NOW)
    with pytest.raises(CampaignError, match="campaign 'c' is cancelled"):
        ledger.begin_attempt(3, NOW)
    assert ledger.finish_attempt(first.id, Outcome.BUSY, NOW) == "cancelled"
    answered = {"disposition": "promise_to_pay"}
    assert ledger.finish_attempt(second.id, Outcome.ANSWERED, NOW, vars=answered) == (
        "promise_to_pay"
    )
    rows = ledger.db.execute("SELECT id, disposition FROM contacts ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [
        (1, "cancelled"),
        (2, "promise_to_pay"),
        (3, "cancelled"),
        (4, "cancelled"),
    ]


def test_attempts_are_written_before_dialing_and_finished_once(tmp_path: Path) -> None:
    ledger = make(tmp_path)
    ledger.transition("c", "start", NOW)
    attempt = ledger.begin_attempt(1, NOW)
    assert attempt.phone == "+12125550100" and attempt.contact["name"] == "C0"
    row = ledger.db.execute("SELECT state FROM attempts WHERE id = ?", (attempt.id,)).fetchone()
    assert row[0] == "dialing"
    with pytest.raises(CampaignError, match="has attempt 1 in flight"):
        ledger.begin_attempt(1, NOW)
    stop = {"disposition": "opt_out", "do_not_call": True}
    assert ledger.finish_attempt(attempt.id, Outcome.ANSWERED, NOW, vars=stop) == "opt_out"
    assert ledger.finish_attempt(attempt.id, Outcome.BUSY, NOW) is None  # a second report
    assert ledger.dnc.reason("+12125550100") == "callee asked not to be called (campaign c)"


def test_a_planning_steps_attempts_are_written_together_or_not_at_all(tmp_path: Path) -> None:
    ledger = make(tmp_path)
    ledger.transition("c", "start", NOW)
    cid = ledger.campaign("c").id
    a, b = (ledger.leases.acquire(cid, w, NOW, timedelta(seconds=30)) for w in ("a", "b"))
    first = ledger.begin_attempts([(3, a), (1, b)], NOW)
    assert [(x.contact_id, x.phone) for x in first] == [(3, "+12125550102"), (1, "+12125550100")]
    rows = {r["id"]: r for r in ledger.attempts(ledger.campaign("c"))}
    assert [rows[x.id]["lease_id"] for x in first] == [a.id, b.id]
    with pytest.raises(CampaignError, match="contact 3 has attempt 1 in flight"):
        ledger.begin_attempts([(2, a), (3, a)], NOW)
    with pytest.raises(CampaignError, match="picked twice"):
        ledger.begin_attempts([(2, a), (2, b)], NOW)
    assert len(ledger.attempts(ledger.campaign("c"))) == 2  # the refused ones wrote nothing
    assert ledger.in_flight(ledger.campaign("c")) == 2
    ledger.dnc.add("+12125550103", "asked", now=NOW)
    assert ledger.dnc.listed(["+12125550103", "+12125550101", "+12125550103"]) == {"+12125550103"}
    assert ledger.dnc.listed([]) == set()


def test_dnc_is_applied_at_import_and_again_before_each_dial(tmp_path: Path) -> None:
    db = Ledger(tmp_path / "campaigns.db")
    db.dnc.add("(212) 555-0100", "listed before", now=NOW)
    db.close()
    ledger = make(tmp_path)
    ledger.transition("c", "start", NOW)
    ledger.dnc.add("+12125550101", "asked on another campaign", now=NOW)
    loop = CampaignLoop(ledger, "c", now=NOW)
    dialed = [d.attempt.phone for d in loop.step(NOW)]
    assert dialed == ["+12125550102", "+12125550103"]
    rows = ledger.db.execute("SELECT phone, disposition, last_outcome FROM contacts").fetchall()
    assert [tuple(r) for r in rows[:2]] == [
        ("+12125550100", "dnc", None),  # at import
        ("+12125550101", "dnc", None),  # before its dial
    ]


def test_reconcile_counts_the_unknown_attempt_and_waits_its_backoff(tmp_path: Path) -> None:
    ledger = make(tmp_path, n=2, max_attempts=2)
    ledger.transition("c", "start", NOW)
    ledger.begin_attempt(1, NOW)
    a2 = ledger.begin_attempt(2, NOW)
    ledger.finish_attempt(a2.id, Outcome.NO_ANSWER, NOW)
    ledger.begin_attempt(2, NOW + timedelta(hours=1))  # its last attempt
    ledger.close()
    ledger = Ledger(tmp_path / "campaigns.db")
    later = NOW + timedelta(hours=2)
    assert ledger.reconcile(later) == [1, 3]
    rows = ledger.db.execute("SELECT attempts, not_before, disposition FROM contacts").fetchall()
    assert [tuple(r) for r in rows] == [
        (1, (later + timedelta(minutes=30)).isoformat(timespec="milliseconds"), None),
        (2, None, "max_attempts"),
    ]
    assert ledger.reconcile(later) == []  # nothing left to reconcile


CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from voicebot.campaign.ledger import Ledger
    from voicebot.campaign.loop import CampaignLoop

    ledger = Ledger(sys.argv[1])
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    loop = CampaignLoop(ledger, "c", now=now)
    n = 0
    while True:
        for d in loop.step(now):
            print("INVITE", d.attempt.id, flush=True)  # the INVITE leaves after the commit
            n += 1
            if n % 3:  # two calls in three end at once; the rest stay in flight
                loop.report(d.attempt.id, "no_answer" if n % 2 else "answered", now)
        now += timedelta(milliseconds=10)
    """
)


@pytest.mark.slow
def test_kill_9_mid_campaign_loses_nothing(tmp_path: Path) -> None:
    ledger = make(tmp_path, n=600)
    ledger.transition("c", "start", NOW)
    ledger.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "campaigns.db")],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    invites = []
    deadline = time.monotonic() + 60
    while len(invites) < 150 and time.monotonic() < deadline:
        invites.append(int(child.stdout.readline().split()[1]))
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    invites += [int(line.split()[1]) for line in child.stdout.read().splitlines() if line]
    db = sqlite3.connect(tmp_path / "campaigns.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    ledger = Ledger(tmp_path / "campaigns.db")
    attempts = {r["id"]: r for r in ledger.attempts(ledger.campaign("c"))}
    assert set(invites) <= set(attempts)  # no INVITE without its attempt on disk
    dialing = [i for i, a in attempts.items() if a["state"] == "dialing"]
    assert dialing
    restart = NOW + timedelta(hours=1)
    assert ledger.reconcile(restart) == dialing
    contacts = ledger.db.execute("SELECT id, attempts, disposition, not_before FROM contacts")
    by_id = {r["id"]: r for r in contacts}
    assert len(by_id) == 600  # no contact lost
    per_contact: dict[int, int] = {}
    for a in ledger.attempts(ledger.campaign("c")):
        assert a["state"] == "done"
        per_contact[a["contact_id"]] = per_contact.get(a["contact_id"], 0) + a["counts"]
    for cid, row in by_id.items():
        assert row["attempts"] == per_contact.get(cid, 0) <= 3
    for i in dialing:
        row = by_id[attempts[i]["contact_id"]]
        assert row["disposition"] is None or row["disposition"] == "max_attempts"
        if row["disposition"] is None:
            assert row["not_before"] == (restart + timedelta(minutes=30)).isoformat(
                timespec="milliseconds"
            )
