"""`voicebot serve` under attack on loopback (issue 15): no datagram crashes a worker, no slot
is held by a missing ACK, a caller's REFER is refused, and sipvicious' scans find nothing.

One `voicebot serve --workers 2` whose `allow_from` is 127.0.0.2 only: traffic from 127.0.0.1
comes from "outside" the allow-list, traffic from 127.0.0.2 from "inside". A worker that
aborted would be restarted by the supervisor ("worker w1 exited with -6", a second
"answering at" line): every test checks that neither happened and both still answer.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_serve_telephony import Serve, free_ports

from voicebot.testing import sip_datagrams as dg
from voicebot.testing.sip_probe import options_ok

pytestmark = [pytest.mark.sip, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
OUTSIDE, INSIDE = "127.0.0.1", "127.0.0.2"
ACK_TIMEOUT = 2.0

FLOW = """\
version: 1
name: guarded
defaults:
  input: {modes: [dtmf], timeout: 20s}
start: menu
steps:
  menu:
    menu:
      prompt: Press one for the news.
      options:
        news: {dtmf: "1", goto: bye}
  bye: {say: "Goodbye.", next: end}
  end: {hangup: {}}
"""


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("attacks")


@pytest.fixture(scope="module")
def guarded(tmp: Path) -> Iterator[Serve]:
    yield from serving(tmp, {"VOICEBOT_SIP__ALLOW_FROM": f'["{INSIDE}"]'})


def serving(tmp: Path, settings: dict[str, str]) -> Iterator[Serve]:
    """`voicebot serve --workers 2` on the test flow until the module is done; it must then
    drain and exit 0 without a traceback."""
    flow = tmp / "guarded.yaml"
    flow.write_text(FLOW)
    settings = {"VOICEBOT_SIP__TRANSACTION_TIMEOUT": str(ACK_TIMEOUT), **settings}
    s = Serve(tmp, flow, free_ports(2), {}, settings)
    try:
        for worker in (1, 2):
            s.wait_line(rf"voicebot w{worker} answering at sip:\S+:{s.port + worker - 1}")
        yield s
    finally:
        s.stop()
    output, _ = s.output()
    assert s.proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output


def assert_unharmed(serve: Serve) -> None:
    """Both workers still answer OPTIONS, and neither was ever restarted."""
    for worker in (0, 1):
        up = options_ok(HOST, serve.port + worker, timeout=2.0)
        assert up, f"worker {worker + 1} is down"
    output, _ = serve.output()
    assert "exited with" not in output and "Assertion" not in output, output[-3000:]
    for worker in (1, 2):
        assert len(re.findall(rf"voicebot w{worker} answering at", output)) == 1, output[-3000:]


def sipp_call(port: int, source: str, tmp: Path, name: str, timeout: float = 30) -> str:
    """One ordinary call by sipp's built-in UAC (INVITE, ACK, 1 s, BYE); its output."""
    sipp = shutil.which("sipp")
    assert sipp, "sipp is missing: `make setup` installs it (Debian sip-tester)"
    args = [sipp, "-sn", "uac", "-i", source, "-p", str(free_ports(1)), "-m", "1", "-d", "1000"]
    args += ["-mp", str(free_ports(1)), "-nostdin", "-timeout", f"{timeout}s", "-timeout_error"]
    args += ["-trace_err", "-error_file", str(tmp / f"{name}_errors.log")]
    args += [f"{HOST}:{port}"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 10)
    assert done.returncode == 0, f"sipp call failed ({done.returncode}):\n{done.stdout[-2000:]}"
    return done.stdout


def test_outsiders_invites_without_sdp_or_oversized_are_refused_and_nothing_crashes(
    guarded: Serve,
) -> None:
    """Found 1: an outsider's INVITE with no SDP, or over ~4-6 kB, aborted the worker
    (`pjsip_rx_data_free_cloned: Assertion 'rdata' failed`): the 403 was sent inside pjsua2's
    incoming-call callback."""
    for worker in (0, 1):
        port = guarded.port + worker
        cases = {
            "no SDP": dg.invite(HOST, port, OUTSIDE, 0, sdp=False),
            "10 kB header": dg.invite(HOST, port, OUTSIDE, 0, extra=f"X-Big: {'a' * 10_000}\r\n"),
            "2000 headers": dg.invite(
                HOST, port, OUTSIDE, 0, extra="".join(f"X-H{i}: {i}\r\n" for i in range(2000))
            ),
        }
        for name, message in cases.items():
            answers = dg.send(message, port, (OUTSIDE, 0), wait=0.5)
            assert all(not a.startswith("SIP/2.0 2") for a in answers), (name, answers)
            if name == "no SDP":
                assert "SIP/2.0 403 Forbidden" in answers, (name, answers)
        # 64 kB datagrams, garbage and an INVITE padded to the limit, from outside and inside
        for source in (OUTSIDE, INSIDE):
            dg.send(b"\xff" * 65_000, port, (source, 0), wait=0.1)
            padded = dg.invite(HOST, port, source, 0, extra=f"X-Pad: {'p' * 64_000}\r\n")
            dg.send(padded, port, (source, 0), wait=0.3)
    time.sleep(0.5)
    assert_unharmed(guarded)


def test_the_torture_set_from_inside_and_outside_crashes_nothing(guarded: Serve) -> None:
    """RFC 4475's kinds of message (valid but tortuous, and invalid), to both workers, from an
    allowed and a refused address; then an ordinary call is still answered."""
    for worker in (0, 1):
        port = guarded.port + worker
        for source in (OUTSIDE, INSIDE):
            for name, message in dg.torture(HOST, port).items():
                answers = dg.send(message, port, (source, 0), wait=0.15)
                if source == OUTSIDE:  # an outsider's INVITE is never answered with a call
                    assert all(
                        not a.startswith("SIP/2.0 2") for a in answers
                    ) or not name.startswith(("wsinv", "longreq", "dblreq")), (name, answers)
    time.sleep(2)  # answered INVITEs that nobody ACKs end after ACK_TIMEOUT
    assert_unharmed(guarded)


