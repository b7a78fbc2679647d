"""A call back offered and booked over real SIP on loopback, by the shipped support line.

`voicebot serve` runs dialog_flows/support_line.yaml (the real tiny.en model, espeak-ng,
pjsua2) with its agent queue (`env.AGENT_QUEUE`) at `voicebot.testing.agent_desk`, whose
`busy@` answers 486; call-backs are booked in a SQLite campaign database holding an empty
`callbacks` campaign made by `voicebot campaign create`. The caller is `voicebot call` from
+12125551234: it checks a balance by keys, asks for an agent by speech, hears the warm
transfer fail as busy and the call back offered, accepts with a key and says "tomorrow". The
contact is then read from the campaign database: the caller's number, the day chosen (the
flow's clock is fixed at a Tuesday 10:00 in New York) and the call's context.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from test_serve import OPEN, ROOT, _Accounts, bot_lines, heard, serve_http, start_bot, stop_bot
from test_warm_transfer import AgentDesk, finished
from test_warm_transfer import desk as desk  # the agent desk process, a fixture

pytestmark = [pytest.mark.sip, pytest.mark.slow]

FLOW = ROOT / "dialog_flows" / "support_line.yaml"
CALLER = "+12125551234"
NEW_YORK = timezone(timedelta(hours=-5))
CALL_BACK = """\
version: 1
name: call_back
start: hello
steps:
  hello: {say: "Acme support, calling you back as you asked.", next: agent}
  agent:
    transfer: {to: "sip:billing-queue@pbx.example.com", mode: warm}
    on: {failed: sorry}
  sorry: {say: "Sorry, we will try again later.", next: end}
  end: {hangup: {}}
"""


@pytest.fixture(scope="module")
def accounts() -> Iterator[str]:
    yield from serve_http(_Accounts)


def voicebot(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "voicebot", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def contacts(db: Path, campaign: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT contacts.* FROM contacts JOIN campaigns ON campaigns.id = campaign_id"
            " WHERE campaigns.name = ?",
            (campaign,),
        ).fetchall()
    return [dict(r) for r in rows]


def test_a_busy_agent_leads_to_a_call_back_booked_in_the_campaign(
    tmp_path: Path, desk: AgentDesk, accounts: str
) -> None:
    campaigns = tmp_path / "campaigns.db"
    header_only = tmp_path / "callbacks.csv"
    header_only.write_text("phone\n")
    outbound = tmp_path / "call_back.yaml"  # what the campaign's calls will run
    outbound.write_text(CALL_BACK)
    voicebot("campaign", "create", "--db", str(campaigns), "--name", "callbacks",
             "--flow", str(outbound), "--contacts", str(header_only))  # fmt: skip
    assert contacts(campaigns, "callbacks") == []

    bot = start_bot(
        tmp_path, "--flow", str(FLOW), "--port", "0", "--clock", OPEN,
        "--env", f"ACCOUNTS_API={accounts}", "--env", f"AGENT_QUEUE={desk.uri('busy')}",
        env={"VOICEBOT_CAMPAIGN__DATABASE": str(campaigns)},
    )  # fmt: skip
    try:
        out = voicebot(
            "call", bot.uri, "--from-user", CALLER,
            "--dtmf", "1", "--dtmf", "12345678",    # the balance by keys
            "--say", "an agent please",             # at "anything else?": the operator global
            "--dtmf", "1",                          # yes, call me back
            "--say", "tomorrow",
        )  # fmt: skip
        store = bot.records()
        record = finished(store, set())
    finally:
        stop_bot(bot)
    assert bot.proc.returncode == 0, "".join(bot.log)
    assert "Traceback" not in "".join(bot.log), "".join(bot.log)

    # the caller heard the offer, the question of the day, the promise and a goodbye
    lines = bot_lines(out)
    assert any(heard(line, "shall we call you back") for line in lines), out
    assert any(heard(line, "say today, tomorrow or a date") for line in lines), out
    assert heard(lines[-1], "an agent will call you back") or heard(lines[-1], "goodbye"), out
    assert "bot hung up" in out

    # the call: a warm transfer the agent desk refused with 486, then the call-back route
    assert record.outcome == "completed", record
    agent_at = record.steps.index("agent")
    assert record.steps[agent_at:] == [
        "agent", "callback_offer", "callback_day", "callback", "goodbye", "end",
    ], record.steps  # fmt: skip
    transfer = store.transfer(record.id)
    assert transfer is not None and transfer["mode"] == "warm" and transfer["outcome"] == "busy"
    assert desk.ended("busy")["status"] == 486
    invite = next(e for e in desk.log() if e["event"] == "invite" and e["user"] == "busy")
    assert invite["headers"]["X-Voicebot-Account"] == "12345678"
    assert record.slots["call_back"] is True and record.slots["callback_day"] == "2026-11-25"

    # the campaign database: one contact, the caller's number, due tomorrow, the call's story
    [contact] = contacts(campaigns, "callbacks")
    assert contact["phone"] == CALLER
    due = datetime.fromisoformat(contact["not_before"])
    assert due == datetime(2026, 11, 25, tzinfo=NEW_YORK), contact
    fields = json.loads(contact["fields"])
    assert fields["call_id"] == record.id and fields["account"] == "12345678"
    assert fields["flow"] == "support_line" and fields["language"] == "en"
    assert fields["phone"] == CALLER
    assert float(fields["frustration"]) < 0.7  # a calm caller who asked for a person
