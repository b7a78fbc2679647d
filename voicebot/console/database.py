"""Every database the console opens, opened here and only here (one place to re-point).

    databases(settings)        the campaign database and the call records the settings name
    open_stores(db, records)   the campaigns' `Ledger` and the `CallStore` the API reads
    open_engine(db)            the console's own tables (API tokens, the audit trail)

The console's tables go through SQLAlchemy Core, by URL. `voicebot serve` and `voicebot token`
open the same database as the campaigns: settings `database.url` (by default the SQLite file
`var/voicebot.db`; `postgresql://...` for a shared server), or `campaign.database` when that
names a separate file. Its two tables come with the database's migrations (v0006), which
`open_engine` runs like every other opening of the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from voicebot.call.records import CallStore
    from voicebot.campaign.ledger import Ledger

# the console's tables, as migration v0006 creates them (voicebot/database/migrations/versions/)
metadata = sa.MetaData()

tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("revoked_at", sa.String(40)),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.String(40), nullable=False, index=True),
    sa.Column("who", sa.String(200), nullable=False),  # "token 3 (ci, operator)" or "cli"
    sa.Column("action", sa.String(100), nullable=False),  # "campaign.start"
    sa.Column("target", sa.String(500), nullable=False, server_default=""),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),  # JSON
)


def url_for(database: str | Path) -> str:
    """A URL SQLAlchemy opens (`voicebot.database.database_url`: postgresql:// on psycopg 3), a
    path as the SQLite URL of that file."""
    from voicebot.database import database_url

    text = str(database)
    if "://" in text:
        return database_url(text)
    Path(text).parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(text).resolve()}"


def open_engine(database: str | Path) -> Engine:
    url = url_for(database)
    args = {"timeout": 10} if url.startswith("sqlite") else {}
    from voicebot.database import Database

    Database(url).close()  # migrated to the newest version (the console's tables: v0006)
    return sa.create_engine(url, connect_args=args)


def databases(settings: Any) -> tuple[str, str]:
    """The campaign database (campaigns, contacts, do-not-call; the console's tokens and audit)
    and the call records (turns, quality) that `settings` name: files or database URLs."""
    campaigns = settings.campaign.database or settings.database.url
    return str(campaigns), settings.records_url()


def open_stores(
    campaigns: str | Path, records: str | Path, region: str
) -> tuple[Ledger, CallStore]:
    """The campaigns' ledger and the call records, as the console's API reads and changes them."""
    from voicebot.call.records import CallStore
    from voicebot.campaign.ledger import Ledger

    return Ledger(campaigns, region), CallStore(records)
