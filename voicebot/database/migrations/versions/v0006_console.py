"""The console's own tables, and the indexes its searches need (issue 14's targets).

* `api_tokens`: the console's API tokens (voicebot/console/tokens.py), only their SHA-256;
* `audit`: every change made through the console (voicebot/console/audit.py).

Before this version the console created both with SQLAlchemy's `create_all` when it opened the
campaign database: a database that has them keeps them (and their rows) as they are.

* `calls.from_digits_rev`, `calls.to_digits_rev`: the digits of the caller's and the callee's
  number, last first (`voicebot.call.records.number_key`), filled in for the calls already
  there: a search by a number's last digits is a prefix range of an index, not a scan.

INDEXES: what the calls searches filter on (voicebot/call/records.py `CallStore.search`, newest
first: each index ends with `started_at, id`, so a count stays inside the index and a page's
ids are read from it alone, however far the page: only its rows are read from the table),
retention's oldest kept call, a campaign's contacts by disposition.

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
NUMBERS = ("from_digits_rev", "to_digits_rev")
INDEXES = {
    "calls_by_time": ("calls", ["started_at", "id"]),
    "calls_by_from_number": ("calls", ["from_digits_rev", "started_at", "id"]),
    "calls_by_to_number": ("calls", ["to_digits_rev", "started_at", "id"]),
    "calls_by_outcome": ("calls", ["outcome", "started_at", "id"]),
    "calls_by_flow": ("calls", ["flow", "started_at", "id"]),
    "calls_kept": ("calls", ["purged_at", "started_at"]),
    # a campaign's progress counted by disposition from the index alone
    "contacts_by_disposition": ("contacts", ["campaign_id", "disposition"]),
}


def _numbers() -> None:
    from voicebot.call.records import number_key

    bind = op.get_bind()
    present = {c["name"] for c in sa.inspect(bind).get_columns("calls")}
    for column in NUMBERS:
        if column not in present:
            op.add_column("calls", sa.Column(column, sa.Text, nullable=False, server_default=""))
    rows = bind.execute(sa.text("SELECT id, from_uri, to_uri FROM calls")).fetchall()
    update = sa.text("UPDATE calls SET from_digits_rev = :f, to_digits_rev = :t WHERE id = :id")
    for i in range(0, len(rows), 5000):
        batch = [
            {"id": r[0], "f": number_key(r[1]), "t": number_key(r[2])} for r in rows[i : i + 5000]
        ]
        bind.execute(update, batch)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names())
    for name, create in TABLES.items():
        if name not in present:
            create()
    _numbers()
    for table in ("audit", "calls", "contacts"):
        indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(table)}
        for index, (on, columns) in {**TABLE_INDEXES, **INDEXES}.items():
            if on == table and index not in indexes:
                op.create_index(index, on, columns)


def downgrade() -> None:
    for index, (table, _columns) in INDEXES.items():
        op.drop_index(index, table_name=table)
    for column in reversed(NUMBERS):
        op.drop_column("calls", column)
    for name in reversed(list(TABLES)):
        op.drop_table(name)
