"""The audit trail: every change made through the console's API (or `voicebot token`), who made
it, what and when. Written in the same transaction-free way as the rest: one row per change,
after the change succeeded (a refused change is not a change); admins read it at
`GET /api/v1/audit`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from voicebot.console.database import audit


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    who: str
    action: str
    target: str
    detail: dict[str, Any]


class AuditTrail:
    def __init__(self, engine: Engine):
        self.engine = engine

    def record(
        self,
        who: str,
        action: str,
        target: str = "",
        detail: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> None:
        at = (now or datetime.now(UTC)).isoformat(timespec="milliseconds")
        text = json.dumps(detail or {}, default=str, sort_keys=True)
        with self.engine.begin() as db:
            db.execute(
                audit.insert().values(at=at, who=who, action=action, target=target, detail=text)
            )

    def entries(self, limit: int = 100, offset: int = 0) -> list[AuditEntry]:
        query = sa.select(audit).order_by(audit.c.id.desc()).limit(limit).offset(offset)
        with self.engine.connect() as db:
            return [
                AuditEntry(r.id, r.at, r.who, r.action, r.target, json.loads(r.detail))
                for r in db.execute(query)
            ]
