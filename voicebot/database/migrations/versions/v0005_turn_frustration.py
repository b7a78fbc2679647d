"""The caller's mood per turn (voicebot/dialog/frustration.py).

* `turns.frustration`: the estimate after a caller turn, 0..1 (NULL for bot turns);
* `turns.reasons`: why, a JSON list ("said 'this is useless'", "2 failed turn(s) in a row");
* `turns.sentiment`: of the caller's words, -1..1.

Each column is added only when missing (a records file may have been written by a build that
added them itself).

Revision ID: v0005
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "v0005"
down_revision = "v0004"
branch_labels = None
depends_on = None


def _columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("frustration", sa.Float),
        sa.Column("reasons", sa.Text, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("sentiment", sa.Float),
    ]


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("turns")}
    for column in _columns():
        if column.name not in present:
            op.add_column("turns", column)


def downgrade() -> None:
    for column in reversed(_columns()):
        op.drop_column("turns", column.name)
