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
