"""Backchannels: the "uh-huh"s a listener says to show they follow, which are not a turn.

A caller who says "uh-huh", "mm", "right", 嗯 or 对 while the bot talks is not interrupting it
and is not answering. The listener (speech/listener.py) pauses a prompt the caller talks over,
and resumes it when the words of that short utterance are backchannels of the call's language
and not an answer the dialog's expectation accepts (a "yeah" over a yes/no question is one).

    BACKCHANNELS: dict[str, tuple[str, ...]]   # language -> phrases (lower case, no punctuation)
    is_backchannel(expect: Expectation, text: str) -> bool

A transcript is a backchannel when it is made only of the table's phrases of its language, in
any number and order ("yeah yeah right", "对对对", "嗯，好的"). The recogniser writes the same
sound several ways ("uh-huh", "uh huh", "Uh-huh.", "mm-hmm", "mhm"), and a homophone now and
then ("right" as "write"): all are listed.
"""

from __future__ import annotations

import re

from voicebot.dialog.expectation import Expectation

BACKCHANNELS: dict[str, tuple[str, ...]] = {
    "en": (
        "uh huh", "uh-huh", "mm-hmm", "mm hmm", "mhm", "mm", "mmm", "hmm", "hm", "um", "uh",
        "yeah", "yep", "yup", "right", "okay", "ok", "sure", "i see", "got it", "aha", "ah",
        "oh", "alright", "all right", "cool",
        # what the recogniser makes of them on a phone line (tiny.en on espeak-ng: "right" as
        # "write"); an expectation that accepts the word still takes it as the answer
        "write", "rite", "wright", "yea", "yah", "ya", "mm hm", "m hm", "mhmm", "uh uh",
    ),
    "zh": (
        "嗯", "嗯嗯", "恩", "唔", "对", "对的", "对对", "好", "好的", "是", "是的", "哦", "噢",
        "喔", "啊", "呃", "明白", "知道了", "行",
    ),
}  # fmt: skip

_PUNCTUATION = re.compile(r"[\s.,!?;:…。，、！？；：\"'“”‘’~]+")


def _phrases(language: str) -> tuple[str, ...]:
    table = BACKCHANNELS["zh" if language.lower().startswith("zh") else "en"]
    return tuple(sorted(table, key=len, reverse=True))  # the longest phrase first


def is_backchannel(expect: Expectation, text: str) -> bool:
    """`text` is nothing but backchannel phrases of `expect`'s language (see the module)."""
    zh = expect.language.lower().startswith("zh")
    said = text.lower().strip()
    if not said:
        return False
    phrases = _phrases(expect.language)
    if zh:
        rest = _PUNCTUATION.sub("", said)
        while rest:
            head = next((p for p in phrases if rest.startswith(p)), None)
            if head is None:
                return False
            rest = rest[len(head) :]
        return True
    words = " " + _PUNCTUATION.sub(" ", said.replace("-", " ")).strip() + " "
    spaced = sorted({p.replace("-", " ") for p in phrases}, key=len, reverse=True)
    while words.strip():
        head = next((p for p in spaced if words.startswith(f" {p} ")), None)
        if head is None:
            return False
        words = words[len(head) + 1 :]
    return True
