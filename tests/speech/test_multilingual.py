"""The multilingual model: assembled once from its two packages, checked, and able to
transcribe real Mandarin at telephone bandwidth (an AISHELL-1 sentence, tests/data/zh)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from voicebot.audio.resample import resample
from voicebot.audio.wav import read_wav
from voicebot.errors import SpeechError
from voicebot.speech import multilingual
from voicebot.speech.model import load_model
from voicebot.testing.scoring import cer

pytestmark = pytest.mark.slow

ZH = Path(__file__).resolve().parents[1] / "data" / "zh"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return multilingual.multilingual_model_dir(tmp_path_factory.mktemp("data"))


def test_assembled_once_with_the_expected_size_and_reused(model_dir: Path) -> None:
    model = model_dir / "model.bin"
    assert model.stat().st_size == multilingual.MODEL_BYTES
    assert {p.name for p in model_dir.iterdir()} == {"model.bin", *multilingual.COPIED}
    before = model.stat().st_mtime_ns
    began = time.perf_counter()
    assert multilingual.multilingual_model_dir(model_dir.parents[1]) == model_dir
    assert time.perf_counter() - began < 0.1 and model.stat().st_mtime_ns == before
    assert not [p for p in model_dir.parent.iterdir() if p.name.startswith(".whisper-base-")]


def test_a_wrong_checksum_is_refused_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(multilingual, "MODEL_SHA256", "0" * 64)
    with pytest.raises(SpeechError, match="reinstall both packages"):
        multilingual.multilingual_model_dir(tmp_path)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_real_mandarin_sentence_at_8_khz_in_simplified_characters(model_dir: Path) -> None:
    name, ref = (ZH / "text.tsv").read_text(encoding="utf-8").splitlines()[0].split("\t")
    pcm, rate = read_wav(ZH / name)
    phone = resample(resample(pcm, rate, 8000), 8000, 16000)  # telephone bandwidth
    audio = np.frombuffer(phone, "<i2").astype(np.float32) / 32768
    model = load_model(model_dir)
    start = model.start_for_language("zh", prompt="以下是普通话的句子。")
    encoded = model.encode([model.features(audio, window=max(4.0, len(audio) / 16000))])
    result = model.ct2.generate(encoded, [start], beam_size=1, max_length=len(start) + 40)
    text = model.decode_text(result[0].sequences_ids[0])
    assert cer(ref, text) <= 0.1, (ref, text)  # measured: one character of 13 wrong (停止)
    assert "話" not in text and "滯" not in text  # Simplified, as the prompt asks


def test_english_only_model_refuses_another_language() -> None:
    with pytest.raises(SpeechError, match="English-only"):
        load_model().start_for_language("zh")
