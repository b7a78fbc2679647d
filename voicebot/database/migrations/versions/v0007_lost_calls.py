"""An index for the calls a dialer lost track of (issue 13): a planning step counts, besides
the attempts `dialing`, those closed as `unknown` within the campaign's
`lost_call_hold_seconds` (a worker or a dialer killed mid-call: the far end may hold the call
a while yet), from the index.

Revision ID: v0007
"""

import sqlalchemy as sa
from alembic import op

revision = "v0007"
down_revision = "v0006"
branch_labels = None
depends_on = None

INDEX = ("attempts_lost", "attempts", ["campaign_id", "outcome", "ended_at"])


def upgrade() -> None:
    name, table, columns = INDEX
    if name not in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(table)}:
        op.create_index(name, table, columns)


def downgrade() -> None:
    name, table, _columns = INDEX
    op.drop_index(name, table_name=table)
