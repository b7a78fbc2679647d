"""Retention (voicebot/call/retention.py): when a call's words and audio were deleted.

* `calls.purged_at`: NULL while the call's words and recording are kept; the time retention
  deleted them (the row itself stays: outcome, times, steps).
* `purges`: one row per purge that deleted something (when, the age it used, how many calls and
  recording files), for `voicebot calls list` and the console.

Revision ID: v0004
"""

import sqlalchemy as sa
from alembic import op

revision = "v0004"
down_revision = "v0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "purged_at" not in {c["name"] for c in inspector.get_columns("calls")}:
        op.add_column("calls", sa.Column("purged_at", sa.Text))
    if "purges" not in set(inspector.get_table_names()):
        op.create_table(
            "purges",
            sa.Column("at", sa.Text, nullable=False),
            sa.Column("older_than_days", sa.Integer, nullable=False),
            sa.Column("calls", sa.Integer, nullable=False),  # calls whose words were deleted
            sa.Column("recordings", sa.Integer, nullable=False),  # recording files deleted
        )


def downgrade() -> None:
    op.drop_table("purges")
    op.drop_column("calls", "purged_at")
