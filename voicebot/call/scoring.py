"""A stored call scored against quality rules, and the score stored with it.

`voicebot serve` scores each call of a flow that has rules (`NAME.qa.yaml` beside it) when the
call ends, on the call's own thread once its record is written and the call is let go (so the
hang-up and the next call never wait for it; a failure is logged, never raised). `voicebot qa
run` scores stored calls again with any rules. Calls still in progress, and outbound calls that
were never answered, have no conversation to inspect and are not scored.
"""

from __future__ import annotations

import logging
from pathlib import Path

from voicebot.call.records import CallRecord, CallStore
from voicebot.quality.inspection import Inspection, inspect
from voicebot.quality.rules import Rules

log = logging.getLogger(__name__)

NOT_INSPECTED = frozenset({"in_progress", "not_answered"})


def flow_rules(flow: str | Path) -> Rules | None:
    """The rules beside a flow, or None (no file, or a broken one: its errors are logged, and
    the flow still answers calls; `flow check` shows the same errors)."""
    from voicebot.errors import FlowError
    from voicebot.flow.quality_file import load_rules, rules_beside

    path = rules_beside(flow)
    if path is None:
        return None
    try:
        return load_rules(path)
    except FlowError as exc:
        log.error("quality rules %s not used, calls will not be scored:\n%s", path, exc)
        return None


def score_record(store: CallStore, record: CallRecord, rules: Rules) -> Inspection | None:
    """Inspect one stored call (with its turns) and keep the result; None if not inspectable."""
    if record.outcome in NOT_INSPECTED:
        return None
    result = inspect(record, rules)
    store.save_quality(
        record.id,
        rules=rules.source,
        score=result.score,
        findings=[f.as_dict() for f in result.findings],
    )
    return result


def score_ended_call(store: CallStore, call_id: str, rules: Rules) -> None:
    """At the end of a live call: score it; any failure is logged, never raised."""
    try:
        record = store.get(call_id)
        if record is not None:
            result = score_record(store, record, rules)
            if result is not None:
                log.info(
                    "call %s quality %s, broken: %s",
                    call_id,
                    "-" if result.score is None else f"{result.score:g}",
                    ", ".join(result.broken) or "none",
                )
    except Exception:
        log.exception("call %s: quality inspection failed (voicebot qa run can redo it)", call_id)
