"""Text to speech at the call's sample rate: the `Synthesizer` protocol and its espeak-ng engine.

`EspeakSynthesizer` drives the espeak-ng library (Debian ``libespeak-ng1``) through pyttsx3's
ctypes binding, ``pyttsx3.drivers._espeak``, exactly as pyttsx3's espeak driver does
(``Initialize(AUDIO_OUTPUT_RETRIEVAL)``, a synth callback collecting 22.05 kHz PCM16,
``SetVoiceByName``, ``SetParameter(RATE)``, ``Synth``), then resamples with soxr to 8 or 16 kHz.

Why not pyttsx3's engine (``pyttsx3.init("espeak").save_to_file``)? It renders headless here,
but pyttsx3 2.99 proved unreliable for file rendering: after the first ``runAndWait()``,
speaking-rate changes are silently ignored (always once ``getProperty("voices")`` has been
called, and without an extra ``Synchronize()`` otherwise: a 120 and a 240 words/minute render
came out the same length); an unknown voice silently keeps the previous one; it prints "Audio
saved to ..." on stdout for every file; its loop sleeps 10 ms per render; and once a run left
an empty file. The same calls made directly on the library apply every voice and rate.

espeak-ng is one engine per process, so renders are serialised by a module lock, and the
library is initialised once per process (pyttsx3's flag is set too, so a later
``pyttsx3.init("espeak")`` does not initialise it again). Output is not bit-reproducible across
renders (a few samples differ; the very first render is ~60 ms shorter, so construction renders
one short warm-up phrase), one more reason prompts go through the `PromptCache`.

Mandarin: Debian's espeak-ng `cmn` voice misreads characters (it reads the tone digits of its
own transcription as English words), while its `cmn-latn-pinyin` voice reads tone-numbered
pinyin as Mandarin. So text with Chinese characters, or any text given a Mandarin voice
(`cmn`, `sit/cmn`, `zh`, `cmn-latn-pinyin`), is cut into its Chinese and Latin runs
(`zh_pinyin.script_runs`): each Chinese run is spoken as `zh_pinyin.speakable(run)` with
`cmn-latn-pinyin`, each Latin run with the English voice (the one given, unless it is
Mandarin; then the default voice, unless that is Mandarin too; then `en-us`), all at the given
rate, and the pieces are joined into one audio result. `spoken_runs` is that plan, as data.

API::

    @dataclass(frozen=True)
    class Voice:
        name: str = "en-us"            # espeak-ng voice id ("gmw/en-us") or language ("en-us")
        words_per_minute: int = 175

    class Synthesizer(Protocol):
        engine: str                    # names the engine and its version (part of cache keys)
        default_voice: Voice
        def synthesize(self, text: str, sample_rate: int, voice: Voice | None = None) -> bytes
            # mono PCM16 at sample_rate; b"" for blank text

    class EspeakSynthesizer(Synthesizer):
        __init__(default_voice: Voice = Voice())     # raises SpeechError for an unknown voice
        voices() -> list[str]                         # every id and language espeak-ng knows
        native_rate: int                              # espeak-ng's own rate (22050)
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any, Protocol

from voicebot.audio.resample import resample
from voicebot.errors import SpeechError
from voicebot.lang import MANDARIN_VOICE, has_han, is_mandarin_voice

log = logging.getLogger(__name__)

_LOCK = threading.Lock()  # espeak-ng has one global synthesis state per process
_NATIVE_RATE: int | None = None
_WARM = False


@dataclass(frozen=True)
class Voice:
    name: str = "en-us"
    words_per_minute: int = 175


class Synthesizer(Protocol):
    engine: str
    default_voice: Voice

    def synthesize(self, text: str, sample_rate: int, voice: Voice | None = None) -> bytes:
        """Speak `text` as mono PCM16 at `sample_rate` Hz (b"" when there is nothing to say)."""
        ...


def spoken_runs(text: str, voice: Voice, default: Voice) -> list[tuple[str, Voice]]:
    """What espeak-ng renders for `text` said in `voice`: (text, voice) pieces (module doc)."""
    mandarin = is_mandarin_voice(voice.name)
    if not mandarin and not has_han(text):
        return [(text, voice)]
    from voicebot.lang.zh_pinyin import script_runs, speakable

    rate = voice.words_per_minute
    latin = voice
    if mandarin:
        latin = default if not is_mandarin_voice(default.name) else Voice("en-us")
    pieces: list[tuple[str, Voice]] = []
    for script, run in script_runs(text):
        if script == "zh":
            said = speakable(run)
            if any(ch.isalnum() for ch in said):  # not punctuation alone
                pieces.append((said, Voice(MANDARIN_VOICE, rate)))
        else:
            pieces.append((run, Voice(latin.name, rate)))
    return pieces


def _library() -> tuple[ModuleType, int]:
    """pyttsx3's espeak-ng binding, initialised once per process; and espeak-ng's rate."""
    global _NATIVE_RATE
    try:
        from pyttsx3.drivers import _espeak
        from pyttsx3.drivers.espeak import EspeakDriver
    except Exception as exc:  # the binding raises a bare Exception when the library is missing
        raise SpeechError(
            f"cannot load espeak-ng ({exc}): install Debian's espeak-ng (libespeak-ng1) "
            "and the pyttsx3 package"
        ) from exc
    if _NATIVE_RATE is None:
        if EspeakDriver._moduleInitialized:  # pyttsx3 got there first: it used the default
            _NATIVE_RATE = 22050
        else:
            rate = _espeak.Initialize(_espeak.AUDIO_OUTPUT_RETRIEVAL, 1000)
            if rate <= 0:
                raise SpeechError("espeak-ng failed to initialise (is espeak-ng-data installed?)")
            EspeakDriver._moduleInitialized = True
            _NATIVE_RATE = rate
    return _espeak, _NATIVE_RATE


class EspeakSynthesizer:
    """espeak-ng, rendered in process and resampled to the call rate."""

    def __init__(self, default_voice: Voice = Voice()) -> None:
        with _LOCK:
            self._lib, self.native_rate = _library()
            self._voices = self._list_voices()
        # "+pinyin": Chinese is spoken from pinyin (spoken_runs), so older cached renders of
        # Chinese text in the plain voices are not reused
        self.engine = f"espeak-ng/pyttsx3-{metadata.version('pyttsx3')}+pinyin"
        self.default_voice = self._checked(default_voice)
        self._chunks: list[bytes] = []
        global _WARM
        if not _WARM:  # the first render after initialisation comes out ~60 ms shorter
            with _LOCK:
                self._render("Hello.", self.default_voice)
            _WARM = True

    def _list_voices(self) -> dict[str, str]:
        known: dict[str, str] = {}
        for v in self._lib.ListVoices(None):
            ident = v.identifier.decode("utf-8").lower()
            known[ident] = ident
            if v.languages:  # a priority byte, then the language name
                known.setdefault(v.languages[1:].decode("utf-8", "ignore").lower(), ident)
        return known

    def voices(self) -> list[str]:
        return sorted(self._voices)

    def _checked(self, voice: Voice) -> Voice:
        if voice.name.lower() not in self._voices:
            stem = voice.name.lower().split("-")[0]
            close = [n for n in self._voices if n.startswith(stem) or f"/{stem}" in n][:5]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise SpeechError(f"unknown espeak-ng voice {voice.name!r}{hint}")
        if not 80 <= voice.words_per_minute <= 450:
            raise SpeechError(f"speaking rate {voice.words_per_minute} words/minute: use 80-450")
        return voice

    def synthesize(self, text: str, sample_rate: int, voice: Voice | None = None) -> bytes:
        if not text.strip():
            return b""
        voice = self.default_voice if voice is None else self._checked(voice)
        pieces = spoken_runs(text, voice, self.default_voice)
        if not pieces:  # nothing but punctuation ("。")
            return b""
        with _LOCK:
            pcm = b"".join(self._render(said, v) for said, v in pieces)
        if not pcm:
            raise SpeechError(f"espeak-ng produced no audio for {text[:40]!r}")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("rendered %d chars to %.2f s", len(text), len(pcm) / (2 * self.native_rate))
        return resample(pcm, self.native_rate, sample_rate)

    def _on_synth(self, wav: Any, numsamples: int, events: Any) -> int:
        if numsamples > 0:
            self._chunks.append(ctypes.string_at(wav, numsamples * 2))
        return 0

    def _render(self, text: str, voice: Voice) -> bytes:
        lib = self._lib
        lib.SetSynthCallback(self._on_synth)  # pyttsx3 may have installed its own
        if lib.SetVoiceByName(self._voices[voice.name.lower()].encode()) != lib.EE_OK:
            raise SpeechError(f"espeak-ng could not select voice {voice.name!r}")
        lib.SetParameter(lib.RATE, voice.words_per_minute, 0)
        self._chunks = []
        lib.Synth(text, flags=lib.ENDPAUSE | lib.CHARS_UTF8)
        lib.Synchronize()
        return b"".join(self._chunks)
