"""The console's own tables, and the indexes its searches need (issue 14's targets).

* `api_tokens`: the console's API tokens (voicebot/console/tokens.py), only their SHA-256;
* `audit`: every change made through the console (voicebot/console/audit.py).

Before this version the console created both with SQLAlchemy's `create_all` when it opened the
campaign database: a database that has them keeps them (and their rows) as they are.

INDEXES: what the calls searches filter on besides the time (voicebot/call/records.py
`CallStore.search`, newest first: each index ends with `started_at`, so a page is read in
order and a count stays inside the index), and retention's oldest kept call.

Revision ID: v0006
"""

import sqlalchemy as sa
from alembic import op

revision = "v0006"
down_revision = "v0005"
branch_labels = None
depends_on = None

TABLES = {
    "api_tokens": lambda: op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("revoked_at", sa.String(40)),
    ),
    "audit": lambda: op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("who", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(500), nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    ),
}
# the name create_all gave it (`ix_<table>_<column>`), so an old database has it already
TABLE_INDEXES = {"ix_audit_at": ("audit", ["at"])}
INDEXES = {
    "calls_by_outcome": ("calls", ["outcome", "started_at"]),
    "calls_by_flow": ("calls", ["flow", "started_at"]),
    "calls_kept": ("calls", ["purged_at", "started_at"]),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names())
    for name, create in TABLES.items():
        if name not in present:
            create()
    for table in ("audit", "calls"):
        indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(table)}
        for index, (on, columns) in {**TABLE_INDEXES, **INDEXES}.items():
            if on == table and index not in indexes:
                op.create_index(index, on, columns)


def downgrade() -> None:
    for index, (table, _columns) in INDEXES.items():
        op.drop_index(index, table_name=table)
    for name in reversed(list(TABLES)):
        op.drop_table(name)
