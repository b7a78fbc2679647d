"""Grammar mode: when the dialog expects one of a known set, score the set against the audio.

VoiceXML IVRs constrained recognition to the grammar of the current prompt; free transcription
of a one-word answer by Whisper tiny.en is poor (FSDD single digits: 57% through
`transcribe()`, ~70% with a fitted window), with typical errors "You know." for "no",
"Bye." for "five" and "Hey." for "eight". Here the decoder is teacher-forced through each
candidate instead, and the candidates compete.

Closed sets (`Expectation.is_closed`):
* menu / choice: every phrase of every option (plus the global phrases);
* yes_no: a few short yes and no phrases (`YES_NO`);
* digits with a known maximum length: per-digit scoring (below).

Phrase scoring. Each phrase is spelled as Whisper would start a transcript (" billing",
" Billing", and for digit words also the numeral " 4"); one batched `generate` call forces the
decoder through all spellings (`WhisperModel.position_logprobs`) and the log-probability of a
phrase is the sum of its tokens' (plus the end of the transcript, only where one phrase is a
token prefix of another's). An option's score is the log-sum-exp of its spellings; the
confidence is the softmax over options; `in_grammar` (the probability mass of all spellings) is
what rejects out-of-grammar speech: below `min_in_grammar` the answer is no-match. The decoder
prompt (previous text) lists the phrases, which biases the model toward them. On the 300 FSDD
files, first-token scoring with 0.3 s of leading silence: 96.3% without the prompt, 98.3% with
it (1 s window, ~25 ms).

Digit strings. Candidates of length N are 10^N, and free or constrained decoding of the whole
string drops and merges digits (40 FSDD 8-digit strings with pauses: 58-60% entirely right
with digits-only constrained beam search, 5-35% free). So the utterance is cut into voiced
islands by energy (`segment_words`, gaps >= 120 ms; the closest islands are merged while there
are more than N), each island is scored as a single digit in one batched encode + one
`generate`, and the digits are joined. The least sure digits then get a second opinion from
the whole utterance (`_second_opinion`). bench/asr_bench.py, 8 kHz G.711: 98.0% of clean
8-digit strings entirely right (84.4% without the second opinion), 95.1% of 4-10 digit
strings (the same given the flow's range 4-10 instead of the true length); with -50 dBFS line
noise 65.3% and 70.7% (BENCHMARKS.md, "ASR"). Digits said without pauses, as people say phone
numbers, are the weak case: with the range 4-10, 7-13% of such strings come out entirely right
(most finals are no-match or too short), 43-70% when told the true length.
When the island count cannot be made to fit [min, max] (digits run together), the whole
utterance is decoded with every token but " 0".." 9" suppressed (beam 3, exactly N positions
when min == max), unless there is too little voiced audio for `min` digits (no-match). That
decode alone is not trusted: tiny.en drops the first words of run-together digits and the
forced length pads the end (espeak-ng "nine nine one two three four" -> "1 2 3 4" + "3 4",
confidence 0.76). So too few islands are also split at their deepest energy dips
(`_split_to`) and scored one digit each. The whole utterance is first decoded with the end of
the transcript allowed (forcing the length can change a right reading: en-gb "four oh eight
one seven two" is 408172 unforced, 481724 forced to six); when that falls short of `min`, it
is decoded forced to length. When the islands read otherwise, the unforced reading stands if
it starts with the same digit (the split misplaced a boundary: "four oh" has no dip) and does
not stutter (`_stutters`: on an AVX2-only CPU, CTranslate2 choosing its kernels by CPU, tiny.en
read en-gb "five five five one two one two" unforced as 5555121); otherwise (forced, lost the
start: 123434 even unforced on a live call, or stuttered) island scores + `whole_weight` x the
whole-utterance score pick one, with the lower of the two confidences
(tests/speech/test_grammar.py; fixtures in tests/data/speech).

Mandarin (a model view `WhisperModel.for_language("zh")`): the same grammars with Chinese
candidates: phrases as written (no leading space), yes/no from `ZH_YES_NO`, digits as 零..九
with 〇 幺 两 and the Arabic numeral as spellings of the same digit, and digit strings forced
digit by digit ("4", "0", "8": "408" alone would be one token). Two things differ from English,
both found on takes 1-2 of one speaker's real numbers (8 kHz G.711; BENCHMARKS.md "Mandarin"):
* The encoder window is Whisper's full 30 s (`window_unspaced`), not one fitted to the word:
  Whisper base hears an isolated Mandarin syllable far worse in a short window (menu words and
  single digits: 31-33/42 right at 1.5-5 s, 36 at 15-20 s, 37-38 at 30 s). The errors of the
  fitted window were systematic (二 -> 八, 零 -> 六, 六 -> 九, 三 -> 四) and did not come from the
  scoring: the numeral and alias spellings add little mass (the characters carry it), scoring
  without them, with each option's score on silence or hiss subtracted (calibration), with
  every homophone of the digit's pinyin pooled, with the audio's peak normalised, in float32
  instead of int8, or with other prompts left the same errors; at 16 kHz without the telephone
  line they were nearly the same (二 -> 八 stays), so the 8 kHz path is not the cause either.
* A digit string is read by the whole utterance (`_zh_digits`): digits-only beam decoding in
  one 30 s window proposes, the islands (short windows, as in English) propose their reading
  and runner-ups, and the whole utterance's teacher-forced score plus the islands' score picks.
  Islands alone kept the errors of the short window in every digit (4 digits: 6/10 strings
  right, 8 digits: 1/10); the whole utterance hears each digit in context (9-10/10, 7/10).
  Its weak case is a digit said twice in a row (77 -> 7 and a digit padded at the end).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from voicebot.dialog.expectation import Expectation
from voicebot.lang import is_mandarin
from voicebot.speech.model import SAMPLE_RATE, WhisperModel, max_length_for

log = logging.getLogger(__name__)

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ZERO_ALIASES = ("oh",)
YES_NO: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("yes", ("yes", "yeah", "yep", "sure", "correct", "that's right", "right")),
    ("no", ("no", "nope", "nah", "not really", "wrong", "incorrect")),
)
# Mandarin (a model view `for_language("zh")`): the same grammars in characters. Whisper writes
# a spoken digit as a character or an Arabic numeral: both spellings are scored.
ZH_DIGIT_WORDS = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九")
ZH_DIGIT_ALIASES = {0: ("〇",), 1: ("幺",), 2: ("两",)}
ZH_YES_NO: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("yes", ("是", "是的", "对", "对的", "好", "好的", "可以", "没问题", "嗯", "行")),
    ("no", ("不", "不是", "不对", "不用", "不要", "算了", "没有")),
)
_ZH_DIGIT_OF = {w: d for d, w in enumerate(ZH_DIGIT_WORDS)} | {
    a: d for d, aliases in ZH_DIGIT_ALIASES.items() for a in aliases
}


@dataclass(frozen=True)
class GrammarSettings:
    lead: float = 0.3  # silence put before each island / utterance (s): +2.3 points on FSDD
    island_window: float = 1.5  # encoder window for one digit (s)
    island_reach: float = 0.25  # audio kept each side of an island, up to mid-gap (s)
    # voiced: this far from the noise floor to the peak (dB); higher ones are tried in turn
    # when line noise fills the pauses and too few islands are found
    island_thresholds: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5)
    min_in_grammar: float = 0.05  # below this mass of all phrases: no-match
    min_in_grammar_digit: float = 0.02  # the same for one spoken digit (FSDD errors: 0.07-0.3)
    min_island: float = 0.06  # voiced islands shorter than this are clicks (s)
    island_gap: float = 0.12  # silence that separates two spoken digits (s)
    digits_beam: int = 3
    min_digit_seconds: float = 0.2  # voiced time a spoken digit takes at least (s)
    unsure_below: float = 0.8  # digit posteriors under this get a second opinion
    whole_weight: float = 0.5  # weight of the whole-utterance score in the second opinion
    max_phrases_unspaced: int = 14  # Mandarin: candidates scored per answer (`_fewest_phrases`)
    # Mandarin: Whisper base hears an isolated syllable far better in the 30 s window it was
    # trained on than in a window fitted to the word (`_window`; takes 1-2 of the real numbers,
    # 8 kHz: 31-33/42 words right at 1.5-5 s, 36 at 15-20 s, 37-38 at 30 s)
    window_unspaced: float = 30.0
    runner_ups_unspaced: int = 4  # Mandarin strings: unsure island digits swapped (`_zh_digits`)
    island_weight_unspaced: float = 1.0  # Mandarin strings: weight of the islands' score


@dataclass(frozen=True)
class GrammarResult:
    text: str  # "" on no-match; the option's first phrase, "yes"/"no", or the digits
    option: str | None  # the option name (menu, choice, yes_no); None for digits / no-match
    confidence: float  # posterior of the answer among the candidates, 0..1
    in_grammar: float  # probability mass of the grammar's candidates (min over digits)
    method: str  # "phrases", "islands", "constrained" or "none"


PROMPT_TOKENS = 24  # the longest phrase list put before every candidate
NO_MATCH = GrammarResult("", None, 0.0, 0.0, "none")


def options_for(expect: Expectation) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The (option, phrases) the grammar of `expect` chooses among (empty for digit strings)."""
    if expect.kind == "yes_no":
        base = ZH_YES_NO if is_mandarin(expect.language) else YES_NO
    elif expect.kind in ("menu", "choice"):
        base = expect.options
    else:
        return ()
    extra = tuple((phrase, (phrase,)) for phrase in expect.global_phrases)
    return tuple(base) + extra


