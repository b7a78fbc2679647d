"""The console's tables (API tokens, the audit trail) through SQLAlchemy Core, by URL.

`voicebot serve` and `voicebot token` open the same database as the campaigns: by default the
SQLite file of settings `campaign.database` (`sqlite:///var/campaigns.db`); any SQLAlchemy URL
works (`postgresql+psycopg://...`). Tables are created if missing.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

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
    """A URL as it is, a path as the SQLite URL of that file."""
    text = str(database)
    if "://" in text:
        return text
    Path(text).parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(text).resolve()}"


def open_engine(database: str | Path) -> Engine:
    url = url_for(database)
    args = {"timeout": 10} if url.startswith("sqlite") else {}
    engine = sa.create_engine(url, connect_args=args)
    metadata.create_all(engine)
    return engine
