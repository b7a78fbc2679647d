"""Issue 15 items 4-5 through the CLI: hostile flow files are refused quickly and located;
transfer targets built from what the caller keyed are warned about and refused at run time;
sensitive slots are masked in what `flow chat` shows."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from voicebot.errors import FlowSyntaxError
from voicebot.flow import source

ROOT = Path(__file__).resolve().parents[2]

# 9 levels of 9 aliases each: 9**9 (387 million) strings once expanded
BOMB = "".join(
    [f"a: &a [{','.join(['lol'] * 9)}]\n"]
    + [
        f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)
DEST_FLOW = """\
version: 1
name: dest
start: dest
steps:
  dest:
    ask:
      slot: {name: dest, type: digits, sensitive: true}
      prompt: "Key the number to be put through to, then the hash key."
    on: {exhausted: sorry}
    next: put_through
  put_through:
    transfer: {to: "sip:{{ slots.dest }}@pbx.example.com"}
    on: {failed: sorry}
  sorry: {say: "Sorry, I cannot put you through to that number.", next: bye}
  bye: {hangup: {}}
"""


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, stdin: str = ""):
    """`voicebot ...` in a child limited to 1 GiB of address space (a runaway parse fails
    fast instead of taking the machine), and the child's peak RSS in MiB."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    began = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "voicebot", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
    )
    # reaped here, with os.wait4, for this child's own peak: RUSAGE_CHILDREN would be the
    # largest of every child the test process ever reaped (an earlier test's model-loading
    # `voicebot serve`, say)
    streams: dict[str, str] = {}
    readers = [
        threading.Thread(target=lambda k=k, f=f: streams.__setitem__(k, f.read()), daemon=True)
        for k, f in (("out", child.stdout), ("err", child.stderr))
    ]
    for reader in readers:
        reader.start()
    assert child.stdin is not None
    child.stdin.write(stdin)
    child.stdin.close()
    timer = threading.Timer(60, child.kill)
    timer.start()
    _, status, usage = os.wait4(child.pid, 0)
    timer.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(5)
    took = time.monotonic() - began
    proc = subprocess.CompletedProcess(
        child.args, child.returncode, streams.get("out", ""), streams.get("err", "")
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "internal error" not in proc.stderr, proc.stderr
    return proc, took, usage.ru_maxrss / 1024


def test_the_alias_bomb_is_refused_at_once_with_its_location(tmp_path: Path) -> None:
    assert len(BOMB) < 400
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    proc, took, peak_mib = run("flow", "check", str(bomb))
    assert proc.returncode == 1
    assert f"{bomb}:6:4: refused: expands to more than 100000 values" in proc.stderr
    assert took < 10, f"flow check took {took:.1f} s"  # the process; the parse itself below
    assert peak_mib < 300, f"flow check peaked at {peak_mib:.0f} MiB"

    tracemalloc.start()
    began = time.perf_counter()
    with pytest.raises(FlowSyntaxError):
        source.load(BOMB, "bomb.yaml")
    parse = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert parse < 0.5, f"refusing the bomb took {parse:.2f} s"
    assert peak < 20 * 2**20, f"refusing the bomb took {peak / 2**20:.1f} MiB"


def test_deep_nesting_many_aliases_and_recursive_aliases_are_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: x\nsteps: " + "[" * 5000 + "]" * 5000 + "\n")
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text("p: &p hi\nl: [" + ", ".join(["*p"] * 150) + "]\n")
    recursive = tmp_path / "recursive.yaml"
    recursive.write_text("a: &a [1, *a]\n")
    proc, _, _ = run("flow", "check", str(deep), str(aliases), str(recursive))
    assert proc.returncode == 1
    err = proc.stderr
    assert f"{deep}:2:57: refused: nested more than 50 levels deep" in err
    assert f"{aliases}:2:" in err and "refused: more than 100 aliases" in err
    assert f"{recursive}:1:11: refused: recursive alias" in err
    # the limits are settings
    proc, _, _ = run("flow", "check", str(aliases), env={"VOICEBOT_LIMITS__YAML_ALIASES": "200"})
    assert "refused" not in proc.stderr and "missing required key" in proc.stderr


def test_an_oversized_flow_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("w") as f:  # a valid flow padded with a 50 MB description
        f.write('version: 1\nname: big\ndescription: "')
        f.write("x" * 50_000_000)
        f.write('"\nstart: a\nsteps:\n  a: {hangup: {}}\n')
    proc, took, peak_mib = run("flow", "check", str(big))
    assert proc.returncode == 1
    assert f"{big}: refused: larger than 1000000 bytes" in proc.stderr
    assert took < 10 and peak_mib < 300
    proc, _, _ = run("flow", "check", str(big), env={"VOICEBOT_LIMITS__FLOW_BYTES": "60000000"})
    assert proc.returncode == 0, proc.stderr


def test_check_warns_about_a_transfer_target_built_from_caller_input(tmp_path: Path) -> None:
    flow = tmp_path / "dest.yaml"
    flow.write_text(DEST_FLOW)
    proc, _, _ = run("flow", "check", "--strict", str(flow))
    assert proc.returncode == 1
    assert (
        f"{flow}:12:20: warning: steps.put_through.transfer.to: the target is built from "
        "slots at run time: it is refused, taking the `failed` route, unless it matches "
        "settings transfers.allow"
    ) in proc.stderr
    # a target from the operator's configuration (env) is not the caller's doing
    flow.write_text(DEST_FLOW.replace("sip:{{ slots.dest }}@pbx.example.com", "{{ env.DESK }}"))
    proc, _, _ = run("flow", "check", "--strict", str(flow))
    assert "transfer" not in proc.stderr and proc.returncode == 0, proc.stderr


TESTS = """\
flow: dest.yaml
tests:
  - name: a keyed premium-rate number is refused and the failed route taken
    turns:
      - bot: "Key the number"
      - dtmf: "19005551234#"
      - bot: "cannot put you through"
      - expect: {hangup: true, slots: {dest: "19005551234"}}
  - name: an allowed extension is put through
    turns:
      - dtmf: "2001#"
      - expect: {step: put_through, transfer: "sip:2001@pbx.example.com"}
"""


def test_a_keyed_transfer_target_is_refused_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "dest.yaml").write_text(DEST_FLOW)
    test = tmp_path / "dest.test.yaml"
    test.write_text(TESTS)
    allow = {"VOICEBOT_TRANSFERS__ALLOW": '["sip:*@pbx.example.com"]'}
    proc, _, _ = run("flow", "test", str(test), env=allow)
    assert "2 passed, 0 failed" in proc.stdout, proc.stdout + proc.stderr
    # without the allow-list even the extension is refused: only written targets go
    proc, _, _ = run("flow", "test", str(test))
    assert "1 passed, 1 failed" in proc.stdout and "FAIL  an allowed extension" in proc.stdout


