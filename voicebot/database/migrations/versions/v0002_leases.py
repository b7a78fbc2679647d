"""Leases, planning by due time, the daily cap per number across campaigns.

* `leases`: a dialer's hold on a campaign, renewed while it runs; `attempts.lease_id` names
  the lease an attempt was placed under, so an expired lease's attempts can be reconciled.
* `contacts_waiting`: the contacts without a disposition yet (is the campaign done?).
* `contacts.due_at`: the earliest time a waiting contact may be dialed (NULL: not waiting, in
  flight or done), read through `contacts_due`; existing contacts are due at once (or at their
  retry time) and the planner moves each to its window's opening when it first reads it.
* `attempts.phone` with `attempts_by_phone`: today's attempts on a number, in any campaign.
* `campaigns.tokens`, `campaigns.tokens_at`: the calls-per-second bucket shared by every
  dialer of the campaign.

Revision ID: v0002
"""

import sqlalchemy as sa
from alembic import op

revision = "v0002"
down_revision = "v0001"
branch_labels = None
depends_on = None

EPOCH = "0001-01-01T00:00:00.000+00:00"


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("acquired_at", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Text, nullable=False),
        sa.Column("released_at", sa.Text),
    )
    op.add_column("attempts", sa.Column("lease_id", sa.Integer))
    op.add_column("attempts", sa.Column("phone", sa.Text))
    op.add_column("contacts", sa.Column("due_at", sa.Text))
    op.add_column("campaigns", sa.Column("tokens", sa.Float))
    op.add_column("campaigns", sa.Column("tokens_at", sa.Text))
    op.execute(
        "UPDATE attempts SET phone = (SELECT c.phone FROM contacts c WHERE c.id = contact_id)"
    )
    op.execute(
        sa.text(
            "UPDATE contacts SET due_at = COALESCE(not_before, :epoch) WHERE disposition IS NULL"
            " AND id NOT IN (SELECT contact_id FROM attempts WHERE state = 'dialing')"
        ).bindparams(epoch=EPOCH)
    )
    due = sa.text("due_at IS NOT NULL")
    op.create_index(
        "contacts_due",
        "contacts",
        ["campaign_id", "due_at", "id"],  # the planner's order: no sort of equal due times
        sqlite_where=due,
        postgresql_where=due,
    )
    waiting = sa.text("disposition IS NULL")
    op.create_index(
        "contacts_waiting",
        "contacts",
        ["campaign_id"],
        sqlite_where=waiting,
        postgresql_where=waiting,
    )
    op.create_index("attempts_by_phone", "attempts", ["phone", "started_at"])
    op.create_index("attempts_by_campaign", "attempts", ["campaign_id", "state"])
    op.create_index("attempts_by_lease", "attempts", ["lease_id"])
    op.create_index("leases_by_campaign", "leases", ["campaign_id", "expires_at"])


def downgrade() -> None:
    for index in ("leases_by_campaign", "attempts_by_lease", "attempts_by_campaign"):
        op.drop_index(index)
    op.drop_index("attempts_by_phone")
    op.drop_index("contacts_waiting")
    op.drop_index("contacts_due")
    for table, column in (
        ("campaigns", "tokens_at"),
        ("campaigns", "tokens"),
        ("contacts", "due_at"),
        ("attempts", "phone"),
        ("attempts", "lease_id"),
    ):
        op.drop_column(table, column)
    op.drop_table("leases")
