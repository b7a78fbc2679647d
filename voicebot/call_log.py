"""Per-call logging: every line a call's code logs starts with the call's id.

    log = call_logger(logging.getLogger(__name__), call_id)
    log.info("transfer to %s", target)      # -> "[27174-1-fae6] transfer to sip:..."

A `LoggerAdapter` (lazy `%s` arguments still apply), so any formatter shows it without needing a
`%(call_id)s` field that records from elsewhere would lack.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any


class CallLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        call_id = (self.extra or {}).get("call_id")
        return (f"[{call_id}] {msg}" if call_id else msg), kwargs


def call_logger(logger: logging.Logger, call_id: str) -> CallLogger:
    return CallLogger(logger, {"call_id": call_id})
