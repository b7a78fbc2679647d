"""The recogniser: utterance audio in, text out, on Whisper through CTranslate2.

    class Recognizer(Protocol):
        final(audio: np.ndarray, expect: Expectation) -> Recognition     # 16 kHz float32
        partial(audio: np.ndarray, expect: Expectation) -> Recognition

    WhisperRecognizer(model: WhisperModel, settings: RecognizerSettings = RecognizerSettings())
    to_model_audio(pcm: bytes, rate: int) -> np.ndarray      # PCM16 at 8/16 kHz -> 16 kHz float32

Design, with what was measured (tiny.en, int8, 2 shared cores; see BENCHMARKS.md "ASR"):

* Encoder window fitted to the utterance: 0.3 s of leading silence, the audio, then silence up
  to max(floor, length + margin) instead of faster-whisper's fixed 30 s; the encoder's cost is
  linear in the window. Whisper degrades on short windows by looping ("2 2 2 2 2", "Yes. Yes.
  Yes.", a sentence three times). Measured (bench/asr_bench.py, tiny.en, 8 kHz G.711, beam 3,
  free text; FSDD single digits right / espeak-ng sentences WER by window floor): 2 s 1% /
  29%, 4 s 7% / 27%, 6 s 18% / 30%, 10 s 62% / 29%, 30 s 64% / 34%. Sentences survive short
  windows (beam search, the token budget and `cut_repeats` stop the loops), short numbers do
  not. So free text gets a 6 s floor (sentences with line noise: WER 43.6% against 45.5% for
  plain `transcribe()`, at ~1/7 of its CPU), numbers said freely (digits of unknown
  length, number, money, date) a 10 s floor, and grammar mode, which teacher-forces its
  candidates and cannot loop, a 2 s floor.
* Decoding for latency: no timestamps, beam 3 (greedy looped at 8 kHz even at 6 s: WER 81%),
  at most 8 tokens per second of audio + 8, no temperature fallback.
* Guards against text out of noise and silence, in order: too little speech by the listener's
  own VAD (`speech_seconds` < `min_speech`: webrtcvad with its noise-floor gate, ~4 us a frame;
  stationary line noise, clicks and silence stop here with no model call; a clip cut tight
  around one word is checked by the model's no-speech probability instead); Whisper's own
  no-speech rule (no-speech probability > 0.6 with average log-probability < -1); and known
  phantom phrases of Whisper on non-speech ("Thank you.", "Bye.", "you", ...), dropped
  unless the dialog expects them.
* Biasing: the phrases the dialog expects are the decoder's previous-text prompt.
* Closed expectations (`Expectation.is_closed`) go to grammar mode (`grammar.py`).
* Partials: `partial()` decodes the audio so far; the result is remembered for its `stream`
  (a call: another call's final never sees it), and a `final()` of that stream on the same
  audio plus only quiet tail (the listener's end-of-utterance a few hundred ms after the pause
  that triggered the partial) returns it at once (`reused=True`). Live calls decode through
  `scheduler.RecognitionScheduler` (finals first, one partial in flight per call); a single
  runner can use `partials.PartialDecoder`. CTranslate2 releases the GIL.
* Mandarin: the same recogniser on a model view forced to Chinese (`languages.py`): prompts
  joined with 、, 16 tokens per second of audio (a character is 1-3 tokens), Simplified output
  (OpenCC), `ZH_PHANTOMS` and the model's own context prompt given back as phantoms, and loops
  cut in characters (`cut_repeats_zh`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from voicebot.audio import float32_to_pcm16, pcm16_to_float32, resample
from voicebot.dialog.expectation import FREE_TEXT, Expectation
from voicebot.lang.zh_normalize import simplified
from voicebot.policy.card_numbers import redact_cards
from voicebot.speech import grammar, noise
from voicebot.speech.model import SAMPLE_RATE, WhisperModel, max_length_for
from voicebot.speech.vad import Vad, VadSettings

log = logging.getLogger(__name__)

MAX_WINDOW = 30.0  # Whisper's encoder takes at most 30 s
NUMERIC_KINDS = ("digits", "number", "money", "date")
REUSE_GUARD = 320  # samples (20 ms) at the end of a partial's audio left out of the comparison

PHANTOMS = frozenset(
    {"thank you", "thanks for watching", "thank you for watching", "bye", "you", "so", "okay",
     "oh", "uh", "um", "hmm", "the", "i", "please subscribe", "thank you very much"}
)  # fmt: skip
# Whisper's Mandarin phantoms on silence and noise: video-subtitle credits learnt from its
# training data, fillers, and the decoder's own context prompt given back.
ZH_PHANTOMS = frozenset(
    {"谢谢观看", "谢谢大家", "谢谢收看", "感谢观看", "谢谢", "嗯", "啊", "呃", "哦", "中文字幕",
     "字幕由amara.org社区提供", "请不吝点赞订阅转发打赏支持明镜与点点栏目", "优优独播剧场",
     "以下是普通话的句子", "小编字幕"}
)  # fmt: skip


@dataclass(frozen=True)
class Recognition:
    text: str  # "" when nothing was recognised (see `rejected`)
    confidence: float  # 0..1
    final: bool
    mode: str  # "free", "grammar" or "none"
    option: str | None = None  # grammar mode: the option chosen (menu, choice, yes_no)
    rejected: str = ""  # why text is empty: "silence", "no_speech", "phantom", "no_match"
    audio_seconds: float = 0.0
    window_seconds: float = 0.0
    compute_seconds: float = 0.0
    reused: bool = False  # a final taken from the partial on the same audio


class Recognizer(Protocol):
    """`stream` names whose audio it is (a call): what a partial leaves behind for the final
    (reuse) is kept per stream, never seen by another."""

    def final(self, audio: np.ndarray, expect: Expectation, stream: str = "") -> Recognition: ...

    def partial(self, audio: np.ndarray, expect: Expectation, stream: str = "") -> Recognition: ...


@dataclass(frozen=True)
class RecognizerSettings:
    lead: float = 0.3  # silence put before the audio (s)
    window_floor: float = 6.0  # shortest encoder window for free text (s)
    numeric_window_floor: float = 10.0  # ... for numbers said freely: short windows loop on them
    beam_size: int = 3  # free text; grammar mode needs no search
    window_margin: float = 1.0  # silence after the audio inside the window (s)
    grammar_window_floor: float = 2.0  # grammar mode teacher-forces: no loops to fear (s)
    grammar_window_margin: float = 0.5
    tokens_per_second: float = 8.0  # decode budget: this many tokens per second of audio, + 8
    spaceless_tokens_per_second: float = 16.0  # ... in Mandarin (a character is 1-3 tokens)
    min_speech: float = 0.08  # less speech than this by the VAD is silence (s)
    tight_clip: float = 1.5  # ... unless a clip this short passes the no-speech check below
    tight_no_speech: float = 0.8
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    quiet_tail_db: float = 6.0  # a final reuses a partial if its extra audio stays this close
    grammar: grammar.GrammarSettings = grammar.GrammarSettings()  # to the floor (dB)
    # speex before decoding on a noisy line, per answer kind (`noise.answer_kind`): (kind,
    # attenuation in dB) where bench/noise_bench.py's dev split chose it; the floor in dBFS
    # that makes a line noisy
    suppress_noise: tuple[tuple[str, int], ...] = ()
    noisy_floor_db: float = noise.NOISY_FLOOR_DB


def to_model_audio(pcm: bytes, rate: int) -> np.ndarray:
    """PCM16 at `rate` as the model's 16 kHz float32 (soxr resampling, not interpolation)."""
    if rate != SAMPLE_RATE:
        pcm = resample(pcm, rate, SAMPLE_RATE)
    return pcm16_to_float32(pcm)


