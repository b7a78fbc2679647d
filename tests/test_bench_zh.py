"""The Mandarin benchmark's pure parts on plain data: where it finds the recordings, the digit
strings it builds, the prompts it collects, and the section it writes into BENCHMARKS.md."""

from __future__ import annotations

import random
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import zh_bench as bench  # noqa: E402 (after the path set-up)
from bench import zh_data as data  # noqa: E402
from bench import zh_report as report  # noqa: E402


def test_digit_strings_are_the_same_every_run_and_use_only_the_takes_given() -> None:
    strings = data.digit_strings((4, 11), 5, data.HELD_OUT_TAKES, seed=7)
    assert strings == data.digit_strings((4, 11), 5, data.HELD_OUT_TAKES, seed=7)
    assert [len(s.truth) for s in strings] == [4] * 5 + [11] * 5
    for s in strings:
        assert s.truth.isdigit() and len(s.parts) == len(s.truth)
        assert set(s.parts) <= set(data.HELD_OUT_TAKES)
        assert len(s.pauses) == len(s.truth) - 1
        assert all(data.PAUSES[0] <= p <= data.PAUSES[1] for p in s.pauses)
    # one generator per length: asking for more 11-digit strings leaves the 4-digit ones alone
    assert data.digit_strings((4,), 5, data.HELD_OUT_TAKES, seed=7) == strings[:5]
    assert data.digit_string(3, (1, 2), random.Random(1)).parts != ()


def test_join_with_pauses_puts_silence_between_the_clips() -> None:
    a, b = np.ones(80), np.full(160, 2.0)
    joined = data.join_with_pauses([a, b], [0.01])
    assert len(joined) == 80 + 80 + 160
    assert joined[80:160].max() == 0 and joined[-1] == 2.0
    with pytest.raises(ValueError):
        data.join_with_pauses([a, b], [])


def test_an_utterance_has_the_listeners_pre_roll_and_tail() -> None:
    from voicebot.speech.listener import ListenerSettings

    s = ListenerSettings()
    speech = np.full(800, 1000.0)
    pcm = data.utterance(speech)
    assert len(pcm) == 2 * (round(s.pre_roll * 8000) + 800 + round(s.tail * 8000))
    free = data.utterance(speech, free_text=True)
    assert len(free) == 2 * (round(s.pre_roll * 8000) + 800)
    samples = np.frombuffer(pcm, "<i2")
    assert samples[: round(s.pre_roll * 8000)].max() == 0 and abs(samples.max() - 1000) < 40


