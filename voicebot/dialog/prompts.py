"""Turning a step's prompt value into `Say` actions.

A prompt is a catalogue id or inline text, a list (tapered: one entry per attempt, the last
repeats), `{audio: file.wav, text: ...}` (played when the file exists in the audio directory,
else the text is spoken), or a map keyed by language. The call's current language picks the
variant (`schema.for_language`: the exact tag, the same primary language, the flow's default
language, the first) and the voice (`Flow.voice_for`; Mandarin is spoken with espeak-ng's
pinyin voice, `voicebot.lang.espeak_voice`). Every `Say` carries the language it is in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voicebot.dialog.actions import Say
from voicebot.flow import templates
from voicebot.flow.schema import AudioPrompt, Flow, for_language
from voicebot.lang import espeak_voice


class PromptResolver:
    def __init__(self, flow: Flow, audio_dir: Path | None):
        self.flow = flow
        self.audio_dir = audio_dir

    def says(
        self,
        value: Any,
        names: dict[str, Any],
        *,
        attempt: int = 1,
        barge_in: bool = True,
        language: str | None = None,
    ) -> list[Say]:
        """`value` as spoken in `language` (the call's; the flow's default when None)."""
        if value is None:
            return []
        language = language or self.flow.language
        picked = self._pick(value, attempt, language)
        return [self._say(piece, pid, names, barge_in, language) for piece, pid in picked]

    def _pick(
        self, value: Any, attempt: int, language: str, pid: str | None = None
    ) -> list[tuple[Any, str | None]]:
        if isinstance(value, str) and pid is None and value in self.flow.prompts:
            return self._pick(self.flow.prompts[value], attempt, language, value)
        if isinstance(value, list):
            if not value:
                return []
            return self._pick(value[min(attempt, len(value)) - 1], attempt, language, pid)
        if isinstance(value, dict):  # language map (validated: keys are language tags)
            chosen = for_language(value, language, self.flow.language)
            return self._pick(chosen, attempt, language, pid) if chosen is not None else []
        return [(value, pid)]

    def _say(
        self, piece: Any, pid: str | None, names: dict[str, Any], barge_in: bool, language: str
    ) -> Say:
        chosen = self.flow.voice_for(language)  # None: the service's voice (settings)
        voice = espeak_voice(chosen.name if chosen else None, language)
        rate = chosen.rate if chosen else None
        if isinstance(piece, AudioPrompt):
            text = templates.render(piece.text, names) if piece.text else ""
            audio = None
            if self.audio_dir is not None and (self.audio_dir / piece.audio).is_file():
                audio = str(self.audio_dir / piece.audio)
            return Say(text or piece.audio, audio, barge_in, pid, voice, rate, language=language)
        text = str(piece)
        static = not templates.is_template(text)
        rendered = templates.render(text, names)
        return Say(
            rendered, None, barge_in, pid if static else None, voice, rate, language=language
        )
