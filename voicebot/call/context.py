"""The agent's desktop context of a call: its summary and whole transcript, as one JSON document.

    doc = agent_context(CallStore("var/calls.db"), call_id)   # None: no such call
    json.dumps(doc)

A transfer (blind or warm) carries the document's address in an `X-Voicebot-Context` header:
settings `transfers.context_url` with `{call_id}` filled in, e.g.
`http://127.0.0.1:8080/api/v1/calls/{call_id}/context` (the console's HTTP API serves this
function's document there). The document, built from the call record as it is now (turns are
written as the call goes, so it is whole while the agent's phone rings):

    {"call_id", "from", "to", "direction", "flow", "started_at", "outcome",
     "summary": "A call from ...",          # call.summary when the transfer began
     "transfer": {"mode", "target", "at", "outcome", "join_ms"} | null,
     "slots": {...}, "steps": [...],        # as the call record keeps them (once it ended)
     "transcript": [{"at", "who": "caller"|"bot", "text", "dtmf", "step"}, ...]}

Sensitive slots are masked exactly as in the call record. No I/O beyond reading the store.
"""

from __future__ import annotations

from typing import Any

from voicebot.call.records import CallStore


def agent_context(store: CallStore, call_id: str) -> dict[str, Any] | None:
    record = store.get(call_id)
    if record is None:
        return None
    transfer = store.transfer(call_id)
    return {
        "call_id": record.id,
        "from": record.from_uri,
        "to": record.to_uri,
        "direction": record.direction,
        "flow": record.flow,
        "started_at": record.started_at,
        "outcome": record.outcome,
        "summary": transfer["summary"] if transfer else "",
        "transfer": (
            {k: transfer[k] for k in ("mode", "target", "at", "outcome", "join_ms")}
            if transfer
            else None
        ),
        "slots": record.slots,
        "steps": record.steps,
        "transcript": [
            {k: t[k] for k in ("at", "who", "text", "dtmf", "step")} for t in record.turns
        ],
    }