# -- phrase scoring ----------------------------------------------------------------------------
def _spellings(model: WhisperModel, phrase: str) -> list[tuple[int, ...]]:
    words = phrase.strip()
    if not model.spaced:  # Mandarin: a transcript starts with the characters themselves
        forms = {words}
        if words in _ZH_DIGIT_OF:
            forms.add(str(_ZH_DIGIT_OF[words]))
        return sorted({tuple(model.encode_text(form)) for form in forms})
    forms = {" " + words, " " + words[:1].upper() + words[1:]}
    if words.lower() in DIGIT_WORDS:
        forms.add(f" {DIGIT_WORDS.index(words.lower())}")
    return sorted({tuple(model.encode_text(form)) for form in forms})


def _joined(model: WhisperModel, phrases) -> str:
    """Phrases as a previous-text prompt: "a, b" or, in Mandarin, "甲、乙" (、 is one token,
    ，three)."""
    return (", " if model.spaced else "、").join(phrases)


def _digit_tokens(model: WhisperModel, digits: str) -> list[int]:
    """A digit string as the decoder writes it digit by digit: " 4 0 8" or, in Mandarin,
    "4", "0", "8" (one token each: "408" would be a single token)."""
    if model.spaced:
        return model.encode_text(" " + " ".join(digits))
    return [model.encode_text(d)[0] for d in digits]


