"""`voicebot transcribe` end to end through the main CLI, with the real model."""

import argparse
import wave
from pathlib import Path

import pytest
from asr_audio import fsdd

from voicebot.cli import main
from voicebot.cli.transcribe import parse_expect
from voicebot.dialog.expectation import Expectation


def test_expect_values():
    assert parse_expect("digits:8") == Expectation(kind="digits", min_digits=8, max_digits=8)
    assert parse_expect("digits:4-10").max_digits == 10
    assert parse_expect("yes_no").kind == "yes_no"
    assert parse_expect("choice:billing,agent").options == (
        ("billing", ("billing",)),
        ("agent", ("agent",)),
    )
    assert parse_expect("text").kind == "text"
    for bad in ("digits:x", "digits:5-2", "choice:", "colour"):
        with pytest.raises(argparse.ArgumentTypeError, match="give text, digits"):
            parse_expect(bad)


@pytest.mark.slow
def test_transcribe_a_digit_in_grammar_mode(capsys):
    path = fsdd("4_george_0")
    assert main(["transcribe", str(path), "--expect", "digits:1"]) == 0
    text, timing = capsys.readouterr().out.splitlines()
    assert text == "4"
    assert timing.startswith("mode grammar") and "recognition" in timing and " ms " in timing


@pytest.mark.slow
def test_transcribe_silence_prints_that_nothing_was_said(tmp_path, capsys):
    path = tmp_path / "quiet.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(bytes(16000))
    assert main(["transcribe", str(path)]) == 0
    assert capsys.readouterr().out.startswith("(nothing recognised: silence)")


def test_a_bad_expect_is_a_usage_error(capsys):
    path = fsdd("0_george_0")
    with pytest.raises(SystemExit) as exc:
        main(["transcribe", str(path), "--expect", "digits:zero"])
    assert exc.value.code == 2
    assert "give text, digits" in capsys.readouterr().err


@pytest.mark.slow
def test_transcribe_mandarin_with_choices_given_in_chinese(tmp_path, monkeypatch, capsys):
    """`--language zh`: the multilingual model (assembled into settings' data_dir) and
    Chinese candidates (espeak-ng Mandarin saying 套餐, tests/data/zh/tts)."""
    monkeypatch.setenv("VOICEBOT_DATA_DIR", str(tmp_path))
    path = Path(__file__).resolve().parents[1] / "data" / "zh" / "tts" / "taocan.wav"
    args = ["transcribe", str(path), "--language", "zh", "--expect", "choice:话费,套餐,人工"]
    assert main(args) == 0
    text, timing = capsys.readouterr().out.splitlines()
    assert text == "套餐"
    assert timing.startswith("mode grammar, option '套餐'") and "whisper-base" in timing
