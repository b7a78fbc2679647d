"""Campaigns over real SIP: `voicebot campaign run` dials the simulated callees on loopback.

The callees (`python -m voicebot.testing.callees`, one process) answer by the dialed number's
hundreds digit: human, machine with greeting and beep, 486 busy, never answering, 503 then
human, 404, human saying "stop calling me". Everything they received is in their own JSON-lines
log, which `voicebot.testing.callee_log.check` compares with the ledger: calls up, INVITEs per
second, calling windows, dispositions, attempts against policy, 503s, the do-not-call list.
Every process is bounded by a timeout and killed in a finalizer; ports are chosen at run time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from voicebot.campaign.ledger import Ledger
from voicebot.testing.callee_log import check
from voicebot.testing.callees import idle, last, read_log

pytestmark = [pytest.mark.sip, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "dialog_flows" / "appointment_reminder.yaml"
ZONES = (
    "Pacific/Kiritimati", "Pacific/Auckland", "Australia/Sydney", "Asia/Tokyo", "Asia/Shanghai",
    "Asia/Bangkok", "Asia/Kolkata", "Asia/Dubai", "Europe/Moscow", "Europe/Berlin",
    "Europe/London", "Atlantic/Azores", "America/Sao_Paulo", "America/New_York",
    "America/Chicago", "America/Denver", "America/Los_Angeles", "Pacific/Honolulu",
)  # fmt: skip
# hundreds digit -> behaviour (voicebot.testing.callees); tens 5-9 humans confirm by voice
MIX = {
    "full": ["0101", "0102", "0151", "0152", "0201", "0202", "0203", "0301", "0302", "0303",
             "0401", "0402", "0403", "0501", "0502", "0601", "0602", "0701", "0702", "0703"],
    "crash": ["0111", "0112", "0161", "0211", "0212", "0311", "0312", "0411", "0412", "0511",
              "0611", "0711"],
}  # fmt: skip
OPTIONS = ("--cps", "2", "--max-concurrent", "4", "--max-attempts", "2", "--daily-cap", "3",
           "--retry", "busy=0.05", "--retry", "no_answer=0.05", "--retry", "failed=0.05",
           "--retry", "unknown=0.05")  # fmt: skip


def open_zone(hours: tuple[int, int] = (9, 19)) -> str:
    """A time zone where it is now between `hours` (the 08:00-21:00 window stays open)."""
    now = datetime.now(UTC)
    for name in ZONES:
        if hours[0] <= now.astimezone(ZoneInfo(name)).hour < hours[1]:
            return name
    raise AssertionError(f"no zone of {ZONES} is between {hours} at {now}")


def contacts_csv(numbers: list[str], zone: str) -> str:
    rows = ["phone,name,clinic,appointment,time,timezone"]
    rows += [f"+1212555{n},Pat {n},Elm Clinic,2026-12-01,2:30 PM,{zone}" for n in numbers]
    return "\n".join(rows) + "\n"


@dataclass
class Site:
    """A test's directory, its callees process and the environment the CLI runs with."""

    tmp: Path
    env: dict[str, str]
    log: Path
    port: int = 0

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "voicebot", "campaign", *args, "--db", "c.db"],
            cwd=self.tmp,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def create(self, name: str, numbers: list[str], *options: str) -> None:
        (self.tmp / f"{name}.csv").write_text(contacts_csv(numbers, open_zone()))
        r = self.cli("create", "--flow", str(FLOW), "--contacts", f"{name}.csv", *OPTIONS,
                     *options)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert self.cli("start", name).returncode == 0

    def dial(self, name: str) -> subprocess.Popen[str]:
        out = (self.tmp / f"run-{name}.log").open("a")
        return subprocess.Popen(
            [sys.executable, "-m", "voicebot", "campaign", "run", name, "--db", "c.db"],
            cwd=self.tmp,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def lines(self) -> list[dict]:
        return read_log(self.log)

    def run_output(self, name: str) -> str:
        return (self.tmp / f"run-{name}.log").read_text()[-3000:]


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    log = tmp_path / "callees.jsonl"
    callees = subprocess.Popen(
        [sys.executable, "-m", "voicebot.testing.callees", "--port", "0", "--log", str(log),
         "--max-ring", "6", "--quiet-timeout", "12", "--max-call", "60"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "callees.err").open("w"), start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and log.read_text().strip()):
            assert callees.poll() is None, (tmp_path / "callees.err").read_text()
            assert time.monotonic() < deadline, "callees did not start within 30 s"
            time.sleep(0.1)
        port = json.loads(log.read_text().splitlines()[0])["port"]
        env.update(
            VOICEBOT_CAMPAIGN__TRUNK=f"sip:{{number}}@127.0.0.1:{port}",
            VOICEBOT_CAMPAIGN__RING_SECONDS="3",
            VOICEBOT_CAMPAIGN__CONGESTION_PAUSE_SECONDS="1",
            VOICEBOT_SIP__RTP_PORT=str(random.randrange(20000, 40000, 2)),
        )
        yield Site(tmp_path, env, log, port)
    finally:
        _stop(callees)


def finish(site: Site, name: str, proc: subprocess.Popen, timeout: float) -> None:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _stop(proc, signal.SIGKILL)
        raise AssertionError(
            f"campaign run not done in {timeout} s:\n{site.run_output(name)}"
        ) from None
    assert proc.returncode == 0, site.run_output(name)


def test_campaign_dispositions_pacing_and_dnc_over_sip(site: Site) -> None:
    """20 contacts, every behaviour: dispositions, <= 4 calls up, <= 2 INVITEs a second,
    windows, retries of busy/no answer up to 2 attempts, a 503 not counted, an invalid number
    dialed once, opt-outs on the do-not-call list, all from the callees' own log."""
    site.create("full", MIX["full"])
    proc = site.dial("full")
    try:
        finish(site, "full", proc, 240)
    finally:
        _stop(proc, signal.SIGKILL)
    ledger = Ledger(site.tmp / "c.db")
    evidence = check(site.lines(), ledger, "full")
    assert evidence.problems == [], evidence
    assert evidence.max_up <= 4 and evidence.overflow == 0
    assert evidence.max_per_second <= 2 and evidence.min_gap and evidence.min_gap >= 0.4
    assert evidence.dispositions == {
        "confirmed": 6, "machine_message": 3, "max_attempts": 6, "invalid": 2, "opt_out": 3,
    }  # fmt: skip
    assert evidence.uncounted_503 == 2
    exported = json.loads(site.cli("export", "full", "--format", "json").stdout)
    by_phone = {c["phone"]: c for c in exported["contacts"]}
    assert by_phone["+12125550301"]["attempts"] == 2
    assert by_phone["+12125550301"]["last_outcome"] == "busy"
    assert by_phone["+12125550401"]["last_outcome"] == "no_answer"
    assert by_phone["+12125550501"]["attempts"] == 1  # the 503 did not count
    assert by_phone["+12125550601"]["attempts"] == 1
    invites = [x["number"] for x in site.lines() if x["event"] == "invite"]
    assert invites.count("+12125550601") == 1 and invites.count("+12125550501") == 2
    listed = site.cli("dnc", "list").stdout
    for n in ("0701", "0702", "0703"):
        assert f"+1212555{n}" in listed
    machines = [x for x in site.lines() if x.get("behaviour") == "machine" and "did" in x]
    assert len(machines) == 3
    for m in machines:  # the bot waited for the beep, then left its message
        assert m["bot_speech_before_beep"] == 0 and m["bot_speech_after_beep"] > 3, m


def test_dialer_killed_mid_campaign_loses_nothing(site: Site) -> None:
    """kill -9 the dialer with calls up, restart it: every contact ends as planned, the lost
    attempts are `unknown` (counted, retried after their backoff), and no number got more
    INVITEs than the ledger counts or than max_attempts allows."""
    site.create("crash", MIX["crash"])
    proc = site.dial("crash")
    try:
        deadline = time.monotonic() + 120
        while True:  # kill once calls are up and at least one answered call is mid-flow
            lines = site.lines()
            invites = [x for x in lines if x["event"] == "invite"]
            talking = [x for x in invites if x["behaviour"] in ("human", "machine")]
            mid_flow = talking and time.time() - talking[0]["t"] > 5
            if len(invites) >= 4 and last(lines, "up") >= 2 and mid_flow:
                break
            assert proc.poll() is None, site.run_output("crash")
            assert time.monotonic() < deadline, "no calls up within 120 s"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        _stop(proc, signal.SIGKILL)
    killed_at = time.time()
    # the callees notice the dead dialer (silence, endless ringing) and hang up as a trunk
    # would; their pjsua2 keeps each slot until the BYE to the dead dialer times out (32 s)
    deadline = time.monotonic() + 60
    while not idle(site.log):
        assert time.monotonic() < deadline, "callees still busy 60 s after the kill"
        time.sleep(0.2)
    ledger = Ledger(site.tmp / "c.db")
    in_flight = ledger.in_flight(ledger.campaign("crash"))
    assert in_flight >= 1  # attempts the crash left without an outcome
    proc = site.dial("crash")
    try:
        finish(site, "crash", proc, 240)
    finally:
        _stop(proc, signal.SIGKILL)
    evidence = check(site.lines(), ledger, "crash")
    assert evidence.problems == [], evidence
    assert evidence.unknown_attempts == in_flight
    run_log = (site.tmp / "run-crash.log").read_text()
    assert f"{in_flight} attempt(s) reconciled as unknown" in run_log
    tried: dict[int, list] = {}
    for a in ledger.attempts(ledger.campaign("crash")):
        tried.setdefault(a["contact_id"], []).append(a)
    for attempts in tried.values():  # a lost attempt counts and waits for its 3 s backoff
        for lost, nxt in zip(attempts, attempts[1:], strict=False):
            if lost["outcome"] == "unknown":
                assert lost["counts"] == 1
                wait = datetime.fromisoformat(nxt["started_at"]) - datetime.fromisoformat(
                    lost["ended_at"]
                )
                assert wait.total_seconds() >= 2.9, (dict(lost), dict(nxt))
    after = [x for x in site.lines() if x["event"] == "invite" and x["t"] > killed_at]
    assert after, "the restarted dialer placed no call"
    assert ledger.campaign("crash").state == "finished"


def test_opt_out_is_listed_during_the_call_and_survives_a_crash(site: Site) -> None:
    """'stop calling me' puts the number on the do-not-call list while the call still runs;
    the dialer killed right then does not dial it again after its restart (`dnc`)."""
    number = "+12125550721"
    site.create("optout", ["0721"])
    ledger = Ledger(site.tmp / "c.db")
    proc = site.dial("optout")
    try:
        deadline = time.monotonic() + 90
        while number not in {e.number for e in ledger.dnc.entries()}:
            assert proc.poll() is None, site.run_output("optout")
            assert time.monotonic() < deadline, "not on the do-not-call list within 90 s"
            time.sleep(0.05)
        ended = [x for x in site.lines() if x["event"] == "hangup"]
        assert ended == [], "listed only once the call had ended"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        _stop(proc, signal.SIGKILL)
    assert [x["event"] for x in site.lines() if x.get("number") == number] == [
        "invite", "answer_menu",
    ]  # fmt: skip
    proc = site.dial("optout")
    try:
        finish(site, "optout", proc, 120)
    finally:
        _stop(proc, signal.SIGKILL)
    invites = [x for x in site.lines() if x["event"] == "invite"]
    assert len(invites) == 1
    (row,) = json.loads(site.cli("export", "optout", "--format", "json").stdout)["contacts"]
    assert (row["disposition"], row["attempts"], row["last_outcome"]) == ("dnc", 1, "unknown")


def test_malformed_rows_are_reported_at_create(site: Site) -> None:
    """The real CLI reports each bad row with its line and reason, and imports the rest."""
    zone = open_zone()
    text = contacts_csv(["0101", "0201"], zone)
    text += f"12,Bob,Elm Clinic,2026-12-01,2:30 PM,{zone}\n"
    text += f"+12125550101,Dup,Elm Clinic,2026-12-01,2:30 PM,{zone}\n"
    text += "+12125550301,Cy,Elm Clinic,2026-12-01,2:30 PM,Mars/Olympus\n"
    text += "+12125550401,Di,Elm Clinic\n"
    (site.tmp / "bad.csv").write_text(text)
    r = site.cli("create", "--flow", str(FLOW), "--contacts", "bad.csv", *OPTIONS)
    assert r.returncode == 0, r.stderr
    errors = r.stderr.splitlines()
    assert [e.split(":")[:2] for e in errors] == [
        ["bad.csv", "4"], ["bad.csv", "5"], ["bad.csv", "6"], ["bad.csv", "7"],
    ]  # fmt: skip
    assert "invalid phone number '12'" in errors[0] and "duplicate" in errors[1]
    assert "2 contact(s)" in r.stdout and "4 row(s) rejected of 6" in r.stdout


def test_the_dialer_checks_each_number_again_before_dialing(site: Site) -> None:
    """Issue 15: numbers imported before the outbound policy narrowed (`outbound.allow` set to
    +44 after `create`) are not dialed: the callees see no INVITE, each contact ends `invalid`
    after one attempt, and the dialer says why."""
    site.create("later", ["0101", "0102"])
    site.env["VOICEBOT_OUTBOUND__ALLOW"] = '["+44"]'
    proc = site.dial("later")
    try:
        finish(site, "later", proc, 120)
    finally:
        _stop(proc, signal.SIGKILL)
    assert [x for x in site.lines() if x["event"] == "invite"] == []
    exported = json.loads(site.cli("export", "later", "--format", "json").stdout)
    assert [(c["phone"], c["disposition"], c["attempts"]) for c in exported["contacts"]] == [
        ("+12125550101", "invalid", 1),
        ("+12125550102", "invalid", 1),
    ]
    output = site.run_output("later")
    assert "not dialed: +12125550101 is outside outbound.allow (+44)" in output, output