def _score_phrases(
    model: WhisperModel,
    encoded,
    start: list[int],
    options: Sequence[tuple[str, Sequence[str]]],
) -> list[tuple[np.ndarray, float]]:
    """For each item of the batch in `encoded`: (option log-scores, in-grammar mass)."""
    cands = [
        (i, sp) for i, (_, ps) in enumerate(options) for p in ps for sp in _spellings(model, p)
    ]
    seqs = {sp for _, sp in cands}
    # a phrase needs the end-of-transcript row only if it is a token prefix of another phrase
    needs_end = {sp: any(o != sp and o[: len(sp)] == sp for o in seqs) for sp in seqs}
    forced = {sp if needs_end[sp] else sp[:-1] for sp in seqs}
    prompts = sorted(f for f in forced if not any(o != f and o[: len(f)] == f for o in forced))
    rows = max(len(p) for p in prompts) + 1
    batch = encoded.shape[0]
    lps = model.position_logprobs(
        model.repeat_each(encoded, len(prompts)), [start + list(p) for p in prompts] * batch, rows
    )
    items: list[tuple[np.ndarray, float]] = []
    for b in range(batch):
        table = dict(zip(prompts, lps[b * len(prompts) : (b + 1) * len(prompts)], strict=True))
        scores = np.full(len(options), -np.inf)
        for i, sp in cands:
            need = sp if needs_end[sp] else sp[:-1]
            lp = table[next(p for p in prompts if p[: len(need)] == need)]
            total = float(sum(lp[k, tok] for k, tok in enumerate(sp)))
            if needs_end[sp]:
                total += float(np.logaddexp.reduce(lp[len(sp), model.endings]))
            scores[i] = np.logaddexp(scores[i], total)
        items.append((scores, float(np.exp(np.logaddexp.reduce(scores)))))
    return items


