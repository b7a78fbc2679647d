"""What the bot knows about a language's text, without I/O: one module per concept.

English lives where it always has (`voicebot.dialog.matching`, `voicebot.dialog.slots`,
`voicebot.flow.templates`); Mandarin (zh-CN) lives here, in `zh_*` modules, and is reached
through `voicebot.dialog.language` (understanding) or called directly (reading values aloud,
pinyin for the synthesiser). This package imports nothing else from voicebot.
"""

from __future__ import annotations

import re

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def is_mandarin(tag: str | None) -> bool:
    """True for BCP 47 tags of Chinese: "zh", "zh-CN", "zh_Hans_CN", "cmn"."""
    if not tag:
        return False
    primary = tag.replace("_", "-").split("-", 1)[0].lower()
    return primary in ("zh", "cmn")


def has_han(text: str) -> bool:
    """True when `text` has a Chinese character (cheap: no pinyin tables are loaded)."""
    return _HAN.search(text) is not None


MANDARIN_VOICE = "cmn-latn-pinyin"  # espeak-ng's voice that reads tone-numbered pinyin as Mandarin


def is_mandarin_voice(name: str | None) -> bool:
    """True for espeak-ng's Mandarin voices: "cmn", "sit/cmn", "cmn-latn-pinyin", "zh"."""
    return bool(name) and is_mandarin(str(name).rsplit("/", 1)[-1])


def espeak_voice(name: str | None, language: str | None) -> str | None:
    """The espeak-ng voice that speaks `language` in a flow's voice `name` (None: settings').

    Mandarin is spoken with `MANDARIN_VOICE` from pinyin (`zh_pinyin.speakable`): Debian's
    plain `cmn` voice misreads characters, so a flow's `{name: cmn}` maps to it, as does a
    Mandarin call whose flow names no voice. Any other voice is kept as it is.
    """
    if is_mandarin_voice(name) or (name is None and is_mandarin(language)):
        return MANDARIN_VOICE
    return name
