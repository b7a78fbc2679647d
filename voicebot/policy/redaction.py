"""Slots marked `sensitive: true` (a PIN, a card number): masked wherever a call is written down.

    redactor = Redactor.for_flows([flow, *subflows])
    redactor.slots({"pin": "1234", "more": True})   # -> {"pin": "[masked]", "more": True}
    redactor.text("Your PIN 1 2 3 4 is wrong", {"pin": "1234"})  # -> "Your PIN [masked] is wrong"

What is masked: the slot's value in call records and campaign results; the caller's turns
(words and keys) given while the bot was collecting it (the `Expectation` carries `sensitive`,
so the session marks those turns); any other text — what the bot said, vars, the transfer
target, log lines — in which the value appears, digit by digit or whole. The engine keeps the
real value, so the flow can still use it (an HTTP check of the PIN).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from voicebot.flow.schema import Flow

MASK = "[masked]"
_SEPARATORS = r"[\s,.\-]*"


@dataclass(frozen=True)
class Redactor:
    names: frozenset[str] = frozenset()  # sensitive slot names

    @classmethod
    def for_flows(cls, flows: Iterable[Flow]) -> Redactor:
        names = {
            step.ask.slot.name
            for flow in flows
            for step in flow.steps.values()
            if step.ask is not None and step.ask.slot.sensitive
        }
        return cls(frozenset(names))

    def __bool__(self) -> bool:
        return bool(self.names)

    def secrets(self, slots: Mapping[str, Any]) -> list[str]:
        """The values of the sensitive slots filled so far, as text."""
        return [str(slots[n]) for n in sorted(self.names) if slots.get(n) not in (None, "")]

    def slots(self, slots: Mapping[str, Any]) -> dict[str, Any]:
        return {k: MASK if k in self.names and v is not None else v for k, v in slots.items()}

    def text(self, text: str, slots: Mapping[str, Any]) -> str:
        """`text` with every sensitive value in it masked (spelled out or whole)."""
        for secret in self.secrets(slots):
            text = _pattern(secret).sub(MASK, text)
        return text

    def values(self, data: Mapping[str, Any], slots: Mapping[str, Any]) -> dict[str, Any]:
        """Vars (or any flat mapping) with sensitive values masked inside their text."""
        if not self.names:
            return dict(data)
        out: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                masked = self.text(str(value), slots)
                out[key] = masked if masked != str(value) else value
            else:
                out[key] = value
        return out


def _pattern(secret: str) -> re.Pattern[str]:
    chars = [re.escape(ch) for ch in secret if not ch.isspace()]
    if not chars:
        return re.compile(r"(?!x)x")
    body = _SEPARATORS.join(chars)
    if len(chars) < 3:  # a short value ("12") is masked as a word, not inside every number
        body = rf"(?<!\w){body}(?!\w)"
    return re.compile(body, re.IGNORECASE)