def _prompt_text(model: WhisperModel, options: Sequence[tuple[str, Sequence[str]]]) -> str:
    """Every phrase, or only each option's first when that is long: every batch item repeats
    the prompt (yes/no with all 13 phrases: ~55 ms to score against ~30 ms without a prompt)."""
    every = _joined(model, [p for _, ps in options for p in ps])
    if len(model.encode_text(" " + every)) <= PROMPT_TOKENS:
        return every
    firsts = [ps[0] for _, ps in options if ps]
    if model.spaced:
        return _joined(model, firsts)
    # a Chinese character is 1-3 tokens and every batch item repeats the prompt (a support
    # line's menu with its globals came to 94 tokens, ~4 s a word): as many as fit
    kept: list[str] = []
    for phrase in firsts:
        if len(model.encode_text(_joined(model, [*kept, phrase]))) > PROMPT_TOKENS:
            break
        kept.append(phrase)
    return _joined(model, kept)


def _window(model: WhisperModel, seconds: float, settings: GrammarSettings) -> float:
    """The encoder window for `seconds` of audio: fitted to it, or in Mandarin the full 30 s."""
    return min(max(seconds, settings.window_unspaced if not model.spaced else 0.0), 30.0)


def _lead(audio: np.ndarray, lead: float, longest: float = 29.0) -> np.ndarray:
    """`lead` seconds of silence, then at most `longest` - `lead` seconds of `audio`."""
    kept = audio[: int((longest - lead) * SAMPLE_RATE)]
    return np.concatenate([np.zeros(int(lead * SAMPLE_RATE), np.float32), kept])


