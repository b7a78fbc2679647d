"""Schema versions: the Alembic migrations shipped in `migrations/versions/`, applied at open.

`upgrade(engine)` brings the database to the newest version in one transaction (on PostgreSQL
under an advisory lock, so dialers and workers starting together migrate it once; on SQLite the
`BEGIN IMMEDIATE` write lock does the same). A database written before versions were kept (the
tables of `campaign create` and of the call records, no `alembic_version` table) is taken as
the first version: its tables are kept, missing ones and missing columns are added.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 7_201_113  # pg_advisory_xact_lock: one migrating process at a time
_done: set[str] = set()
_guard = threading.Lock()


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    """The newest schema version."""
    found = ScriptDirectory.from_config(_config()).get_current_head()
    assert found is not None
    return found


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to the newest version (once per process and database), or up to `revision`."""
    key = engine.url.render_as_string(hide_password=False)
    with _guard:
        if key in _done:
            return
        config = _config()
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
        if revision == "head":
            _done.add(key)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to `revision` (its downgrades, newest first, in one transaction)."""
    key = engine.url.render_as_string(hide_password=False)
    with _guard:
        config = _config()
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            config.attributes["connection"] = conn
            command.downgrade(config, revision)
        _done.discard(key)
