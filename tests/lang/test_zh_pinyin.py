"""Pinyin: tone-numbered text that espeak-ng speaks as Mandarin, toneless keys for matching."""

from __future__ import annotations

import array
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from voicebot.lang.zh_pinyin import ESPEAK_VOICE, has_chinese, script_runs, speakable, syllables


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好", "ni2 hao3"),  # a third tone before a third tone is said as a second
        ("你好吗", "ni2 hao3 ma5"),  # neutral tone as 5
        ("不是", "bu2 shi4"),  # 不 before a fourth tone
        ("不行", "bu4 xing2"),
        ("一个", "yi2 ge4"),  # 一 before a fourth tone
        ("一百", "yi4 bai3"),
        ("我的", "wo3 de5"),
        ("女士", "nv3 shi4"),  # ü as v, which espeak reads as [y]
        ("绿色", "lv4 se4"),
        ("银行", "yin2 hang2"),  # a polyphone chosen by its word
        ("行不行", "xing2 bu4 xing2"),
        ("第一", "di4 yi1"),
        ("你好，欢迎致电。", "ni2 hao3, huan1 ying2 zhi4 dian4."),
        ("余额是58.3元！", "yu2 e2 shi4 wu3 shi2 ba1 yuan2 san1 jiao3."),
        ("号码13800138000", "hao4 ma3 yao1 san1 ba1 ling2 ling2 yao1 san1 ba1 ling2 ling2 ling2"),
        ("（请稍候）……好的", "qing3 shao1 hou4, hao3 de5"),
        ("ＯＫ，好", "OK, hao3"),
    ],
)
def test_speakable(text: str, expected: str) -> None:
    assert speakable(text) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("话费", "花费"),  # the same syllables, other tones
        ("人工", "人公"),
        ("是", "四"),  # sh/s
        ("知道", "资道"),  # zh/z
        ("能", "冷"),  # n/l and -eng/-en
        ("英语", "因语"),  # -ing/-in
    ],
)
def test_homophones_share_syllables(a: str, b: str) -> None:
    assert syllables(a) == syllables(b)


def test_syllables_keep_what_differs() -> None:
    assert syllables("话费") != syllables("套餐")
    assert syllables("话费") == ("hua", "fei")
    assert syllables("english 1") == ("english", "1")
    assert syllables("是", fold=False) == ("shi",)


def test_has_chinese() -> None:
    assert has_chinese("press 9 为中文")
    assert not has_chinese("press 9")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "普通话请按1。For English, press 9.",
            [("zh", "普通话请按1。"), ("en", "For English, press 9.")],
        ),
        (
            "For English press 9，普通话请按1",
            [("en", "For English press 9"), ("zh", "，普通话请按1")],
        ),
        ("您好 Hello 您好", [("zh", "您好"), ("en", "Hello"), ("zh", "您好")]),
        ("iPhone 15 的套餐", [("en", "iPhone 15"), ("zh", "的套餐")]),
        ("话费58.3元", [("zh", "话费58.3元")]),
        ("138", [("zh", "138")]),
        ("  ", []),
    ],
)
def test_script_runs(text: str, expected: list[tuple[str, str]]) -> None:
    assert script_runs(text) == expected


def _samples(path: Path) -> tuple[array.array[int], int]:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        return array.array("h", w.readframes(w.getnframes())), w.getframerate()


def test_espeak_speaks_the_pinyin(tmp_path: Path) -> None:
    assert shutil.which("espeak-ng"), "espeak-ng is one of the Debian packages make setup installs"
    text = speakable("您好，欢迎致电星河通信。您的话费余额是58.3元。")
    syllable_count = len(text.split())
    wav = tmp_path / "zh.wav"
    subprocess.run(
        ["espeak-ng", "-v", ESPEAK_VOICE, "-w", str(wav), text],
        check=True,
        capture_output=True,
    )
    samples, rate = _samples(wav)
    seconds = len(samples) / rate
    assert 0.12 * syllable_count < seconds < 0.5 * syllable_count  # about 4 syllables a second
    loud = sum(1 for s in samples if abs(s) > 1000)
    assert loud > 0.2 * len(samples)  # speech, not silence
    phonemes = subprocess.run(
        ["espeak-ng", "-q", "-v", ESPEAK_VOICE, "-x", text],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "(en)" not in phonemes  # no syllable fell back to English
    assert "f'ei51" in phonemes  # fei4: falling tone
