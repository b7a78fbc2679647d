"""The first version: the tables of campaigns, contacts, attempts, rejects, do-not-call and
call records as they were before versions were kept. Each is created only when missing, so a
database file from that time keeps its rows (and gets `calls.incidents` if it lacks it).

Revision ID: v0001
"""

import sqlalchemy as sa
from alembic import op

revision = "v0001"
down_revision = None
branch_labels = None
depends_on = None

EMPTY, NOTHING, NONE = sa.text("''"), sa.text("'{}'"), sa.text("'[]'")


def _text(name: str, default: sa.TextClause | None = None) -> sa.Column[str]:
    return sa.Column(name, sa.Text, nullable=False, server_default=default)


TABLES = {
    "campaigns": lambda: op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        _text("flow"),
        _text("contacts_file"),
        _text("columns"),
        _text("settings"),
        _text("state"),
        _text("created_at"),
        _text("updated_at"),
    ),
    "contacts": lambda: op.create_table(
        "contacts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        _text("phone"),
        _text("fields"),
        _text("timezones"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("not_before", sa.Text),
        sa.Column("last_outcome", sa.Text),
        sa.Column("disposition", sa.Text),
        _text("slots", NOTHING),
        _text("vars", NOTHING),
        sa.Column("call_id", sa.Text),
        sa.UniqueConstraint("campaign_id", "phone"),
    ),
    "attempts": lambda: op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("contact_id", sa.Integer, sa.ForeignKey("contacts.id"), nullable=False),
        _text("state"),
        _text("started_at"),
        sa.Column("ended_at", sa.Text),
        sa.Column("outcome", sa.Text),
        sa.Column("sip_status", sa.Integer),
        sa.Column("counts", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("call_id", sa.Text),
        _text("note", EMPTY),
    ),
    "rejects": lambda: op.create_table(
        "rejects",
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        _text("raw"),
        _text("reason"),
    ),
    "dnc": lambda: op.create_table(
        "dnc",
        sa.Column("number", sa.Text, primary_key=True),
        _text("reason"),
        _text("source"),
        _text("added_at"),
    ),
    "calls": lambda: op.create_table(
        "calls",
        sa.Column("id", sa.Text, primary_key=True),
        _text("direction"),
        _text("from_uri", EMPTY),
        _text("to_uri", EMPTY),
        _text("flow", EMPTY),
        _text("worker", EMPTY),
        _text("started_at"),
        sa.Column("answered_at", sa.Text),
        sa.Column("ended_at", sa.Text),
        _text("outcome", sa.text("'in_progress'")),
        _text("reason", EMPTY),
        sa.Column("transfer_target", sa.Text),
        sa.Column("recording_path", sa.Text),
        _text("steps", NONE),
        _text("slots", NOTHING),
        _text("vars", NOTHING),
        _text("dtmf", EMPTY),
        _text("incidents", NONE),
    ),
    "turns": lambda: op.create_table(
        "turns",
        sa.Column("call_id", sa.Text, sa.ForeignKey("calls.id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        _text("at"),
        _text("who"),
        _text("text", EMPTY),
        _text("dtmf", EMPTY),
        sa.Column("confidence", sa.Float),
        sa.Column("latency_ms", sa.Float),
        _text("step", EMPTY),
    ),
}
INDEXES = {
    "attempts_by_contact": ("attempts", ["contact_id"]),
    "attempts_dialing": ("attempts", ["state"]),
    "calls_started": ("calls", ["started_at"]),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names())
    for name, create in TABLES.items():  # in foreign-key order
        if name not in present:
            create()
    if "calls" in present:
        present_columns = {c["name"] for c in inspector.get_columns("calls")}
        if "incidents" not in present_columns:  # call records from before incidents were kept
            op.add_column("calls", _text("incidents", NONE))
    indexes = {i["name"] for t in ("attempts", "calls") for i in inspector.get_indexes(t)}
    for index, (table, columns) in INDEXES.items():
        if index not in indexes:
            op.create_index(index, table, columns)


def downgrade() -> None:
    for name in reversed(list(TABLES)):
        op.drop_table(name)
