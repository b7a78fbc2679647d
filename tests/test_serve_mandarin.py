"""A Mandarin caller on the shipped 星河通信 support line, over real SIP on loopback.

`voicebot serve` runs dialog_flows/zh_support_line.yaml with the real models (Whisper base
forced to Mandarin beside tiny.en) and espeak-ng speaking pinyin; the caller is `voicebot call
--language zh-CN`, which speaks Mandarin (espeak-ng, through pinyin) and transcribes the bot's
Mandarin with the same model. espeak-ng's Mandarin is hard to understand (BENCHMARKS.md,
"Mandarin": round-trip CER), so the caller's transcript of a bot turn is compared by toneless
pinyin, fuzzily; what the bot understood is checked exactly, in the call record. Spoken digit
strings are tested at the recogniser (tests/speech/test_mandarin.py); here numbers are keyed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from rapidfuzz import fuzz
from test_serve import ROOT, Bot, bot_lines, serve_http, start_bot, stop_bot

from voicebot.lang.zh_pinyin import syllables

pytestmark = [pytest.mark.sip, pytest.mark.slow]

FLOW = ROOT / "dialog_flows" / "zh_support_line.yaml"
MORNING = "2026-11-24T10:00:00+08:00"  # a Tuesday, in service hours (Beijing time)


class _Accounts(BaseHTTPRequestHandler):
    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/accounts/12345678":
            self._reply(200, {"balance": 58.3})
        else:
            self._reply(404, {})

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/accounts/12345678/plan":
            self._reply(200, {"effective_date": "2026-12-01"})
        else:
            self._reply(404, {})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def accounts_api() -> Iterator[str]:
    yield from serve_http(_Accounts)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory for the bot and the caller: the Mandarin model is assembled once."""
    return tmp_path_factory.mktemp("zh-data")


@pytest.fixture
def bot(tmp_path: Path, data_dir: Path, accounts_api: str) -> Iterator[Bot]:
    env = {"VOICEBOT_DATA_DIR": str(data_dir)}
    b = start_bot(
        tmp_path,
        "--flow",
        str(FLOW),
        "--port",
        "0",
        "--clock",
        MORNING,
        "--env",
        f"ACCOUNTS_API={accounts_api}",
        env={**env, "VOICEBOT_CALL_RECORDS": str(tmp_path / "calls.db")},
    )
    b.data_dir = data_dir  # type: ignore[attr-defined]
    yield b
    stop_bot(b)
    assert b.proc.returncode == 0, "".join(b.log)


def call(bot: Bot, *script: str, timeout: float = 240) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "voicebot", "call", bot.uri, "--language", "zh-CN", *script],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "VOICEBOT_DATA_DIR": str(bot.data_dir)},  # type: ignore[attr-defined]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def heard(line: str, phrase: str, at_least: float = 60) -> bool:
    """The caller's transcript of a bot turn sounds like `phrase`: their toneless pinyin
    (话费 and 花费 alike) matched fuzzily."""
    said = " ".join(syllables(line.split("] ", 1)[-1]))
    return fuzz.partial_ratio(" ".join(syllables(phrase)), said) >= at_least


def test_the_bill_by_voice_with_the_number_keyed(bot: Bot) -> None:
    out = call(bot, "--say", "话费", "--dtmf", "12345678#", "--say", "不用了")
    lines = bot_lines(out)
    assert heard(lines[0], "欢迎致电星河通信"), out
    assert heard(lines[1], "请说出或按键输入您的十一位手机号码"), out
    assert heard(lines[2], "您的号码一二三四五六七八"), out  # spelled back
    assert heard(lines[-1], "感谢您的来电，再见"), out
    assert "bot hung up" in out
    store = bot.records()
    full = store.get(store.list()[0].id)
    assert full is not None and full.outcome == "completed"
    assert full.slots == {"number": "12345678", "more": False}
    assert full.steps[:4] == ["welcome", "main_menu", "number", "lookup"]
    caller = [t["text"] for t in full.turns if t["who"] == "caller" and t["text"]]
    assert caller[0] == "话费" and caller[-1] in ("不", "不用了")
    bot_said = [t["text"] for t in full.turns if t["who"] == "bot"]
    assert any("五十八元三角" in text for text in bot_said)


def test_a_plan_change_by_voice(bot: Bot) -> None:
    out = call(
        bot, "--say", "套餐", "--dtmf", "12345678#", "--say", "五十八", "--say", "是的",
        "--say", "不用了",
    )  # fmt: skip
    assert "bot hung up" in out, out
    store = bot.records()
    full = store.get(store.list()[0].id)
    assert full is not None and full.outcome == "completed", out
    assert full.slots == {"number": "12345678", "plan_ok": True, "more": False}
    assert "change_plan" in full.steps and "plan_changed" in full.steps
    assert any("五十八元" in t["text"] for t in full.turns if t["who"] == "bot")


def test_the_bill_by_keys(bot: Bot) -> None:
    out = call(bot, "--dtmf", "1", "--dtmf", "12345678#", "--dtmf", "2")
    assert heard(bot_lines(out)[2], "您的号码一二三四五六七八"), out
    store = bot.records()
    full = store.get(store.list()[0].id)
    assert full is not None and full.outcome == "completed"
    assert full.slots == {"number": "12345678", "more": False}
    assert full.dtmf == "112345678#2"
