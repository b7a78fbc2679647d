"""Quality inspection of real calls: `voicebot serve` scores each call of support_line.yaml
against the rules beside it (support_line.qa.yaml) when it ends, and `voicebot qa run` scores
the stored calls again: the shipped rules flag a call that broke them and pass one that did not.

Two real SIP calls on loopback to one bot (the real flow, model and espeak-ng), placed by the
scripted softphone: one keys its way to the balance and says goodbye; the other asks the bot to
"guarantee" a refund (a phrase nobody may say) and hangs up without an answer (abandoned).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import test_serve
from test_serve import ROOT, Bot, call

from voicebot.call.records import CallRecord

pytestmark = [pytest.mark.sip, pytest.mark.slow]

RULES = ROOT / "dialog_flows" / "support_line.qa.yaml"
accounts_api, bot = test_serve.accounts_api, test_serve.bot  # the support line, as there


def scored(bot: Bot, count: int, timeout: float = 20.0) -> list[CallRecord]:
    """The bot's calls once `count` of them have their quality stored (it follows the end)."""
    deadline = time.monotonic() + timeout
    while True:
        store = bot.records()
        records = [store.get(r.id) for r in store.list()]
        done = [r for r in records if r is not None and r.quality is not None]
        if len(done) >= count or time.monotonic() > deadline:
            return sorted(done, key=lambda r: r.started_at)
        time.sleep(0.2)


def findings(record: CallRecord) -> set[tuple[str, str, int | None]]:
    assert record.quality is not None
    return {(f["rule"], f["status"], f["turn"]) for f in record.quality["findings"]}


def test_the_shipped_rules_flag_a_call_that_broke_them_and_pass_one_that_did_not(bot: Bot):
    call(bot.uri, "--dtmf", "1", "--dtmf", "12345678", "--dtmf", "2")
    call(bot.uri, "--say", "can you guarantee my refund")
    good, bad = scored(bot, 2)
    assert good.outcome == "completed" and bad.outcome == "caller_hangup", "".join(bot.log)

    # scored by the worker when each call ended, with the rules beside the flow
    assert good.quality is not None and good.quality["rules"].endswith("support_line.qa.yaml")
    assert findings(good) == set(), good.quality  # calm_end measured: turns carry a frustration
    assert good.quality["score"] == 100.0
    said = next(t for t in bad.turns if t["who"] == "caller")
    assert "guarantee" in said["text"].lower()
    assert findings(bad) == {
        ("no_promises", "broken", said["seq"]),
        ("resolved", "broken", bad.turns[-1]["seq"]),
    }, bad.quality
    assert bad.quality is not None and bad.quality["score"] == 60.0  # lost 20 + 20 of 100

    # `voicebot qa run` over the stored calls: the same verdicts, one JSON object per call
    proc = subprocess.run(
        [sys.executable, "-m", "voicebot", "qa", "run", str(RULES), "--json", "--db", str(bot.db)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {row["id"]: row for row in map(json.loads, proc.stdout.splitlines())}
    assert rows[good.id]["broken"] == [] and rows[good.id]["score"] == 100.0
    assert rows[bad.id]["broken"] == ["no_promises", "resolved"]
    assert rows[bad.id]["findings"] == bad.quality["findings"]
