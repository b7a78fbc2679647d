"""The campaign database file: one SQLite file in WAL mode shared by the dialer and the CLI.

Like `voicebot.call.records`, every writer holds its own connection with a busy timeout and every
change is one short `BEGIN IMMEDIATE` transaction, so a process killed mid-write leaves the
last committed state and nothing half-written. `transaction()` nests as a SAVEPOINT, so the
ledger can add to the do-not-call list inside the transaction that records an outcome.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from voicebot.private_files import private_sqlite

_savepoints = itertools.count(1)


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating) the campaign database: WAL, 10 s busy timeout, autocommit mode."""
    path = Path(path)
    private_sqlite(path)  # numbers and answers: 0600, and so its -wal and -shm
    db = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA busy_timeout=10000")
    db.execute("PRAGMA foreign_keys=ON")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One atomic change; inside another transaction it is a savepoint of that one."""
    if db.in_transaction:
        name = f"sp{next(_savepoints)}"
        db.execute(f"SAVEPOINT {name}")
        try:
            yield db
        except BaseException:
            db.execute(f"ROLLBACK TO {name}")
            db.execute(f"RELEASE {name}")
            raise
        db.execute(f"RELEASE {name}")
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def iso(at: datetime | None) -> str | None:
    """A UTC timestamp as stored (ISO 8601, milliseconds); naive datetimes are taken as UTC."""
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