def test_the_recordings_are_found_or_the_error_says_how_to_name_them(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--data DIR"):
        data.find_data(tmp_path / "nowhere")
    (tmp_path / "sentences").mkdir()
    (tmp_path / "sentences" / "text.tsv").write_text("a.wav\t你好\n", encoding="utf-8")
    (tmp_path / "digits_one_speaker").mkdir()
    assert data.find_data(tmp_path) == tmp_path
    assert data.find_data(None, {data.ENV: str(tmp_path)}) == tmp_path
    assert data.sentences(tmp_path) == [
        data.Sentence("a.wav", "你好", tmp_path / "sentences/a.wav")
    ]


FLOW = """
version: 1
name: t
language: zh-CN
languages: [zh-CN, en]
voice: {zh-CN: {name: cmn, rate: 150}, en: {name: en-us, rate: 165}}
start: hi
steps:
  hi: {say: {zh-CN: "您好。", en: "Hello."}, next: bye}
  bye: {say: "再见，{{ call.language }}。", next: end}
  end: {hangup: {}}
"""


def test_mandarin_prompts_are_what_a_worker_renders_for_a_mandarin_call(tmp_path: Path) -> None:
    from voicebot.dialog import engine

    (tmp_path / "t.yaml").write_text(textwrap.dedent(FLOW), encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("version: 1\n", encoding="utf-8")
    (tmp_path / "t.test.yaml").write_text("not a flow", encoding="utf-8")
    prompts, failed = data.mandarin_prompts(data.flow_files(tmp_path))
    texts = {p.text for p in prompts}
    assert texts == {"您好。", engine.ZH_NO_INPUT, engine.ZH_NO_MATCH, engine.ZH_APOLOGY}
    assert {(p.voice, p.rate, p.flows) for p in prompts} == {("cmn-latn-pinyin", 150, ("t",))}
    assert [f.split(":")[0] for f in failed] == ["broken.yaml"]


def test_the_docs_example_gives_the_fallback_prompts(tmp_path: Path) -> None:
    example = data.docs_example(ROOT / "docs" / "flow-format.md", tmp_path)
    prompts, failed = data.mandarin_prompts([example])
    assert not failed and "请说出或按键输入您的十一位手机号码。" in {p.text for p in prompts}
    assert not any("{{" in p.text for p in prompts)


def _results() -> dict:
    take = {"audio": 1.0, "wall": 0.4, "cpu": 0.7, "text": "", "option": None}
    numbers = [
        {**take, "grammar": "menu 零..十 (11 options)", "set": "held out (takes 3-5)",
         "truth": "2", "heard": "8" if i == 0 else "2", "right": i != 0}
        for i in range(20)
    ] + [
        {**take, "grammar": "digits, 4", "set": "development (takes 1-2)", "truth": "1234",
         "heard": "1234", "right": True}
    ]  # fmt: skip
    sentence = {"name": "a.wav", "ref": "换一首歌", "text": "换一首哥。", "edits": 1.0, "chars": 4,
                "audio": 2.0, "wall": 0.5, "cpu": 0.9}  # fmt: skip
    trip = {"flows": ["f"], "ref": "按1。Press 9.", "text": "按一 press nine", "edits": 6.0,
            "chars": 8, "bilingual": True, "audio": 3.0, "wall": 0.6, "rejected": ""}  # fmt: skip

    def answers(wall: float) -> list[dict]:
        return [{"wall": wall, "cpu": wall, "audio": 1.0, "score": 1.0} for _ in range(3)]

    return {
        "command": ".venv/bin/python bench/zh_bench.py --write", "began": "b", "ended": "e",
        "took": 60.0, "cores": 2, "load": [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]],
        "held_out": True, "strings": 1, "n_sentences": 1, "n_takes": 20,
        "sentences": [sentence], "numbers": numbers, "round_trip": [trip],
        "prompts_source": "Fallback.",
        "latency": {"menu": {"en": answers(0.1), "zh-CN": answers(0.15)},
                    "digits4": {"en": answers(0.2), "zh-CN": answers(0.9)}},
        "memory": {"en": {k: {"VmRSS": 100 * 1024, "VmHWM": 120 * 1024}
                          for k in ("imports", "loaded", "answered")},
                   "en+zh-CN": {k: {"VmRSS": 220 * 1024, "VmHWM": 300 * 1024}
                                for k in ("imports", "loaded", "answered")}},
    }  # fmt: skip


def test_render_gives_every_table_and_says_which_targets_are_missed() -> None:
    text = report.render(_results())
    assert text.startswith(report.HEADING + "\n")
    assert "Command: `.venv/bin/python bench/zh_bench.py --write`" in text
    assert "1.00 / 1.00 / 1.00 at start, 2.00 / 2.00 / 2.00 at end" in text
    assert "| a.wav | 换一首歌 | 换一首哥。 | 25.0% |" in text
    assert "| held out (takes 3-5) | menu 零..十 (11 options) | 19/20 | 95.0% |" in text
    assert "2→8" in text and "| **development (takes 1-2)** | **all** | **1/1** |" in text
    assert "Real numbers in grammar mode >= 95% right, every grammar, held out" in text
    assert "Free-text CER on the real sentences <= 12%: **missed** (25.0%)" in text
    assert "Round trip of the Mandarin prompts CER <= 10%: **missed** (75.0%" in text
    assert "(p50): **missed** (menu word (11 numbers) +50 ms; 4 digits +700 ms)" in text
    assert "Mandarin base adds 120 MB" in text


def test_write_section_replaces_only_its_own_section(tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# B\n\n## ASR\n\nasr\n\n## Mandarin\n\nold\n\n## Later\n\nz\n")
    report.write_section("## Mandarin\n\nnew\n", doc)
    first = doc.read_text()
    assert first == "# B\n\n## ASR\n\nasr\n\n## Mandarin\n\nnew\n\n## Later\n\nz\n"
    report.write_section("## Mandarin\n\nnew\n", doc)
    assert doc.read_text() == first
    doc.write_text("# B\n\n## Telephony\n\nt\n")
    report.write_section("## Mandarin\n\nm\n", doc)
    assert doc.read_text() == "# B\n\n## Telephony\n\nt\n\n## Mandarin\n\nm\n"


def test_command_line_names_paths_outside_the_repository_by_what_they_hold() -> None:
    line = bench.command_line(["--data", "/elsewhere/zh", "--fsdd", "bench/data/fsdd", "--write"])
    assert line == (
        ".venv/bin/python bench/zh_bench.py --data ZH_DATA --fsdd bench/data/fsdd --write"
    )
