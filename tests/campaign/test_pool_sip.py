"""A campaign dialed by `voicebot serve --workers 2` over real SIP: more than 4 calls up.

One pjsua2 process holds 4 calls, the simulated callees' as well as a worker's, so the trunk is
a real Kamailio (the config `voicebot kamailio-config` writes) spreading the INVITEs over two
callee processes by load. The campaign (12 humans, max_concurrent 6) is started with the CLI
before `serve` starts; the callees' own logs, merged, must show more than 4 calls up at once,
never more than 6, every contact with its final disposition from exactly one answered call,
and each call is a record in the database, placed by one of the two workers.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_campaign_sip import FLOW, ROOT, contacts_csv, open_zone

from voicebot.campaign.ledger import Ledger
from voicebot.deploy.kamailio import Destination, KamailioConfig, render_config
from voicebot.testing.callee_log import check
from voicebot.testing.callees import read_log
from voicebot.testing.sip_probe import options_ok

pytestmark = [pytest.mark.sip, pytest.mark.slow]

HOST = "127.0.0.1"
NUMBERS = [f"01{n:02d}" for n in range(51, 63)]  # humans who answer "yes I'll be there"


class Procs:
    def __init__(self, tmp: Path, env: dict[str, str]):
        self.tmp, self.env, self.running = tmp, env, []

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        out = (self.tmp / f"{name}.out").open("wb")
        proc = subprocess.Popen(
            args, cwd=self.tmp, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.running.append(proc)
        return proc

    def output(self, name: str) -> str:
        return (self.tmp / f"{name}.out").read_text(errors="replace")[-4000:]

    def stop_all(self) -> None:
        for proc in reversed(self.running):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(40)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def callees(procs: Procs, name: str) -> tuple[int, Path]:
    log = procs.tmp / f"{name}.jsonl"
    proc = procs.start(name, [
        sys.executable, "-m", "voicebot.testing.callees", "--port", "0", "--log", str(log),
        "--max-ring", "6", "--quiet-timeout", "12", "--max-call", "60",
    ])  # fmt: skip
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text().strip()):
        assert proc.poll() is None, procs.output(name)
        assert time.monotonic() < deadline, f"{name} did not start within 30 s"
        time.sleep(0.1)
    return int(json.loads(log.read_text().splitlines()[0])["port"]), log


def kamailio(procs: Procs, ports: list[int]) -> int:
    binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
    port, run = free_udp_port(), procs.tmp / "run"
    run.mkdir()
    settings = KamailioConfig(
        tuple(Destination(f"sip:{HOST}:{p}") for p in ports),
        listen_host=HOST, listen_port=port, list_file=str(procs.tmp / "dispatcher.list"),
        runtime_dir=str(run), pike_limit=0, ping_interval=1,
    )  # fmt: skip
    cfg, listed = render_config(settings)
    (procs.tmp / "dispatcher.list").write_text(listed)
    (procs.tmp / "kamailio.cfg").write_text(cfg)
    proc = procs.start("kamailio", [
        binary, "-f", str(procs.tmp / "kamailio.cfg"), "-DD", "-E", "-Y", str(run),
        "-P", str(run / "kamailio.pid"), "-m", "32", "-M", "4",
    ])  # fmt: skip
    deadline = time.monotonic() + 10
    while not options_ok(HOST, port):
        assert proc.poll() is None, procs.output("kamailio")
        assert time.monotonic() < deadline, procs.output("kamailio")
    return port


def most_up(logs: list[list[dict]]) -> int:
    """Calls up at once across the callee processes: each one's latest `up`, summed."""
    events = sorted(
        (x["t"], i, x["up"]) for i, lines in enumerate(logs) for x in lines if "up" in x
    )
    now = [0] * len(logs)
    best = 0
    for _, i, up in events:
        now[i] = up
        best = max(best, sum(now))
    return best


def test_serve_with_two_workers_dials_one_campaign_past_four_calls(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    procs = Procs(tmp_path, env)
    try:
        (port_a, log_a), (port_b, log_b) = callees(procs, "callees-a"), callees(procs, "callees-b")
        # both callee processes are up and answer OPTIONS before Kamailio marks them usable
        trunk = kamailio(procs, [port_a, port_b])
        env.update(
            VOICEBOT_CAMPAIGN__TRUNK=f"sip:{{number}}@{HOST}:{trunk}",
            VOICEBOT_CAMPAIGN__RING_SECONDS="3",
            VOICEBOT_CAMPAIGN__DATABASE="c.db",
            VOICEBOT_DATABASE__URL="sqlite:///records.db",
            VOICEBOT_HTTP__PORT="0",
            VOICEBOT_SIP__RTP_PORT=str(random.randrange(20000, 38000, 2)),
        )
        (tmp_path / "pool.csv").write_text(contacts_csv(NUMBERS, open_zone()))
        cli = [sys.executable, "-m", "voicebot", "campaign"]
        create = [*cli, "create", "--flow", str(FLOW), "--contacts", "pool.csv", "--db", "c.db",
                  "--cps", "4", "--max-concurrent", "6", "--max-attempts", "1"]  # fmt: skip
        for args in (create, [*cli, "start", "pool", "--db", "c.db"]):
            done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        sip = free_udp_port()
        serve = procs.start("serve", [
            sys.executable, "-m", "voicebot", "serve", "--flow", str(FLOW), "--workers", "2",
            "--port", str(sip),
        ])  # fmt: skip
        ledger = Ledger(tmp_path / "c.db")
        deadline = time.monotonic() + 150
        while ledger.campaign("pool").state != "finished":
            assert serve.poll() is None, procs.output("serve")
            assert time.monotonic() < deadline, procs.output("serve")
            time.sleep(0.5)
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(60)
        assert serve.returncode == 0, procs.output("serve")
    finally:
        procs.stop_all()
    logs = [read_log(log_a), read_log(log_b)]
    lines = sorted(logs[0] + logs[1], key=lambda x: x["t"])
    up = most_up(logs)
    print(f"calls up at most: {up}")
    assert 4 < up <= 6, (up, procs.output("serve"))
    assert all(any(x["event"] == "invite" for x in log) for log in logs)  # both took calls
    evidence = check(lines, ledger, "pool")
    assert evidence.problems == [], evidence
    assert evidence.dispositions == {"confirmed": 12}, evidence
    invites = [x["number"] for x in lines if x["event"] == "invite"]
    assert sorted(invites) == sorted(f"+1212555{n}" for n in NUMBERS)  # each exactly once
    attempts = ledger.attempts(ledger.campaign("pool"))
    assert len(attempts) == 12 and {a["outcome"] for a in attempts} == {"answered"}
    with sqlite3.connect(tmp_path / "records.db") as db:
        rows = db.execute("SELECT id, direction, worker, outcome FROM calls").fetchall()
    by_call = {
        call_id: (direction, worker, outcome) for call_id, direction, worker, outcome in rows
    }
    records = [by_call[a["call_id"]] for a in attempts]
    assert {(direction, outcome) for direction, _, outcome in records} == {
        ("outbound", "completed")
    }
    assert {worker for _, worker, _ in records} == {"w1", "w2"}
