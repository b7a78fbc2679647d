"""What the bot knows about a language's text, without I/O: one module per concept.

English lives where it always has (`voicebot.dialog.matching`, `voicebot.dialog.slots`,
`voicebot.flow.templates`); Mandarin (zh-CN) lives here, in `zh_*` modules, and is reached
through `voicebot.dialog.language` (understanding) or called directly (reading values aloud,
pinyin for the synthesiser). This package imports nothing else from voicebot.
"""

from __future__ import annotations


def is_mandarin(tag: str | None) -> bool:
    """True for BCP 47 tags of Chinese: "zh", "zh-CN", "zh_Hans_CN", "cmn"."""
    if not tag:
        return False
    primary = tag.replace("_", "-").split("-", 1)[0].lower()
    return primary in ("zh", "cmn")
