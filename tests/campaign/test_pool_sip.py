"""Campaigns dialed by `voicebot serve --workers 2` over real SIP.

One pjsua2 process holds 4 calls, the simulated callees' as well as a worker's, so the trunk is
a real Kamailio (the config `voicebot kamailio-config` writes) spreading the INVITEs over two
callee processes by load. A campaign of humans is started with the CLI before `serve` starts;
the callees' own logs, merged, are the evidence: calls up at once (more than 4, never more than
`max_concurrent`), INVITEs per number against the ledger, dispositions; and the call records.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from test_campaign_sip import FLOW, ROOT, contacts_csv, open_zone

from voicebot.campaign.ledger import Ledger
from voicebot.testing.callee_log import check
from voicebot.testing.trunk import Procs, Trunk, free_udp_port, merged, most_up, start_trunk

pytestmark = [pytest.mark.sip, pytest.mark.slow]

NUMBERS = [f"01{n:02d}" for n in range(51, 63)]  # humans who answer "yes I'll be there"
CALLEES = ("--max-ring", "6", "--quiet-timeout", "12", "--max-call", "60")


@dataclass
class Site:
    procs: Procs
    trunk: Trunk

    @property
    def tmp(self) -> Path:
        return self.procs.work

    def campaign(self, name: str, numbers: list[str], *options: str) -> Ledger:
        (self.tmp / f"{name}.csv").write_text(contacts_csv(numbers, open_zone()))
        cli = [sys.executable, "-m", "voicebot", "campaign"]
        create = [*cli, "create", "--flow", str(FLOW), "--contacts", f"{name}.csv",
                  "--db", "c.db", *options]  # fmt: skip
        for args in (create, [*cli, "start", name, "--db", "c.db"]):
            done = subprocess.run(args, cwd=self.tmp, env=self.procs.env, capture_output=True,
                                  text=True, timeout=60)  # fmt: skip
            assert done.returncode == 0, done.stderr
        return Ledger(self.tmp / "c.db")

    def serve(self) -> subprocess.Popen[bytes]:
        return self.procs.start("serve", [
            sys.executable, "-m", "voicebot", "serve", "--flow", str(FLOW), "--workers", "2",
            "--port", str(free_udp_port()),
        ])  # fmt: skip

    def until_finished(self, serve: subprocess.Popen[bytes], ledger: Ledger, name: str,
                       timeout: float) -> None:  # fmt: skip
        deadline = time.monotonic() + timeout
        while ledger.campaign(name).state != "finished":
            assert serve.poll() is None, self.procs.output("serve")
            assert time.monotonic() < deadline, self.procs.output("serve")
            time.sleep(0.5)
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(60)
        assert serve.returncode == 0, self.procs.output("serve")

    def records(self) -> dict[str, tuple[str, str, str]]:
        """Each call record: (direction, worker, outcome) by call id."""
        with sqlite3.connect(self.tmp / "records.db") as db:
            rows = db.execute("SELECT id, direction, worker, outcome FROM calls").fetchall()
        return {
            call_id: (direction, worker, outcome) for call_id, direction, worker, outcome in rows
        }


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    procs = Procs(tmp_path, env)
    try:
        trunk = start_trunk(procs, 2, *CALLEES)
        env.update(
            VOICEBOT_CAMPAIGN__TRUNK=trunk.uri,
            VOICEBOT_CAMPAIGN__RING_SECONDS="3",
            VOICEBOT_CAMPAIGN__DATABASE="c.db",
            VOICEBOT_DATABASE__URL="sqlite:///records.db",
            VOICEBOT_HTTP__PORT="0",
            VOICEBOT_SIP__RTP_PORT=str(random.randrange(20000, 38000, 2)),
        )
        yield Site(procs, trunk)
    finally:
        procs.stop_all()


def test_serve_with_two_workers_dials_one_campaign_past_four_calls(site: Site) -> None:
    """12 humans, max_concurrent 6: more than 4 calls up at once, each contact called once and
    confirmed, each call a record of an outbound call of w1 or w2."""
    ledger = site.campaign("pool", NUMBERS, "--cps", "4", "--max-concurrent", "6",
                           "--max-attempts", "1")  # fmt: skip
    site.until_finished(site.serve(), ledger, "pool", 150)
    logs = site.trunk.logs()
    lines = merged(logs)
    up = most_up(logs)
    print(f"calls up at most: {up}")
    assert 4 < up <= 6, (up, site.procs.output("serve"))
    assert all(any(x["event"] == "invite" for x in log) for log in logs)  # both took calls
    evidence = check(lines, ledger, "pool")
    assert evidence.problems == [], evidence
    assert evidence.dispositions == {"confirmed": 12}, evidence
    invites = [x["number"] for x in lines if x["event"] == "invite"]
    assert sorted(invites) == sorted(f"+1212555{n}" for n in NUMBERS)  # each exactly once
    attempts = ledger.attempts(ledger.campaign("pool"))
    assert len(attempts) == 12 and {a["outcome"] for a in attempts} == {"answered"}
    records = site.records()
    placed = [records[a["call_id"]] for a in attempts]
    assert {(direction, outcome) for direction, _, outcome in placed} == {("outbound", "completed")}
    assert {worker for _, worker, _ in placed} == {"w1", "w2"}


def test_a_worker_killed_mid_call_loses_no_contact_and_dials_none_twice(site: Site) -> None:
    """kill -9 of w1 with calls up: the supervisor restarts it, the pool closes w1's calls as
    `unknown` at once (its lease), they are dialed again after their 30 s back-off (by then
    the callees have hung up the dead calls and freed their slots, as a trunk would), and every
    contact ends confirmed by one answered call, with no number dialed beyond its attempts."""
    numbers = NUMBERS[:8]
    ledger = site.campaign("kill", numbers, "--cps", "4", "--max-concurrent", "6",
                           "--max-attempts", "2", "--daily-cap", "3",
                           "--retry", "unknown=0.5")  # fmt: skip
    serve = site.serve()
    deadline = time.monotonic() + 90
    while True:  # 5 calls up across the callees, the first answered ones mid-flow
        logs = site.trunk.logs()
        invites = sorted(x["t"] for log in logs for x in log if x["event"] == "invite")
        if most_up(logs) >= 5 and time.time() - invites[0] > 6:
            break
        assert serve.poll() is None, site.procs.output("serve")
        assert time.monotonic() < deadline, "5 calls not up within 90 s"
        time.sleep(0.2)
    started = re.findall(r"worker w1 started \(pid (\d+)", site.procs.output("serve", 0))
    os.kill(int(started[-1]), signal.SIGKILL)
    killed_at = time.time()
    site.until_finished(serve, ledger, "kill", 150)
    output = site.procs.output("serve", 0)
    lost = re.findall(r"campaign kill: worker w1 exited: (\d+) attempt\(s\) reconciled", output)
    assert lost and int(lost[0]) >= 1, output
    assert len(re.findall(r"worker w1 started", output)) == 2  # restarted
    logs = site.trunk.logs()
    lines = merged(logs)
    evidence = check(lines, ledger, "kill")
    assert evidence.problems == [], evidence
    assert evidence.unknown_attempts == int(lost[0])
    assert evidence.dispositions == {"confirmed": 8}, evidence
    attempts = ledger.attempts(ledger.campaign("kill"))
    answered = [a["phone"] for a in attempts if a["outcome"] == "answered"]
    assert sorted(answered) == sorted(f"+1212555{n}" for n in numbers)  # once each
    for a in attempts:
        if a["outcome"] == "unknown":  # ended when w1 died, not when its lease ran out
            ended = datetime.fromisoformat(a["ended_at"]).timestamp()
            assert ended - killed_at < 10, dict(a)
    invites = Counter(x["number"] for x in lines if x["event"] == "invite")
    tried = Counter(a["phone"] for a in attempts)
    assert all(invites[n] <= tried[n] for n in invites), (invites, tried)