def test_unacked_invites_release_their_slots_within_the_ack_timeout(
    guarded: Serve, tmp: Path
) -> None:
    """Found 3: four INVITEs from an allowed address that are never ACKed held every slot of
    the worker for 64.7 s (every call 486). Now each ends ACK_TIMEOUT after its 200 OK."""
    port = guarded.port
    burst = dg.Burst(INSIDE)
    try:
        for _ in range(4):
            burst.invite(port)
        answers = burst.answers(1.5)
        assert answers.count("SIP/2.0 200 OK") >= 4, answers
        started = time.monotonic()
        # the fifth caller is busy while the slots are held ...
        assert "SIP/2.0 486 Busy Here" in dg.send(
            dg.invite(HOST, port, INSIDE, 0), port, (INSIDE, 0)
        )
        # ... and answered once the ACK timeout has ended them
        time.sleep(max(0.0, ACK_TIMEOUT + 1.0 - (time.monotonic() - started)))
        sipp_call(port, INSIDE, tmp, "after_burst")
    finally:
        burst.close()
    assert_unharmed(guarded)


def test_outsiders_unacked_invites_hold_no_slot(guarded: Serve, tmp: Path) -> None:
    """Four refused INVITEs whose 403 is never ACKed: a caller from inside is answered at once."""
    port = guarded.port + 1
    burst = dg.Burst(OUTSIDE)
    try:
        for _ in range(4):
            burst.invite(port)
        assert burst.answers(0.5).count("SIP/2.0 403 Forbidden") >= 4
        sipp_call(port, INSIDE, tmp, "after_refusals")
    finally:
        burst.close()
    assert_unharmed(guarded)


def test_a_callers_refer_is_refused_and_nothing_is_dialed(guarded: Serve, tmp: Path) -> None:
    """Found 2: an in-dialog REFER from the caller was obeyed (202, then the bot INVITEd the
    Refer-To: a premium number, with no flow and no time limit). Now: 403, and the target
    never hears from the bot."""
    listener = dg.Burst(HOST)  # stands for the number the caller wants us to dial
    target = f"sip:+19005551234@{HOST}:{listener.port}"
    sipp = shutil.which("sipp")
    assert sipp
    args = [sipp, "-sf", str(ROOT / "tests/data/kamailio/caller_refers.xml"), "-i", INSIDE]
    args += ["-p", str(free_ports(1)), "-m", "1", "-mp", str(free_ports(1)), "-nostdin"]
    args += ["-key", "target", target, "-timeout", "30s", "-timeout_error"]
    args += [f"{HOST}:{guarded.port}"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=40)
        assert done.returncode == 0, done.stdout[-2000:]
        assert listener.answers(1.0) == []  # not one datagram reached the REFER's target
    finally:
        listener.close()
    output, _ = guarded.output()
    assert "refusing REFER to <sip:+19005551234@" in output, output[-3000:]
    assert_unharmed(guarded)


def _run(args: list[str], timeout: float = 120) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    out = done.stdout + done.stderr
    assert "Traceback" not in out, out[-3000:]
    return out


@pytest.fixture(scope="module")
def open_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """A second `voicebot serve` whose allow_from admits all of loopback (the default): the
    "inside" for sipvicious, which sends from 127.0.0.1 whatever `-b` says."""
    yield from serving(tmp_path_factory.mktemp("open"), {})


@pytest.mark.parametrize("side", ["outside", "inside"])
def test_sipvicious_scans_find_nothing_and_crash_nothing(
    request: pytest.FixtureRequest, side: str
) -> None:
    """svmap, svwar (INVITE, REGISTER, OPTIONS) and svcrack from outside allow_from (against
    the guarded server) and from inside it (against one that admits loopback): no extension
    is enumerated, no password cracked, no worker dies."""
    serve: Serve = request.getfixturevalue("guarded" if side == "outside" else "open_serve")
    for tool in ("svmap", "svwar", "svcrack"):
        assert shutil.which(tool), f"{tool} is missing: `make setup` installs sipvicious"
    svmap = _run(["svmap", "-p", f"{serve.port}-{serve.port + 1}", HOST])
    # it finds a SIP device (it answers OPTIONS), which tells no version
    assert re.search(rf"{HOST}:{serve.port}\s*\|\s*voicebot\s*\|", svmap), svmap
    port = serve.port  # both workers run the same code; the torture test hits both
    for method in ("INVITE", "REGISTER", "OPTIONS"):
        out = _run(
            ["svwar", "-p", str(port), "-m", method, "-e", "100-105,1000", "-D", "--force",
             "--maximumtime", "5", HOST]
        )  # fmt: skip
        if side == "inside" and method == "INVITE":
            # an IVR answers every Request-URI alike: svwar's own probe of an extension that
            # cannot exist ("None") is answered as every other, so nothing tells one apart
            rows = re.findall(r"^\|\s*(\S+)\s*\|\s*(\S+)\s*\|$", out, re.M)[1:]
            assert ("None", "weird") in rows and {auth for _, auth in rows} == {"weird"}, out
        else:
            assert "found nothing" in out, f"svwar -m {method} {side}:\n{out}"
    cracked = _run(
        ["svcrack", "-p", str(port), "-u", "100", "-r", "1000-1050", "--maximumtime", "5", HOST]
    )
    assert "found nothing" in cracked, f"svcrack {side}:\n{cracked}"
    time.sleep(ACK_TIMEOUT + 0.5)
    assert_unharmed(serve)
