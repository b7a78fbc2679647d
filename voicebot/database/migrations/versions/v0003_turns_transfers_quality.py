"""Call records of barge-ins, the turn model, warm transfers and quality inspection.

* `turns.barge_in` (1 when the caller talked over the bot), `turns.end_of_turn` (what ended a
  caller's speech: complete, turn, timeout, max_speech; '' before the turn model) and
  `turns.turn_score` (the turn model's score, if it was asked).
* `transfers`: the last transfer of a call (blind or warm), for the agent it goes to.
* `quality`: the call's latest quality inspection (voicebot/quality/).

A database written before versions were kept may already hold some of these (the call records
created them as they came): each table and column is added only when missing.

Revision ID: v0003
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "v0003"
down_revision = "v0002"
branch_labels = None
depends_on = None


def _turn_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("barge_in", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("end_of_turn", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("turn_score", sa.Float),
    ]


TABLES = {
    "transfers": lambda: op.create_table(
        "transfers",
        sa.Column("call_id", sa.Text, sa.ForeignKey("calls.id"), primary_key=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),  # blind | warm
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),  # call.summary when the transfer began
        sa.Column("outcome", sa.Text),  # ok | busy | no_answer | failed; NULL while it runs
        sa.Column("join_ms", sa.Float),  # warm, ok: from the agent accepting to the join
    ),
    "quality": lambda: op.create_table(
        "quality",
        sa.Column("call_id", sa.Text, sa.ForeignKey("calls.id"), primary_key=True),
        sa.Column("scored_at", sa.Text, nullable=False),
        sa.Column("rules", sa.Text, nullable=False),  # the rules file
        sa.Column("score", sa.Float),  # 0..100; NULL when no rule could be measured
        # [{rule, status, turn, detail, weight}]
        sa.Column("findings", sa.Text, nullable=False, server_default=sa.text("'[]'")),
    ),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = {c["name"] for c in inspector.get_columns("turns")}
    for column in _turn_columns():
        if column.name not in present:
            op.add_column("turns", column)
    tables = set(inspector.get_table_names())
    for name, create in TABLES.items():
        if name not in tables:
            create()


def downgrade() -> None:
    for name in reversed(list(TABLES)):
        op.drop_table(name)
    for column in reversed(_turn_columns()):
        op.drop_column("turns", column.name)
