"""The campaign database: a `voicebot.database.Database` (SQLite file or PostgreSQL URL).

Every change is one short transaction (`BEGIN IMMEDIATE` on SQLite), so a process killed
mid-write leaves the last committed state and nothing half-written. `transaction()` nests as
a SAVEPOINT, so the ledger can add to the do-not-call list inside the transaction that records
an outcome. Timestamps are stored as ISO 8601 text in UTC (they sort as they compare).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from voicebot.database import Database


def connect(target: str | Path) -> Database:
    """Open the campaign database (a path is a SQLite file; else a database URL), migrated."""
    return Database(target)


@contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """One atomic change; inside another transaction it is a savepoint of that one."""
    with db.transaction():
        yield db


def iso(at: datetime | None) -> str | None:
    """A UTC timestamp as stored (ISO 8601, milliseconds); naive datetimes are taken as UTC."""
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
