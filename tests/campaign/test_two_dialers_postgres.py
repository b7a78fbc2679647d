"""Two dialer processes on one campaign in a real PostgreSQL, one killed with SIGKILL mid-run:
no contact dialed twice, none lost, the survivor takes the dead one's calls over once its lease
expires. The SIP leg is simulated (each call ends 0.2 s after it is placed): the real-SIP
campaign tests cover the calls themselves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from voicebot.campaign.config import CampaignSettings
from voicebot.campaign.contacts import Contact, ImportResult
from voicebot.campaign.ledger import Ledger

ROOT = Path(__file__).parents[2]
DIALER = """
import sys, time, threading
from datetime import UTC, datetime, timedelta
from voicebot.campaign.ledger import Ledger
from voicebot.campaign.loop import CampaignLoop
url, log = sys.argv[1], open(sys.argv[2], "a", buffering=1)
clock = lambda: datetime.now(UTC)
ledger = Ledger(url)
ttl = timedelta(seconds=2)
lease = ledger.leases.acquire(ledger.campaign("two").id, sys.argv[3], clock(), ttl)
loop = CampaignLoop(ledger, "two", now=clock(), lease=lease)
flying = []
while not loop.done:
    now = clock()
    if now >= lease.renew_at(ttl):
        lease = ledger.leases.renew(lease, now, ttl)
        ledger.reconcile(now, "two")
    for d in loop.step(now):
        log.write(f"{d.attempt.id} {d.attempt.phone}\\n")
        flying.append((time.monotonic() + 0.2, d.attempt.id))
    for end, attempt in [f for f in flying if f[0] <= time.monotonic()]:
        flying.remove((end, attempt))
        loop.report(attempt, "answered", clock())
    time.sleep(0.02)
"""


def test_two_dialers_one_killed_no_contact_twice_none_lost(postgres, tmp_path):
    url = postgres.url("twodialers")
    phones = [f"+1212555{n:04d}" for n in range(1000, 1060)]
    rows = tuple(Contact(i + 2, p, {"phone": p}, ("UTC",)) for i, p in enumerate(phones))
    ledger = Ledger(url)
    settings = CampaignSettings(
        window="00:00-00:00", max_concurrent=6, cps=20, burst=2,
        retries={"unknown": {"backoff_minutes": 0.01}},  # a lost call is retried after 0.6 s
    )  # fmt: skip
    ledger.create("two", flow="/f.yaml", imported=ImportResult("c.csv", ("phone",), rows, ()),
                  settings=settings, now=datetime.now(UTC))  # fmt: skip
    ledger.transition("two", "start", datetime.now(UTC))
    script = tmp_path / "dialer.py"
    script.write_text(DIALER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [
        subprocess.Popen([sys.executable, str(script), url, str(log), name], env=env)
        for log, name in zip(logs, ("a", "b"), strict=True)
    ]
    try:
        deadline = time.monotonic() + 60
        while not logs[0].exists() or len(logs[0].read_text().splitlines()) < 10:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait(10)
        assert procs[1].wait(90) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    dials = Counter(line.split()[1] for log in logs for line in log.read_text().splitlines())
    campaign = ledger.campaign("two")
    assert campaign.state == "finished"
    attempts = ledger.attempts(campaign)
    by_phone = Counter(a["phone"] for a in attempts)
    unknown = {a["phone"] for a in attempts if a["outcome"] == "unknown"}
    assert set(dials) == set(phones)  # none lost
    for phone in phones:  # twice only when the dead dialer's attempt was reconciled
        assert dials[phone] <= by_phone[phone]
        assert by_phone[phone] == (2 if phone in unknown else 1), phone
    final = Counter(r[0] for r in ledger.db.execute(
        "SELECT disposition FROM contacts WHERE campaign_id = ?", (campaign.id,)))  # fmt: skip
    assert final == {"completed": 60}
    assert unknown, "the killed dialer had calls in flight"
