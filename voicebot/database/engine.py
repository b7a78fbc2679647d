"""`Database`: a SQLAlchemy Core engine over SQLite or PostgreSQL, `?` statements, rows by name.

SQLite: WAL mode, a 10 s busy timeout, foreign keys on; pysqlite's own transaction handling
is switched off and `transaction()` emits `BEGIN IMMEDIATE` (the write lock is taken at the
start, so two writers queue instead of failing on upgrade); a lone `execute` reads in a
deferred transaction. PostgreSQL: psycopg 3, READ COMMITTED, rows claimed with
`FOR UPDATE SKIP LOCKED` (`Database.skip_locked`).

Each thread has its own transaction: `transaction()` binds a pooled connection to the calling
thread until it ends, so several threads may share one `Database`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, TextClause, create_engine, event, make_url, text
from sqlalchemy.engine import CursorResult

from voicebot.private_files import private_sqlite

_READ = "voicebot_read"  # execution option: a lone statement, deferred BEGIN on SQLite


def database_url(target: str | Path) -> str:
    """A URL SQLAlchemy opens: `postgresql://` runs on psycopg 3; a plain path is SQLite."""
    value = str(target)
    if "://" not in value:
        return f"sqlite:///{value}"
    for scheme in ("postgresql://", "postgres://"):
        if value.startswith(scheme):
            return "postgresql+psycopg://" + value[len(scheme) :]
    return value


def display_url(target: str | Path) -> str:
    """The URL as shown in messages: no password; a SQLite database as its file."""
    url = make_url(database_url(target))
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


class Record(tuple[Any, ...]):
    """One row: by position (`row[0]`), by column (`row["name"]`), `dict(row)`."""

    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@lru_cache(maxsize=256)
def _record_type(columns: tuple[str, ...]) -> type[Record]:
    return type("Record", (Record,), {"_index": {c: i for i, c in enumerate(columns)}})


class Rows:
    """A statement's rows, read to the end (the connection is free again) and its row count."""

    def __init__(self, rows: list[Record], rowcount: int):
        self.rows, self.rowcount = rows, rowcount

    @classmethod
    def of(cls, result: CursorResult[Any]) -> Rows:
        if not result.returns_rows:
            return cls([], result.rowcount)
        kind = _record_type(tuple(result.keys()))
        return cls([kind(r) for r in result.fetchall()], result.rowcount)

    def fetchone(self) -> Any:  # Record | None, as loosely typed as sqlite3's
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Record]:
        return self.rows

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def __iter__(self) -> Iterator[Record]:
        return iter(self.rows)


@lru_cache(maxsize=1024)
def _statement(sql: str) -> TextClause:
    """`?` placeholders as numbered bind parameters (:p0, :p1, ...)."""
    parts = sql.split("?")
    out = [parts[0]]
    for i, part in enumerate(parts[1:]):
        out.append(f":p{i}{part}")
    return text("".join(out))


def _binds(params: Sequence[Any]) -> dict[str, Any]:
    return {f"p{i}": v for i, v in enumerate(params)}


class Database:
    def __init__(self, target: str | Path, *, migrate: bool = True):
        self.url = database_url(target)
        self.shown = display_url(target)
        self.engine = _engine(self.url)
        self._local = threading.local()
        if migrate:
            from voicebot.database.migrate import upgrade

            upgrade(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def skip_locked(self) -> str:
        """Appended to a SELECT that claims rows: other claimers skip them (PostgreSQL)."""
        return " FOR UPDATE SKIP LOCKED" if self.dialect == "postgresql" else ""

    @property
    def for_update(self) -> str:
        """Appended to a SELECT of a row others must wait for (SQLite: the write lock is held)."""
        return " FOR UPDATE" if self.dialect == "postgresql" else ""

    @property
    def in_transaction(self) -> bool:
        return getattr(self._local, "conn", None) is not None

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One atomic change on this thread; inside another it is a savepoint of that one."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            with conn.begin_nested():
                yield self
            return
        with self.engine.begin() as conn:
            self._local.conn = conn
            try:
                yield self
            finally:
                self._local.conn = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return Rows.of(conn.execute(_statement(sql), _binds(params)))
        with self.engine.connect() as lone:
            lone.execution_options(**{_READ: True})
            rows = Rows.of(lone.execute(_statement(sql), _binds(params)))
            lone.commit()
        return rows

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        batch = [_binds(p) for p in seq]
        if not batch:
            return
        with self.transaction():
            self._local.conn.execute(_statement(sql), batch)


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        private_sqlite(parsed.database)  # call data: 0600 (and so its -wal, -shm), dir 0700
    engine = create_engine(url, connect_args={"timeout": 10.0, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None  # pysqlite's implicit BEGIN off: ours below instead
        for pragma in ("journal_mode=WAL", "busy_timeout=10000", "foreign_keys=ON"):
            dbapi.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        lone = conn.get_execution_options().get(_READ)
        conn.exec_driver_sql("BEGIN" if lone else "BEGIN IMMEDIATE")

    return engine
