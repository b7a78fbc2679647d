"""Turning a step's prompt value into `Say` actions.

A prompt is a catalogue id or inline text, a list (tapered: one entry per attempt, the last
repeats), `{audio: file.wav, text: ...}` (played when the file exists in the audio directory,
else the text is spoken), or a map keyed by locale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voicebot.dialog.actions import Say
from voicebot.flow import templates
from voicebot.flow.schema import AudioPrompt, Flow


class PromptResolver:
    def __init__(self, flow: Flow, audio_dir: Path | None):
        self.flow = flow
        self.audio_dir = audio_dir

    def says(
        self, value: Any, names: dict[str, Any], *, attempt: int = 1, barge_in: bool = True
    ) -> list[Say]:
        if value is None:
            return []
        return [self._say(piece, pid, names, barge_in) for piece, pid in self._pick(value, attempt)]

    def _pick(
        self, value: Any, attempt: int, pid: str | None = None
    ) -> list[tuple[Any, str | None]]:
        if isinstance(value, str) and pid is None and value in self.flow.prompts:
            return self._pick(self.flow.prompts[value], attempt, value)
        if isinstance(value, list):
            if not value:
                return []
            return self._pick(value[min(attempt, len(value)) - 1], attempt, pid)
        if isinstance(value, dict):  # locale map (validated: keys are locales)
            lang = self.flow.language
            chosen = value.get(lang)
            if chosen is None:
                chosen = next(iter(value.values()))
            return self._pick(chosen, attempt, pid)
        return [(value, pid)]

    def _say(self, piece: Any, pid: str | None, names: dict[str, Any], barge_in: bool) -> Say:
        voice = rate = None  # a flow without `voice` is spoken in the service's (settings)
        if "voice" in self.flow.model_fields_set:
            voice, rate = self.flow.voice.name, self.flow.voice.rate
        if isinstance(piece, AudioPrompt):
            text = templates.render(piece.text, names) if piece.text else ""
            audio = None
            if self.audio_dir is not None and (self.audio_dir / piece.audio).is_file():
                audio = str(self.audio_dir / piece.audio)
            return Say(text or piece.audio, audio, barge_in, pid, voice, rate)
        text = str(piece)
        static = not templates.is_template(text)
        rendered = templates.render(text, names)
        return Say(rendered, None, barge_in, pid if static else None, voice, rate)
