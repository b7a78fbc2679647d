"""The sixth version on both backends: the console's tokens and audit tables come from the
migrations (no longer from `create_all`), a database whose console made them before keeps their
rows, the calls searches' indexes are there, and the version goes down and up again."""

from __future__ import annotations

import sqlalchemy as sa

from voicebot.console.audit import AuditTrail
from voicebot.console.database import metadata, open_engine
from voicebot.console.tokens import Role, TokenStore
from voicebot.database import Database
from voicebot.database.migrate import current, downgrade, head, upgrade

CONSOLE_TABLES = {"api_tokens", "audit"}
CALLS_INDEXES = {"calls_by_time", "calls_by_outcome", "calls_by_flow", "calls_kept"}


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _indexes(engine: sa.Engine, table: str) -> set[str]:
    return {i["name"] for i in sa.inspect(engine).get_indexes(table)}


def test_a_new_database_gets_the_console_tables_from_the_migrations(database_url):
    db = Database(database_url)
    assert current(db.engine) == head() == "v0007"
    assert CONSOLE_TABLES <= _tables(db.engine)
    assert CALLS_INDEXES <= _indexes(db.engine, "calls")
    assert "ix_audit_at" in _indexes(db.engine, "audit")
    engine = open_engine(database_url)  # the console's engine: no table of its own made here
    token_id, token = TokenStore(engine).create(Role.operator, "ops")
    found = TokenStore(engine).identify(token)
    assert found is not None and (found.token_id, found.role) == (token_id, Role.operator)
    AuditTrail(engine).record("cli", "token.create", "ops")
    assert [e.action for e in AuditTrail(engine).entries()] == ["token.create"]
    engine.dispose()
    db.close()


def test_a_database_whose_console_made_its_tables_with_create_all_upgrades_and_keeps_them(
    database_url,
):
    """What the console did before this version: the migrations up to v0005, then its own two
    tables by `create_all` (with their index), a token and an audit row in them."""
    db = Database(database_url, migrate=False)
    upgrade(db.engine, "v0005")
    metadata.create_all(db.engine)
    assert current(db.engine) == "v0005" and CONSOLE_TABLES <= _tables(db.engine)
    _, token = TokenStore(db.engine).create(Role.admin, "old")
    AuditTrail(db.engine).record("token 1 (old, admin)", "campaign.start", "reminders")

    upgrade(db.engine)
    assert current(db.engine) == head()
    found = TokenStore(db.engine).identify(token)
    assert found is not None and (found.name, found.role) == ("old", Role.admin)
    (entry,) = AuditTrail(db.engine).entries()
    assert (entry.who, entry.action, entry.target) == (
        "token 1 (old, admin)", "campaign.start", "reminders",
    )  # fmt: skip
    assert CALLS_INDEXES <= _indexes(db.engine, "calls")
    _, second = TokenStore(db.engine).create(Role.viewer, "new")  # ids go on after the old rows
    assert TokenStore(db.engine).identify(second).token_id == 2  # type: ignore[union-attr]
    db.close()


def test_the_sixth_version_goes_down_and_up_again(database_url):
    db = Database(database_url)
    downgrade(db.engine, "v0005")
    assert current(db.engine) == "v0005"
    assert not CONSOLE_TABLES & _tables(db.engine)
    assert not CALLS_INDEXES & _indexes(db.engine, "calls")
    assert "calls_started" in _indexes(db.engine, "calls")  # v0001's is kept
    upgrade(db.engine)
    assert current(db.engine) == head()
    assert CONSOLE_TABLES <= _tables(db.engine)
    assert CALLS_INDEXES <= _indexes(db.engine, "calls")
    db.close()


def test_a_database_the_console_opened_first_upgrades_from_nothing(database_url):
    """`voicebot token create` on a new database before this version: only the console's two
    tables, no version at all; the migrations add everything else and keep the token."""
    engine = sa.create_engine(database_url)
    metadata.create_all(engine)
    _, token = TokenStore(engine).create(Role.viewer, "first")
    db = Database(database_url)
    assert current(db.engine) == head()
    assert {"calls", "campaigns", *CONSOLE_TABLES} <= _tables(db.engine)
    found = TokenStore(engine).identify(token)
    assert found is not None and found.name == "first"
    engine.dispose()
    db.close()