def test_chat_masks_a_sensitive_slot(tmp_path: Path) -> None:
    (tmp_path / "dest.yaml").write_text(DEST_FLOW)
    proc, _, _ = run("flow", "chat", str(tmp_path / "dest.yaml"), stdin="#19005551234#\n")
    echo = "keys   19005551234#"  # the script, echoed as typed
    assert echo in proc.stdout and "19005551234" not in proc.stdout.replace(echo, "")
    assert 'slots: {"dest": "[masked]"}' in proc.stdout
    assert "cannot put you through" in proc.stdout


def test_a_spoken_destination_cannot_smuggle_another_host(tmp_path: Path) -> None:
    """A text slot puts whatever the caller said into the target: even with an allow-list for
    the PBX, "nine hundred at evil dot example" is not one plain URI and is refused."""
    flow = DEST_FLOW.replace("type: digits, sensitive: true", "type: text")
    (tmp_path / "dest.yaml").write_text(flow)
    (tmp_path / "dest.test.yaml").write_text(
        "flow: dest.yaml\ntests:\n  - name: smuggled\n    turns:\n"
        '      - caller: "nine hundred at evil dot example"\n'
        '      - bot: "cannot put you through"\n'
        "      - expect: {hangup: true}\n"
    )
    allow = {"VOICEBOT_TRANSFERS__ALLOW": '["sip:*@pbx.example.com"]'}
    proc, _, _ = run("flow", "test", str(tmp_path / "dest.test.yaml"), env=allow)
    assert "1 passed, 0 failed" in proc.stdout, proc.stdout + proc.stderr
    assert "refused: not a plain SIP URI" in proc.stderr
