"""What the dialog expects to hear next.

Every listening action carries an `Expectation`, so the listener can shorten its end-of-utterance
window once a partial result already satisfies it, and the recogniser can bias or constrain
decoding (grammar mode) to it. It is plain data: the dialog knows nothing of audio.
"""

from __future__ import annotations

from dataclasses import dataclass

# Kinds of answer. "menu" is a closed set of option phrases; the rest are slot types.
KINDS = ("menu", "yes_no", "digits", "number", "choice", "date", "money", "text")


@dataclass(frozen=True)
class Expectation:
    kind: str  # one of KINDS
    # option name -> phrases that select it (menu and choice); empty otherwise
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()
    min_digits: int | None = None  # digits: accepted length range
    max_digits: int | None = None
    # phrases active at this step whatever the kind (globals: "agent", "repeat", ...)
    global_phrases: tuple[str, ...] = ()
    modes: tuple[str, ...] = ("speech", "dtmf")
    # BCP 47 tag of the answer's language: picks the matcher and slot parsers (and, for the
    # recogniser, the model and its forced language); anything not Chinese is English
    language: str = "en"
    sensitive: bool = False  # the answer is a secret (a PIN): never log or record it in clear
    # any words may be an answer (a menu of intents or questions: meaning decides), so the
    # options' phrases only bias recognition and are never the only thing it may hear
    open: bool = False

    @property
    def phrases(self) -> tuple[str, ...]:
        """Every phrase of every option, then the global phrases."""
        out: list[str] = [p for _, ps in self.options for p in ps]
        out.extend(self.global_phrases)
        return tuple(out)

    @property
    def is_closed(self) -> bool:
        """True when the answer comes from a known finite set (grammar mode applies)."""
        if self.open:
            return False
        return self.kind in ("menu", "choice", "yes_no") or (
            self.kind == "digits" and self.max_digits is not None
        )


FREE_TEXT = Expectation(kind="text", options=(), modes=("speech",))
