"""Every `voicebot flow` command end to end, through a subprocess, as a designer runs it."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from voicebot.cli import main

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "dialog_flows"


def run(*args: str, stdin: str = "", cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicebot", *args],
        input=stdin,
        text=True,
        capture_output=True,
        cwd=cwd,
        timeout=120,
    )


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "internal error" not in proc.stderr


def test_check_accepts_the_shipped_flows():
    """The flows and their knowledge files (*.faq.yaml): `flow check` takes both."""
    flows = sorted(str(p) for p in FLOWS.glob("*.yaml") if not p.name.endswith(".test.yaml"))
    proc = run("flow", "check", "--strict", *flows)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(": ok (0 error(s), 0 warning(s))") == len(flows)
    assert proc.stdout.count("; knowledge file, ") == 2


def test_check_reports_located_errors_and_exits_1(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nname: t\nstart: a\nsteps:\n  a: {say: hi, next: bb}\n  b: {hangup: {}}\n"
    )
    proc = run("flow", "check", str(bad))
    no_traceback(proc)
    assert proc.returncode == 1
    assert f"{bad}:5:22: steps.a.next: unknown step 'bb' (did you mean 'b'?)" in proc.stderr


@pytest.mark.parametrize(
    "content",
    [
        "",  # empty
        "just text\n",  # not a mapping
        "a: [1, 2\n",  # unclosed
        "version: 1\nname: t\n\tstart: a\n",  # tab
        "version: 2\nname: t\nstart: a\nsteps: {a: {hangup: {}}}\n",
        "version: 1\nname: t\nstart: a\nsteps: []\n",
        "- a\n- b\n",
    ],
)
def test_broken_files_give_messages_not_tracebacks(tmp_path, content):
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    for command in (["flow", "check"], ["flow", "graph"], ["flow", "chat"]):
        proc = run(*command, str(bad))
        no_traceback(proc)
        assert proc.returncode == 1
        assert str(bad) in proc.stderr


def test_missing_and_binary_files(tmp_path):
    proc = run("flow", "check", str(tmp_path / "nope.yaml"))
    no_traceback(proc)
    assert proc.returncode == 1 and "file not found" in proc.stderr
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    proc = run("flow", "check", str(binary))
    no_traceback(proc)
    assert proc.returncode == 1 and "not UTF-8" in proc.stderr


def test_mutated_flows_never_crash_the_commands(tmp_path, capsys):
    """Delete, duplicate or garble lines of the real flow: only located messages come out."""
    lines = (FLOWS / "support_line.yaml").read_text().splitlines()
    for name in ("billing.yaml", "support_line.faq.yaml"):
        (tmp_path / name).write_text((FLOWS / name).read_text())
    rng = random.Random(7)
    for i in range(60):
        mutated = list(lines)
        k = rng.randrange(len(mutated))
        op = i % 4
        if op == 0:
            del mutated[k]
        elif op == 1:
            mutated.insert(k, mutated[k])
        elif op == 2:
            mutated[k] = mutated[k].replace(":", "", 1)
        else:
            mutated[k] = mutated[k][: rng.randrange(len(mutated[k]) + 1)]
        path = tmp_path / "support_line.yaml"
        path.write_text("\n".join(mutated) + "\n")
        for command in (["flow", "check", str(path)], ["flow", "graph", str(path)]):
            code = main(command)
            err = capsys.readouterr().err
            assert code in (0, 1), (command, err)
            assert "internal error" not in err, (mutated[k], err)


def test_flow_test_passes_shipped_tests_with_coverage():
    proc = run("flow", "test", str(FLOWS))
    no_traceback(proc)
    assert proc.returncode == 0, proc.stdout
    assert "FAIL" not in proc.stdout
    assert "coverage support_line" in proc.stdout and "coverage billing" in proc.stdout
    for flow in ("zh_support_line", "zh_parcel_delivery", "language_menu"):  # tests in Chinese
        assert f"coverage {flow} (" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].endswith("passed, 0 failed")


def test_flow_test_failure_is_located_and_exits_1(tmp_path):
    for name in ("support_line.yaml", "billing.yaml", "support_line.faq.yaml"):
        (tmp_path / name).write_text((FLOWS / name).read_text())
    test = tmp_path / "x.test.yaml"
    test.write_text(
        'flow: support_line.yaml\nclock: "2026-11-24T10:00:00-05:00"\ntests:\n'
        '  - name: wrong greeting\n    turns:\n      - bot: "Welcome to Globex"\n'
    )
    proc = run("flow", "test", str(test))
    no_traceback(proc)
    assert proc.returncode == 1
    assert "FAIL  wrong greeting" in proc.stdout
    assert f"{test}:6:9: expected the bot to say 'Welcome to Globex'" in proc.stdout
    assert "0 passed, 1 failed" in proc.stdout


def test_flow_test_with_a_broken_test_file(tmp_path):
    test = tmp_path / "x.test.yaml"
    test.write_text("flow: nowhere.yaml\ntests:\n  - name: a\n    turns: [{bot: hi, caller: x}]\n")
    proc = run("flow", "test", str(test))
    no_traceback(proc)
    assert proc.returncode == 1
    assert f"{test}:4:13: tests[0].turns[0]: a turn has exactly one of" in proc.stderr


def test_chat_reads_a_script_from_stdin():
    proc = run(
        "flow",
        "chat",
        str(FLOWS / "support_line.yaml"),
        "--clock",
        "2026-11-24T10:00:00-05:00",
        "--http-fixtures",
        str(FLOWS / "support_line.test.yaml"),
        stdin="balance\n#12345678\nno\n",
    )
    no_traceback(proc)
    assert proc.returncode == 0
    out = proc.stdout
    assert "bot    [welcome] Thanks for calling Acme support" in out
    assert "keys   12345678" in out
    assert "bot    [tell_balance] Ann, your balance is $42.17." in out
    assert "bot    [goodbye] Thank you for calling. Goodbye." in out
    assert '"account": "12345678"' in out and "call ended at step end" in out


def test_chat_empty_line_is_silence_and_outbound_options():
    proc = run(
        "flow",
        "chat",
        str(FLOWS / "appointment_reminder.yaml"),
        "--direction",
        "outbound",
        "--contact",
        "name=Maria",
        "--contact",
        "clinic=Acme Dental",
        "--contact",
        "appointment=2026-12-03",
        "--contact",
        "time=9 AM",
        "--clock",
        "2026-11-24T10:00:00-05:00",
        stdin="\n#1\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Hello Maria, this is Acme Dental" in proc.stdout
    assert "caller (silence)" in proc.stdout and "Sorry, I didn't hear anything." in proc.stdout
    assert "look forward to seeing you" in proc.stdout


def test_graph_mermaid_and_dot():
    proc = run("flow", "graph", str(FLOWS / "support_line.yaml"))
    assert proc.returncode == 0
    assert proc.stdout.startswith("flowchart TD")
    assert 's_lookup -->|"404"| s_not_found' in proc.stdout
    assert 's_anything_else -->|"when slots.more"| s_main_menu' in proc.stdout
    proc = run("flow", "graph", "--dot", str(FLOWS / "support_line.yaml"))
    assert proc.returncode == 0 and proc.stdout.startswith('digraph "support_line"')
    assert '"agent" -> "leave_message" [label="failed"];' in proc.stdout
    assert '"agent" -> "callback_offer" [label="no_answer"];' in proc.stdout


def test_schema_is_json_schema_for_the_flow_format():
    proc = run("flow", "schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert schema["title"] == "voicebot dialog flow"
    assert {"name", "start", "steps"} <= set(schema["required"])
    step = schema["$defs"]["Step"]["properties"]
    assert {"say", "ask", "menu", "return", "hangup", "next", "on"} <= set(step)


def test_serve_refuses_several_workers_on_port_zero():
    proc = run("serve", "--workers", "2", "--port", "0")
    no_traceback(proc)
    assert proc.returncode == 1 and "give a fixed --port" in proc.stderr
