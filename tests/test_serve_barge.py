"""Barge-in over real SIP: `voicebot serve` with the real models, `voicebot call --barge`.

A backchannel ("uh-huh", "mm", "right"; 嗯, 对 on the Mandarin line) said over the main menu
pauses it for a moment and the menu goes on where it was (the caller finds the replayed audio
in what it heard): no answer, no turn for the engine, the call continues as if nothing was said.
An interruption ("billing") stops the menu within 300 ms of the caller starting and is the
answer (tests/test_serve.py::test_caller_talks_over_the_menu). The bot's own voice coming back
at -8 dB, 100 ms late (a WAV cut from a recording of the same prompts, played from the start of
the bot's turn, as line echo is) does not stop it at all.
The callers are espeak-ng voices (synthetic speech).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import test_serve
import test_serve_mandarin as zh
from test_serve import Bot, bot_lines, call, heard

from voicebot.audio.wav import read_wav, write_wav

pytestmark = [pytest.mark.sip, pytest.mark.slow]

accounts_api, bot = test_serve.accounts_api, test_serve.bot  # the support line, as there

WENT_ON = re.compile(r"^barge   bot (paused \d+ ms after the caller began, went on \d+ ms later|kept talking)$", re.M)  # fmt: skip
STOPPED = re.compile(r"^barge   bot stopped (\d+) ms after the caller began$", re.M)


@pytest.mark.parametrize("word", ["uh-huh", "mm", "right"])
def test_a_backchannel_over_the_menu_lets_it_go_on(bot: Bot, word: str) -> None:
    out = call(bot.uri, "--barge", f"{word}@5", "--say", "billing", "--dtmf", "0")
    assert WENT_ON.search(out) and not STOPPED.search(out), out
    lines = bot_lines(out)
    assert heard(lines[1], "say billing or press 2"), out  # the rest of the menu, to its end
    assert heard(lines[2], "how to pay"), out  # "billing", said after it, is the answer
    full = bot.records().get(bot.records().list()[0].id)
    assert full is not None
    assert full.steps[:4] == ["welcome", "hours", "main_menu", "billing"]
    caller = [t for t in full.turns if t["who"] == "caller"]
    assert _backchannels(caller, out), caller
    assert "billing" in caller[0]["text"].lower() and not caller[0]["barge_in"], caller


def _backchannels(caller: list[dict], out: str) -> bool:
    """Drop the leading backchannel turns of the record; there is one if the caller heard a
    pause. (None: "kept talking", too short to be speech over the bot, like a brief "mm"; or a
    pause shorter than the caller's 0.4 s measure of one.)"""
    dropped = 0
    while caller and caller[0]["end_of_turn"] == "backchannel":
        assert caller.pop(0)["barge_in"] == 1
        dropped += 1
    return dropped > 0 or "barge   bot kept talking" in out


def test_the_bots_own_voice_echoed_back_does_not_stop_it(bot: Bot, tmp_path: Path) -> None:
    record = tmp_path / "heard.wav"
    call(bot.uri, "--record", str(record), "--dtmf", "0")
    pcm, rate = read_wav(record, 8000)
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    start = int(np.flatnonzero(np.sqrt(np.mean((frames / 32768) ** 2, axis=1)) > 0.01)[0]) * 160
    # line echo is there whenever the bot talks: its first 3 s, 100 ms late (from the start)
    cut = start - int(0.1 * rate)
    echo = x[cut : cut + 3 * rate] * 10 ** (-8 / 20)
    write_wav(tmp_path / "echo.wav", echo.astype("<i2").tobytes(), rate)
    out = call(bot.uri, "--barge", f"{tmp_path / 'echo.wav'}@0", "--dtmf", "0")
    assert "barge   bot kept talking" in out, out
    store = bot.records()
    full = store.get(store.list()[0].id)  # the newest call
    assert full is not None and not [t for t in full.turns if t["barge_in"]]


@pytest.mark.parametrize("word", ["嗯", "对"])
def test_a_mandarin_backchannel_over_the_menu_lets_it_go_on(word: str, request) -> None:
    b = request.getfixturevalue("zh_bot")
    # 7 s in: over the menu (the welcome before it does not listen)
    out = zh.call(b, "--barge", f"{word}@7", "--dtmf", "1", "--dtmf", "12345678#", "--dtmf", "2")
    assert WENT_ON.search(out) and not STOPPED.search(out), out
    store = b.records()
    full = store.get(store.list()[0].id)
    assert full is not None and full.steps[:3] == ["welcome", "main_menu", "number"], out
    caller = [t for t in full.turns if t["who"] == "caller"]
    assert _backchannels(caller, out), caller
    assert caller[0]["dtmf"] == "1" and full.dtmf == "112345678#2", caller


@pytest.fixture(scope="module")
def zh_bot(tmp_path_factory: pytest.TempPathFactory):
    """One Mandarin bot for both words (starting one with its model takes ~15 s)."""
    data, home = tmp_path_factory.mktemp("zh-data"), tmp_path_factory.mktemp("zh-bot")
    api = zh.serve_http(zh._Accounts)
    env = {"VOICEBOT_DATA_DIR": str(data), "VOICEBOT_CALL_RECORDS": str(home / "calls.db")}
    b = zh.start_bot(
        home, "--flow", str(zh.FLOW), "--port", "0", "--clock", zh.MORNING,
        "--env", f"ACCOUNTS_API={next(api)}", env=env,
    )  # fmt: skip
    b.data_dir = data  # type: ignore[attr-defined]
    yield b
    zh.stop_bot(b)
    next(api, None)