def _fewest_phrases(
    options: Sequence[tuple[str, Sequence[str]]], most: int
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """At most `most` phrases in all: every option's first phrase, then every option's second,
    and so on. Whisper base scores a candidate at ~40-80 ms here (each is a batch item, the
    cost of its vocabulary projection), and a support line's menu with its globals has 25; a
    phrase left out is still understood from free text by the dialog's matcher."""
    kept: dict[int, list[str]] = {i: [] for i in range(len(options))}
    depth, count = 0, 0
    while count < most and any(depth < len(ps) for _, ps in options):
        for i, (_, ps) in enumerate(options):
            if depth < len(ps) and count < most:
                kept[i].append(ps[depth])
                count += 1
        depth += 1
    return tuple((name, tuple(kept[i])) for i, (name, _) in enumerate(options) if kept[i])


def recognize_phrases(
    model: WhisperModel,
    audio: np.ndarray,
    options: Sequence[tuple[str, Sequence[str]]],
    window: float,
    settings: GrammarSettings = GrammarSettings(),
) -> GrammarResult:
    """The best option for `audio` (16 kHz float32), or no-match."""
    if not model.spaced:
        options = _fewest_phrases(options, settings.max_phrases_unspaced)
    audio = _lead(audio, settings.lead)
    encoded = model.encode(
        [model.features(audio, _window(model, window + settings.lead, settings))]
    )
    start = model.start_with_prompt(_prompt_text(model, options))
    scores, mass = _score_phrases(model, encoded, start, options)[0]
    return _pick(scores, mass, options, settings, "phrases")


def _pick(scores, mass, options, settings, method) -> GrammarResult:
    floor = settings.min_in_grammar_digit if method == "islands" else settings.min_in_grammar
    if mass < floor:
        return GrammarResult("", None, 0.0, mass, method)
    posterior = np.exp(scores - np.logaddexp.reduce(scores))
    best = int(np.argmax(scores))
    name, phrases = options[best]
    return GrammarResult(phrases[0], name, float(posterior[best]), mass, method)


# -- digit strings -----------------------------------------------------------------------------
def segment_words(
    audio: np.ndarray,
    gap: float = 0.12,
    min_len: float = 0.06,
    threshold: float = 0.2,
    hop: float = 0.01,
) -> list[tuple[int, int]]:
    """Voiced islands of `audio` as (start, end) sample indices, by 10 ms frame energy against
    a threshold `threshold` of the way from the noise floor (10th percentile) to the peak
    (99th), in dB. On 60 FSDD 8-digit strings, 0.15-0.2 gave 95% of strings right, 0.3 90%:
    a higher threshold clips the weak onsets of "five", "six", "three"."""
    h = int(hop * SAMPLE_RATE)
    n = len(audio) // h
    if n == 0:
        return []
    energy = 10 * np.log10(np.mean(audio[: n * h].reshape(n, h) ** 2, axis=1) + 1e-10)
    floor, peak = np.percentile(energy, 10), np.percentile(energy, 99)
    if peak - floor < 10:  # no island stands 10 dB above the floor: nothing was said
        return []
    voiced = np.flatnonzero(energy > floor + threshold * (peak - floor))
    islands: list[list[int]] = []
    for i in voiced:
        if islands and (i - islands[-1][1]) * hop <= gap:
            islands[-1][1] = int(i)
        else:
            islands.append([int(i), int(i)])
    return [(s * h, (e + 1) * h) for s, e in islands if (e - s + 1) * hop >= min_len]


def _merge_to(islands: list[tuple[int, int]], count: int) -> list[tuple[int, int]]:
    """Merge the two islands with the shortest gap until `count` remain."""
    out = list(islands)
    while len(out) > count:
        k = min(range(len(out) - 1), key=lambda i: out[i + 1][0] - out[i][1])
        out[k : k + 2] = [(out[k][0], out[k + 1][1])]
    return out


def _digit_options(model: WhisperModel) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not model.spaced:
        return tuple(
            (str(d), (w, *ZH_DIGIT_ALIASES.get(d, ()))) for d, w in enumerate(ZH_DIGIT_WORDS)
        )
    return tuple(
        (str(d), (w, *(ZERO_ALIASES if d == 0 else ()))) for d, w in enumerate(DIGIT_WORDS)
    )


def recognize_digits(
    model: WhisperModel,
    audio: np.ndarray,
    min_digits: int,
    max_digits: int,
    settings: GrammarSettings = GrammarSettings(),
) -> GrammarResult:
    islands: list[tuple[int, int]] = []
    for threshold in settings.island_thresholds:
        islands = segment_words(audio, settings.island_gap, settings.min_island, threshold)
        if len(islands) > max_digits:
            islands = _merge_to(islands, max_digits)
        if not islands and max_digits == 1:  # all speech, no floor to stand out from
            islands = [(0, len(audio))]
        if min_digits <= len(islands) <= max_digits:
            if not model.spaced and len(islands) > 1:
                return _zh_digits(model, audio, islands, min_digits, max_digits, settings)
            return _score_islands(model, audio, islands, settings)
    voiced = sum(e - s for s, e in islands) / SAMPLE_RATE
    if not islands or voiced < settings.min_digit_seconds * min_digits:
        return NO_MATCH  # too little speech for that many digits: do not invent the rest
    natural = _constrained_digits(model, audio, 1, max_digits, settings)  # may end early
    whole = natural
    if len(natural.text) < min_digits:
        whole = _constrained_digits(model, audio, min_digits, max_digits, settings)
        if whole.text and len(natural.text) == min_digits - 1:
            whole = _one_dropped(model, audio, natural, whole, settings)
    if len(islands) > max_digits:
        return whole
    split = _split_to(audio, islands, min_digits, settings.min_digit_seconds)
    if len(split) != min_digits:
        return whole
    parts = _score_islands(model, audio, split, settings)
    if not parts.text or parts.text == whole.text:
        return whole if whole.text else parts
    if not whole.text:
        return parts
    if whole is natural and whole.text[0] == parts.text[0] and not _stutters(whole, parts):
        return whole  # unforced and it kept the start: the split misplaced a boundary
    # forced to length, lost the start or stuttered: islands + whole decide
    cands = [parts.text, whole.text]
    said = _whole_scores(model, audio, cands, settings)
    if len(whole.text) != len(split):  # a longer reading (4-10 digits): islands cannot score it
        scores = said
    else:
        table = _island_table(model, audio, split, settings)[0]
        scores = [
            sum(table[k, int(d)] for k, d in enumerate(c)) + settings.whole_weight * w
            for c, w in zip(cands, said, strict=True)
        ]
    if log.isEnabledFor(logging.DEBUG):
        log.debug("digits by islands %s / whole %s: %s", *cands, scores)
    best = parts if scores[0] >= scores[1] else whole
    confidence = min(parts.confidence, whole.confidence)
    return GrammarResult(best.text, None, confidence, best.in_grammar, "split")


def _one_dropped(model, audio, natural, forced, settings) -> GrammarResult:
    """The unforced reading is one digit short: Whisper dropped a digit somewhere ("four oh
    eight" -> 48172, the "oh" gone), while forcing the length often pads the end instead
    (481724). Every way of putting one digit back into the unforced reading competes with the
    forced reading on the whole utterance."""
    text = natural.text
    cands = sorted({text[:i] + d + text[i:] for i in range(len(text) + 1) for d in "0123456789"})
    cands = [forced.text, *(c for c in cands if c != forced.text)]
    scores = _whole_scores(model, audio, cands, settings)
    best = cands[int(np.argmax(scores))]
    if best == forced.text:
        return forced
    return GrammarResult(
        best, None, min(natural.confidence, forced.confidence), forced.in_grammar, "constrained"
    )


def _stutters(whole: GrammarResult, parts: GrammarResult) -> bool:
    """The whole decode repeats a digit more times in a row than the islands heard: Whisper's
    loop (5555121 for "five five five one two one two", islands 5551212)."""

    def longest(text: str) -> int:
        return max(len(list(run)) for _, run in itertools.groupby(text))

    return longest(whole.text) > longest(parts.text)


def _split_to(
    audio: np.ndarray, islands: list[tuple[int, int]], count: int, shortest: float
) -> list[tuple[int, int]]:
    """Split islands at their deepest energy dips until `count` remain: digits said without
    pauses ("nine nine one two three four" by espeak-ng is one island) still dip between
    words. A dip must leave at least `shortest` seconds each side; fewer islands come back when
    no such dip is left."""
    h = SAMPLE_RATE // 100
    n = len(audio) // h
    energy = 10 * np.log10(np.mean(audio[: n * h].reshape(n, h) ** 2, axis=1) + 1e-10)
    energy = np.convolve(energy, np.ones(3) / 3, mode="same")
    edge = max(1, int(shortest * 100))
    out = list(islands)
    while len(out) < count:
        best: tuple[float, int, int] | None = None
        for k, (s, e) in enumerate(out):
            a, b = s // h, e // h
            for i in range(a + edge, b - edge):
                if energy[i] <= energy[i - 1] and energy[i] <= energy[i + 1]:
                    depth = float(min(energy[a:i].max(), energy[i:b].max()) - energy[i])
                    if best is None or depth > best[0]:
                        best = (depth, k, i)
        if best is None:
            return out
        _, k, i = best
        s, e = out[k]
        out[k : k + 1] = [(s, i * h), (i * h, e)]
    return out


def _whole_encoded(model, audio, settings):
    """The encoder output of the whole utterance (with its lead) in its window."""
    whole = _lead(audio, settings.lead)
    window = _window(model, len(whole) / SAMPLE_RATE + 0.5, settings)
    return model.encode([model.features(whole, window)])


def _sequence_scores(model, encoded, seqs: list[list[int]]) -> list[float]:
    """Log-probability of each token sequence teacher-forced on one encoded utterance (end of
    transcript included)."""
    rows = max(len(q) for q in seqs) + 1
    lps = model.position_logprobs(
        model.repeat_each(encoded, len(seqs)), [model.start + q for q in seqs], rows
    )
    return [
        float(
            sum(lp[k, t] for k, t in enumerate(q)) + np.logaddexp.reduce(lp[len(q), model.endings])
        )
        for q, lp in zip(seqs, lps, strict=True)
    ]


def _zh_spelled(model, digits: str) -> list[int]:
    """A digit string in characters, 五八三九: what Whisper writes for digits said alone."""
    return [t for d in digits for t in model.encode_text(ZH_DIGIT_WORDS[int(d)])]


def _whole_scores(model, audio, strings: list[str], settings) -> list[float]:
    """Log-probability of each digit string, teacher-forced as " 4 0 8 ..." on the whole
    utterance (end of transcript included)."""
    seqs = [_digit_tokens(model, s) for s in strings]
    return _sequence_scores(model, _whole_encoded(model, audio, settings), seqs)


def _zh_digits(model, audio, islands, min_digits, max_digits, settings) -> GrammarResult:
    """Mandarin digit strings. An island alone in a short window is a syllable without
    context, and Whisper base misreads this speaker's 二 as 八 and 零 as 六 there whatever the
    scoring (takes 1-2 of the real numbers); the whole utterance in its 30 s window reads
    them. So the whole utterance decodes (digits only, `len(islands)` of them, beam
    `digits_beam`, every hypothesis kept), the islands propose their reading and its
    runner-ups at the least sure digits, and the whole utterance's teacher-forced score
    (+ `island_weight_unspaced` x the islands' score) picks among them."""
    n = len(islands)
    encoded = _whole_encoded(model, audio, settings)
    cands = _decoded_digits(model, encoded, n, settings)
    scored = _island_table(model, audio, islands, settings)
    table = None if isinstance(scored, GrammarResult) else scored[0]
    if table is not None:
        best = tuple(int(d) for d in table.argmax(axis=1))
        order = np.argsort(table.max(axis=1))[: settings.runner_ups_unspaced]
        runner_up = np.argsort(-table, axis=1)[:, 1]
        for r in range(len(order) + 1):
            for combo in itertools.combinations(order, r):
                c = tuple(int(runner_up[k]) if k in combo else d for k, d in enumerate(best))
                cands.append("".join(map(str, c)))
    cands = sorted({c for c in cands if min_digits <= len(c) <= max_digits})
    if not cands:
        return NO_MATCH
    # each string spelled in numerals (as decoded) and in characters (as Whisper writes digits
    # said one by one): the two spellings' probabilities add up
    numerals = _sequence_scores(model, encoded, [_digit_tokens(model, c) for c in cands])
    characters = _sequence_scores(model, encoded, [_zh_spelled(model, c) for c in cands])
    said = np.logaddexp(numerals, characters)
    scores = said.copy()
    if table is not None:
        scores += settings.island_weight_unspaced * np.array(
            [sum(table[k, int(d)] for k, d in enumerate(c)) if len(c) == n else 0.0 for c in cands]
        )
    best_k = int(np.argmax(scores))
    posterior = np.exp(scores - np.logaddexp.reduce(scores))
    mass = float(np.exp(said[best_k]))
    if log.isEnabledFor(logging.DEBUG):
        log.debug("zh digits %s", sorted(zip(scores.round(2), cands, strict=True))[-4:])
    return GrammarResult(cands[best_k], None, float(posterior[best_k]), mass, "whole")


def _decoded_digits(model, encoded, n: int, settings) -> list[str]:
    """Digits-only beam decoding of `n` digits on an encoded utterance: every hypothesis."""
    digit_tokens = _digit_tokens(model, "0123456789")
    value = {t: str(d) for d, t in enumerate(digit_tokens)}
    suppress = [t for t in range(model.vocab_size) if t not in value]
    start = model.start
    results = model.ct2.generate(
        encoded,
        [start],
        beam_size=settings.digits_beam,
        num_hypotheses=settings.digits_beam,
        max_length=max_length_for(len(start), n),
        suppress_blank=False,
        suppress_tokens=suppress,
    )[0]
    return ["".join(value[t] for t in seq if t in value) for seq in results.sequences_ids]


def _island_table(model, audio, islands, settings):
    """Per-island digit log posteriors and the least in-grammar mass, or the no-match."""
    reach = int(settings.island_reach * SAMPLE_RATE)
    cut = int((settings.island_window - settings.lead) * SAMPLE_RATE)
    # a Mandarin digit alone has its 30 s window; in a string, the whole utterance decides
    # (`_zh_digits`) and the islands only propose
    alone = len(islands) == 1 and not model.spaced
    island_window = (
        _window(model, settings.island_window, settings) if alone else settings.island_window
    )
    bounds = [0, *(b for isl in islands for b in isl), len(audio)]
    mels = []
    for k, (s, e) in enumerate(islands):
        before, after = bounds[2 * k], bounds[2 * k + 3]  # end of previous, start of next
        lo, hi = s - min(reach, (s - before) // 2), e + min(reach, (after - e) // 2)
        piece = audio[max(0, lo) : min(len(audio), hi)][:cut]
        mels.append(model.features(_lead(piece, settings.lead), island_window))
    encoded = model.encode(mels)
    options = _digit_options(model)
    start = model.start_with_prompt(_joined(model, DIGIT_WORDS if model.spaced else ZH_DIGIT_WORDS))
    posteriors, mass = [], 1.0
    for scores, in_grammar in _score_phrases(model, encoded, start, options):
        if in_grammar < settings.min_in_grammar_digit:
            return GrammarResult("", None, 0.0, in_grammar, "islands")
        posteriors.append(scores - np.logaddexp.reduce(scores))
        mass = min(mass, in_grammar)
    return np.array(posteriors), mass  # (digits, 10) log posteriors, least in-grammar mass


def _score_islands(model, audio, islands, settings) -> GrammarResult:
    scored = _island_table(model, audio, islands, settings)
    if isinstance(scored, GrammarResult):
        return scored
    table, mass = scored
    best = tuple(int(d) for d in table.argmax(axis=1))
    if len(best) > 1:
        best = _second_opinion(model, audio, table, best, settings)
    confidence = float(np.exp(sum(table[k, d] for k, d in enumerate(best))))
    return GrammarResult("".join(map(str, best)), None, confidence, mass, "islands")


def _second_opinion(model, audio, table, best, settings) -> tuple[int, ...]:
    """Rescore the strings that swap the runner-up in at the least sure digits (posterior
    < `unsure_below`, at most 3: <= 8 strings) with the whole utterance as context, teacher-
    forced as " 4 6 9 ..."; the string with the best island + `whole_weight` x whole score
    wins. On 70 FSDD 8-digit strings (half with line noise): 46 -> 50 right, ~80 ms."""
    order = np.argsort(table.max(axis=1))
    unsure = [int(k) for k in order[:3] if table[k].max() < np.log(settings.unsure_below)]
    if not unsure:
        return best
    runner_up = np.argsort(-table, axis=1)[:, 1]
    cands = [best]
    for r in range(1, len(unsure) + 1):
        for combo in itertools.combinations(unsure, r):
            cands.append(tuple(int(runner_up[k]) if k in combo else d for k, d in enumerate(best)))
    said = _whole_scores(model, audio, ["".join(map(str, c)) for c in cands], settings)
    scores = [
        sum(table[k, d] for k, d in enumerate(c)) + settings.whole_weight * w
        for c, w in zip(cands, said, strict=True)
    ]
    return cands[int(np.argmax(scores))]


def _constrained_digits(model, audio, min_digits, max_digits, settings) -> GrammarResult:
    digit_tokens = _digit_tokens(model, "0123456789")
    value = {t: str(d) for d, t in enumerate(digit_tokens)}
    allowed = set(value) | ({model.eot} if min_digits < max_digits else set())
    suppress = [t for t in range(model.vocab_size) if t not in allowed]
    audio = _lead(audio, settings.lead)
    window = _window(model, len(audio) / SAMPLE_RATE + 0.5, settings)
    encoded = model.encode([model.features(audio, window)])
    start = model.start
    result = model.ct2.generate(
        encoded,
        [start],
        beam_size=settings.digits_beam,
        max_length=max_length_for(len(start), max_digits),
        return_scores=True,
        suppress_blank=False,
        suppress_tokens=suppress,
    )[0]
    tokens = result.sequences_ids[0]
    digits = "".join(value[t] for t in tokens if t in value)
    if not min_digits <= len(digits) <= max_digits:
        return GrammarResult("", None, 0.0, 0.0, "constrained")
    confidence = float(np.exp(result.scores[0])) if result.scores else 0.0
    return GrammarResult(digits, None, confidence, confidence, "constrained")


def recognize(
    model: WhisperModel,
    audio: np.ndarray,
    expect: Expectation,
    window: float,
    settings: GrammarSettings = GrammarSettings(),
) -> GrammarResult:
    """Grammar-mode recognition of `audio` for a closed `expect` (see `Expectation.is_closed`)."""
    if expect.kind == "digits" and expect.max_digits is not None:
        low = expect.min_digits if expect.min_digits is not None else 1
        return recognize_digits(model, audio, low, expect.max_digits, settings)
    options = options_for(expect)
    if not options:
        return NO_MATCH
    if expect.kind == "yes_no" and not model.spaced:
        # Mandarin yes/no keeps the fitted window: the 30 s one (measured on numbers and menu
        # words only) made espeak-ng's 是的 / 不用了 no-matches over real SIP
        # (tests/test_serve_mandarin.py), which the fitted window recognised
        settings = dataclasses.replace(settings, window_unspaced=0.0)
    return recognize_phrases(model, audio, options, window, settings)
