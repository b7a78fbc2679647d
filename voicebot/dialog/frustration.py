"""How frustrated the caller seems: an estimate after every caller turn, 0..1 with its reasons.

Sans-IO: `Frustration.observe(CallerTurn(...))` takes what one turn was (the words, what the
dialog made of them, how the voice sounded) and returns an `Estimate`; nothing is read from a
clock, a file or a socket (the sentiment models are loaded once per process, on first use).

Three kinds of evidence, each a number in 0..1 scaled by its weight (`Weights`):
- the words: sentiment (vaderSentiment for English, snownlp for Chinese; `turn.sentiment`,
  -1..1) and a cue lexicon per language ("this is useless", "I already told you", profanity;
  投诉, 气死了, 没用, 听不懂, 我说了, ...), and asking for a person (agent, 转人工);
- the dialog: failed turns in a row (no-match, no-input, a question not answered), the same
  intent asked for again, barging into the same step's prompt again;
- the voice: the turn's loudness (RMS dBFS) and pitch above the caller's own first turns
  (speech/prosody.py measures them per turn, never per frame).

The turn's evidence is combined as a noisy OR (each reason alone can raise the estimate, two
together more), and the call's level carries over from turn to turn: a calm, successful turn
lets it fall back (`carry_calm`), a failed one keeps most of it (`carry_failed`):

    level = 1 - (1 - carry * previous level) * (1 - evidence of this turn)

The weights were set on the flows' own escalation tests (dialog_flows/*_escalation.test.yaml);
bench/escalation_data.py's conversations, written afterwards and never used to set anything,
score them: BENCHMARKS.md, "Escalation".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from voicebot.lang import is_mandarin

FAILED = ("no_match", "no_input", "no_answer")  # outcomes of a turn that got the caller nowhere


@dataclass(frozen=True)
class Prosody:
    """The voice of one caller turn: loudness (RMS, dBFS) and median pitch (Hz, None when no
    voiced frame was found)."""

    rms_db: float
    pitch_hz: float | None = None


@dataclass(frozen=True)
class CallerTurn:
    """One caller turn as the dialog saw it."""

    text: str = ""
    language: str = "en"
    outcome: str = "matched"  # matched | no_match | no_input | no_answer | agent | repeat | ...
    intent: str | None = None  # what it was understood as (an intent or a menu option)
    step: str = ""
    barged_in: bool = False  # the caller spoke over the step's prompt
    prosody: Prosody | None = None


@dataclass(frozen=True)
class Estimate:
    level: float  # 0..1: `call.frustration` after this turn
    sentiment: float  # -1..1: `turn.sentiment` (0 for keys and silence)
    reasons: tuple[str, ...]  # this turn's evidence, strongest first


@dataclass(frozen=True)
class Weights:
    cue: float = 0.6  # a cue phrase ("this is useless", 气死了)
    profanity: float = 0.5
    agent: float = 0.35  # asking for a person
    sentiment: float = 0.35  # at the most negative sentiment
    sentiment_floor: float = 0.3  # sentiment above -floor says nothing ("no thanks" is -0.34)
    failed: tuple[float, ...] = (0.15, 0.4, 0.6)  # 1, 2, 3+ failed turns in a row
    silent: float = 0.5  # a no-input counts this much of a failed turn (the line, not the mood)
    repeated_intent: float = 0.25
    barge_in: float = 0.2  # barging into the same step's prompt again
    louder: float = 0.35  # at `louder_db` above the caller's first turns
    louder_from_db: float = 4.0
    louder_db: float = 12.0
    higher: float = 0.2  # pitch at `higher_ratio` of the caller's first turns
    higher_from: float = 1.1
    higher_ratio: float = 1.4
    baseline_turns: int = 2  # the caller's first turns with voice set their own baseline
    carry_calm: float = 0.5
    carry_failed: float = 0.85


WEIGHTS = Weights()


class SentimentModel(Protocol):
    def polarity(self, text: str, language: str) -> float:
        """-1 (negative) .. 1 (positive)."""
        ...


class LexiconSentiment:
    """vaderSentiment for English, snownlp for Chinese (both MIT, their data in the package)."""

    def polarity(self, text: str, language: str) -> float:
        if not text.strip():
            return 0.0
        if is_mandarin(language):
            return 2.0 * _snownlp()(text).sentiments - 1.0
        return float(_vader().polarity_scores(text)["compound"])


@lru_cache(maxsize=1)
def _vader():  # type: ignore[no-untyped-def]
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=1)
def _snownlp():  # type: ignore[no-untyped-def]
    from snownlp import SnowNLP  # loads its models (~2-5 s): once per process

    return SnowNLP


def warm(languages: list[str]) -> None:
    """Load the sentiment models the languages need (a worker does it before taking calls)."""
    model = LexiconSentiment()
    for language in languages:
        model.polarity("ok", language)


def _phrases(*words: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.I)


# what frustrated callers say (English: word-bounded, case-insensitive; Chinese: substrings)
CUES = {
    "en": _phrases(
        r"useless",
        r"(?:a )?waste of (?:my )?time",
        r"(?:i )?(?:already|just) (?:told|said|gave) (?:you|that|it)",
        r"i told you",
        r"(?:you'?re|you are) not listening",
        r"(?:you )?(?:don'?t|do not|can'?t|cannot) understand(?: me| anything)?",
        r"are you deaf",
        r"how many times",
        r"ridiculous",
        r"terrible",
        r"pathetic",
        r"frustrat\w*",
        r"annoy\w*",
        r"sick (?:and tired )?of",
        r"fed up",
        r"for (?:god'?s|heaven'?s|pete'?s) sake",
        r"complain\w*",
        r"(?:this|it) (?:is not|isn'?t|doesn'?t|does not) work\w*",
        r"(?:i )?hate (?:this|you|these)",
        r"stupid (?:machine|robot|bot|system|thing)",
        r"what is wrong with you",
        r"listen to me",
        r"unbelievable",
    ),
    "zh": re.compile(
        "投诉|气死|没用|听不懂|我说了|说过了|说了多少遍|说了好几遍|烦死|有完没完|太差|浪费时间"
        "|搞什么|受不了|什么破|不要机器人|别再问|你听我说|到底|怎么回事|无语|垃圾系统|太慢了"
    ),
}
PROFANITY = {
    "en": _phrases(
        r"damn\w*",
        r"hell",
        r"shit\w*",
        r"fuck\w*",
        r"crap\w*",
        r"bloody",
        r"idiot\w*",
        r"stupid",
        r"dumb",
        r"bullshit",
        r"goddamn\w*",
    ),
    "zh": re.compile("他妈|妈的|尼玛|垃圾|废物|混蛋|傻逼|有病|滚"),
}
AGENT = {
    "en": _phrases(
        r"agent",
        r"operator",
        r"representative",
        r"(?:a )?human",
        r"(?:a )?real person",
        r"(?:a )?person",
        r"someone",
        r"somebody",
        r"manager",
        r"supervisor",
    ),
    "zh": re.compile("人工|客服|真人|接线员|经理|找个人"),
}


def _lang(language: str) -> str:
    return "zh" if is_mandarin(language) else "en"


def _found(pattern: re.Pattern[str], text: str) -> list[str]:
    return [m.group(0).lower() for m in pattern.finditer(text)]


def _clamp(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


@dataclass
class Frustration:
    """The running estimate of one call."""

    sentiment: SentimentModel = field(default_factory=LexiconSentiment)
    weights: Weights = WEIGHTS
    level: float = 0.0
    reasons: tuple[str, ...] = ()  # of the last turn
    failed_in_a_row: int = 0
    intents: set[str] = field(default_factory=set)
    barged: dict[str, int] = field(default_factory=dict)  # step -> barge-ins into its prompt
    baseline: list[Prosody] = field(default_factory=list)

    def observe(self, turn: CallerTurn) -> Estimate:
        w = self.weights
        lang = _lang(turn.language)
        evidence: list[tuple[float, str]] = []
        text = turn.text
        polarity = self.sentiment.polarity(text, turn.language) if text.strip() else 0.0
        cues = _found(CUES[lang], text)
        if cues:  # each further cue adds half as much again
            strength = w.cue * (1.0 - 0.5 ** len(cues)) * 2.0
            evidence.append((min(strength, 1.0), "said " + ", ".join(repr(c) for c in cues)))
        swear = _found(PROFANITY[lang], text)
        if swear:
            evidence.append((w.profanity, "swore (" + ", ".join(swear) + ")"))
        if turn.outcome == "agent" or _found(AGENT[lang], text):
            evidence.append((w.agent, "asked for a person"))
        negative = _clamp((-polarity - w.sentiment_floor) / (1.0 - w.sentiment_floor))
        if negative > 0:
            evidence.append((w.sentiment * negative, f"negative words ({polarity:+.2f})"))
        failed = turn.outcome in FAILED
        self.failed_in_a_row = self.failed_in_a_row + 1 if failed else 0
        if failed:
            n = self.failed_in_a_row
            strength = w.failed[min(n, len(w.failed)) - 1]
            if turn.outcome == "no_input":
                strength *= w.silent
            evidence.append((strength, f"{n} failed turn(s) in a row"))
        if turn.intent and not failed:
            if turn.intent in self.intents:
                evidence.append((w.repeated_intent, f"asked for {turn.intent} again"))
            self.intents.add(turn.intent)
        if turn.barged_in and turn.step:
            times = self.barged[turn.step] = self.barged.get(turn.step, 0) + 1
            if times >= 2:
                evidence.append((w.barge_in, f"cut the {turn.step} prompt off {times} times"))
        evidence += self._voice(turn.prosody)
        combined = 1.0
        for strength, _ in evidence:
            combined *= 1.0 - _clamp(strength)
        carry = w.carry_failed if (failed or evidence) else w.carry_calm
        self.level = _clamp(1.0 - (1.0 - carry * self.level) * combined)
        self.reasons = tuple(r for _, r in sorted(evidence, key=lambda e: -e[0]))
        return Estimate(round(self.level, 3), round(polarity, 3), self.reasons)

    def _voice(self, prosody: Prosody | None) -> list[tuple[float, str]]:
        w = self.weights
        if prosody is None:
            return []
        if len(self.baseline) < w.baseline_turns:
            self.baseline.append(prosody)
            return []
        out = []
        base_db = sum(p.rms_db for p in self.baseline) / len(self.baseline)
        louder = prosody.rms_db - base_db
        span = w.louder_db - w.louder_from_db
        strength = _clamp((louder - w.louder_from_db) / span)
        if strength > 0:
            out.append((w.louder * strength, f"{louder:.0f} dB louder than at first"))
        pitches = [p.pitch_hz for p in self.baseline if p.pitch_hz]
        if prosody.pitch_hz and pitches:
            ratio = prosody.pitch_hz / (sum(pitches) / len(pitches))
            strength = _clamp((ratio - w.higher_from) / (w.higher_ratio - w.higher_from))
            if strength > 0:
                out.append((w.higher * strength, f"pitch {ratio:.2f}x its first turns"))
        return out