def _normal(text: str, spaced: bool = True) -> str:
    """Lower case words and digits only; for a spaceless language (Mandarin) its characters
    with no punctuation or spaces at all."""
    if not spaced:
        return re.sub(r"[\W_]+", "", text.lower())
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).strip()


def cut_repeats(text: str) -> str:
    """Cut Whisper's loop on short windows: a clause of 3+ words said again, or any clause a
    third time in a row ("Yes. Yes. Yes."); "4, 4, 4" and "no, no" stay. A loop decoded with
    no punctuation at all (a 4.8 s menu prompt in a 6.1 s window came out twice, word for
    word) is cut by `_cut_word_loop`."""
    return _cut_word_loop(_cut_clause_loop(text))


def cut_repeats_zh(text: str) -> str:
    """The same for Mandarin, where no space separates words: clauses end at 。，？！、 too,
    and a run of 4+ characters said again at once is the loop ("我要查话费我要查话费...")."""
    return _cut_word_loop(_cut_clause_loop(text, spaced=False), spaced=False)


def _cut_word_loop(text: str, shortest: int = 4, spaced: bool = True) -> str:
    """Cut at the first run of `shortest`+ words (characters, unspaced) said again at once,
    unless that run is all digits (a number may well repeat a group: "1 2 1 2 1 2 1 2")."""
    words = text.split() if spaced else list(text)
    said = [_normal(w, spaced) for w in words]
    for n in range(shortest, len(words) // 2 + 1):
        for i in range(len(words) - 2 * n + 1):
            run = said[i : i + n]
            if run == said[i + n : i + 2 * n] and not all(w.isdigit() for w in run):
                return (" " if spaced else "").join(words[: i + n]).rstrip(",，")
    return text


def _cut_clause_loop(text: str, spaced: bool = True) -> str:
    kept: list[str] = []
    run = 0
    marks = ".?!," if spaced else ".?!,。？！，、"
    for clause in re.findall(rf"[^{marks}]+[{marks}]*", text):
        said, before = _normal(clause, spaced), _normal(kept[-1], spaced) if kept else ""
        run = run + 1 if said and before.startswith(said) else 0
        size = len(said.split()) if spaced else len(said) // 2  # ~2 characters a word
        if run and (size >= 3 or (run >= 2 and not said.isdigit())):
            if run >= 2:
                kept.pop()
            break
        kept.append(clause)
    return "".join(kept).strip().rstrip(",，")


def speech_seconds(audio: np.ndarray, vad: VadSettings | None = None) -> float:
    """Seconds of speech in `audio` by the listener's VAD (webrtcvad with a noise-floor gate).
    0.3 s made of its first 20 ms go before it, so that a clip cut tight around a word still
    has a floor to stand out from, while line noise from the first sample stays noise (digital
    silence before noise would open a ~0.5 s segment at the noise's onset)."""
    frame = SAMPLE_RATE // 50  # 20 ms
    if len(audio) < frame:
        return 0.0
    pad = np.tile(audio[:frame], 15)
    pcm = float32_to_pcm16(np.concatenate([pad, audio, np.tile(audio[-frame:], 15)]))
    detector = Vad(vad or VadSettings())
    size = 2 * frame
    total, began = 0.0, None
    for i in range(len(pcm) // size):
        change = detector.process(pcm[i * size : (i + 1) * size], SAMPLE_RATE, (i + 1) * 0.02)
        if change is not None and change.speaking:
            began = change.at
        elif change is not None and began is not None:
            total, began = total + change.at - began, None
    if began is not None and detector.last_voiced_end is not None:  # still speaking at the end
        total += detector.last_voiced_end - began
    return total


class WhisperRecognizer:
    """`Recognizer` on a loaded `WhisperModel`; thread-safe (one decode at a time)."""

    def __init__(
        self, model: WhisperModel, settings: RecognizerSettings = RecognizerSettings()
    ) -> None:
        self.model = model
        self.settings = settings
        self._lock = threading.Lock()
        # stream -> its latest partial (audio, expectation, result), for the final to reuse
        self._last_partial: dict[str, tuple[np.ndarray, Expectation, Recognition]] = {}

    # -- the Protocol ------------------------------------------------------------------------
    def final(self, audio: np.ndarray, expect: Expectation, stream: str = "") -> Recognition:
        began = time.perf_counter()
        reused = self._reuse(self._last_partial.pop(stream, None), audio, expect)
        if reused is not None:
            spent = time.perf_counter() - began
            return replace(reused, final=True, reused=True, compute_seconds=spent)
        return self._recognize(audio, expect, final=True)

    def partial(self, audio: np.ndarray, expect: Expectation, stream: str = "") -> Recognition:
        """The audio so far. Digit strings are not forced to their full length here: a partial
        of 5 digits must not look like a complete 8-digit answer to the listener."""
        relaxed = expect
        if expect.kind == "digits" and expect.max_digits is not None:
            relaxed = replace(expect, min_digits=1)
        result = self._recognize(audio, relaxed, final=False)
        self._last_partial[stream] = (audio.copy(), expect, result)
        return result

    def forget(self, stream: str) -> None:
        """The stream ended: drop what its partials left."""
        self._last_partial.pop(stream, None)

    # -- internals ---------------------------------------------------------------------------
    def window_for(self, seconds: float, expect: Expectation = FREE_TEXT) -> float:
        s = self.settings
        if expect.is_closed:
            floor, margin = s.grammar_window_floor, s.grammar_window_margin
        elif expect.kind in NUMERIC_KINDS:
            floor, margin = s.numeric_window_floor, s.window_margin
        else:
            floor, margin = s.window_floor, s.window_margin
        return min(max(floor, s.lead + seconds + margin), MAX_WINDOW)

    def _reuse(self, last, audio: np.ndarray, expect: Expectation) -> Recognition | None:
        if last is None:
            return None
        seen, seen_expect, result = last
        if seen_expect != expect or len(seen) > len(audio) or len(seen) <= REUSE_GUARD:
            return None
        if expect.kind == "digits" and len(result.text) < (expect.min_digits or 0):
            return None
        # the same 8 kHz audio resampled as a longer buffer differs only in its last few ms
        common = len(seen) - REUSE_GUARD
        if np.max(np.abs(audio[:common] - seen[:common])) > 2e-3:
            return None
        tail = audio[len(seen) :]
        if len(tail) == 0:
            return result
        return result if self._quiet(audio, tail) else None

    def _quiet(self, audio: np.ndarray, tail: np.ndarray) -> bool:
        """True when `tail` has nothing louder than the utterance's floor + `quiet_tail_db`."""
        hop = SAMPLE_RATE // 100
        n = len(audio) // hop
        energy = 10 * np.log10(np.mean(audio[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-10)
        floor = float(np.percentile(energy, 10))
        m = len(tail) // hop
        if m == 0:
            return True
        tail_e = 10 * np.log10(np.mean(tail[: m * hop].reshape(m, hop) ** 2, axis=1) + 1e-10)
        return bool(tail_e.max() <= max(floor, -70.0) + self.settings.quiet_tail_db)

    def _recognize(self, audio: np.ndarray, expect: Expectation, final: bool) -> Recognition:
        began = time.perf_counter()
        seconds = len(audio) / SAMPLE_RATE
        window = self.window_for(seconds, expect)
        base = Recognition("", 0.0, final, "none", audio_seconds=seconds, window_seconds=window)
        with self._lock:
            if not self._has_speech(audio):
                spent = time.perf_counter() - began
                return replace(base, rejected="silence", compute_seconds=spent)
            level = dict(self.settings.suppress_noise).get(noise.answer_kind(expect))
            if level is not None:
                audio = noise.on_noisy_line(audio, level, self.settings.noisy_floor_db)
            result = self._grammar(audio, expect, window, base) if expect.is_closed else None
            if result is None:  # open, or a phrase grammar that did not match: free text
                base = replace(base, window_seconds=self.window_for(seconds))
                result = self._free(audio, expect, base.window_seconds, base)
        result = replace(result, compute_seconds=time.perf_counter() - began)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s %.2fs audio, %.1fs window, %.0f ms: %r%s",
                "final" if final else "partial",
                result.mode,
                seconds,
                window,
                result.compute_seconds * 1000,
                # a PIN is never logged, nor a card number
                "[masked]" if expect.sensitive else redact_cards(result.text),
                f" (rejected: {result.rejected})" if result.rejected else "",
            )
        return result

    def _has_speech(self, audio: np.ndarray) -> bool:
        """The VAD's verdict; for a clip cut tight around one word (<= `tight_clip` s), which
        leaves the VAD no floor to measure from, the model's no-speech probability (without a
        prompt) decides: FSDD digits <= 0.71, 3 s pieces of line noise >= 0.89."""
        s = self.settings
        if speech_seconds(audio) >= s.min_speech:
            return True
        if len(audio) > s.tight_clip * SAMPLE_RATE or not grammar.segment_words(audio):
            return False
        padded = np.concatenate([np.zeros(int(s.lead * SAMPLE_RATE), np.float32), audio])
        encoded = self.model.encode([self.model.features(padded, s.grammar_window_floor)])
        start = self.model.start
        result = self.model.ct2.generate(
            encoded, [start], max_length=max_length_for(len(start), 1), return_no_speech_prob=True
        )[0]
        return bool(result.no_speech_prob < s.tight_no_speech)

    def _grammar(self, audio, expect, window, base: Recognition) -> Recognition | None:
        found = grammar.recognize(self.model, audio, expect, window, self.settings.grammar)
        if not found.text:
            if expect.kind != "digits":
                return None  # "I need technical support": the dialog's matcher may still see it
            return replace(base, mode="grammar", rejected="no_match")
        return replace(
            base, text=found.text, confidence=found.confidence, mode="grammar", option=found.option
        )

    def _phantom(self, said: str, spaced: bool) -> bool:
        if spaced:
            return said in PHANTOMS
        # the context prompt given back, whole or most of it, is not the caller's; a word of
        # it alone ("普通话", a bilingual menu's answer) may well be
        context = _normal(self.model.context, spaced=False)
        return said in ZH_PHANTOMS or (len(said) >= 5 and said in context)

    def _free(self, audio, expect: Expectation, window, base: Recognition) -> Recognition:
        """Free text; audio longer than one 30 s window (the listener cuts at 15 s) is decoded
        in consecutive pieces whose texts are joined."""
        piece = int((MAX_WINDOW - self.settings.lead - self.settings.window_margin) * SAMPLE_RATE)
        if len(audio) <= piece:
            return self._free_window(audio, expect, window, base)
        texts, confidence = [], 1.0
        for start in range(0, len(audio), piece):
            part = audio[start : start + piece]
            if speech_seconds(part) < self.settings.min_speech:
                continue
            window = self.window_for(len(part) / SAMPLE_RATE, expect)
            found = self._free_window(part, expect, window, base)
            if found.text:
                texts.append(found.text)
                confidence = min(confidence, found.confidence)
        if not texts:
            return replace(base, mode="free", rejected="no_speech")
        return replace(base, text=" ".join(texts), confidence=confidence, mode="free")

    def _free_window(self, audio, expect: Expectation, window, base: Recognition) -> Recognition:
        s = self.settings
        model = self.model
        lead = np.zeros(int(s.lead * SAMPLE_RATE), np.float32)
        padded = np.concatenate([lead, audio])
        encoded = model.encode([model.features(padded, window)])
        spaced = model.spaced
        prompt = (", " if spaced else "、").join(expect.phrases) if expect.phrases else None
        start = model.start_with_prompt(prompt)
        rate = s.tokens_per_second if spaced else s.spaceless_tokens_per_second
        budget = int(rate * len(audio) / SAMPLE_RATE) + 8
        result = model.ct2.generate(
            encoded,
            [start],
            beam_size=s.beam_size,
            max_length=max_length_for(len(start), budget),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
        )[0]
        tokens = result.sequences_ids[0]
        text = model.decode_text(tokens).strip()
        text = cut_repeats(text) if spaced else cut_repeats_zh(simplified(text))
        avg_logprob = float(result.scores[0]) if result.scores else -10.0
        if result.no_speech_prob > s.no_speech_threshold and avg_logprob < s.logprob_threshold:
            return replace(base, mode="free", rejected="no_speech")
        said = _normal(text, spaced)
        if not said:
            return replace(base, mode="free", rejected="no_speech")
        expected = {_normal(p, spaced) for p in expect.phrases}
        if self._phantom(said, spaced) and said not in expected:
            return replace(base, mode="free", rejected="phantom")
        return replace(base, text=text, confidence=float(np.exp(avg_logprob)), mode="free")
