"""Leases: a dialer's renewable hold on a campaign, in the campaign database.

A dialer (`voicebot campaign run`, on this machine or another) takes a lease when it starts,
renews it while it runs (every third of its time to live) and releases it when it stops.
Each attempt it writes names its lease (`attempts.lease_id`). A lease whose time ran out
belongs to a dialer that is gone (killed, frozen, its machine lost): any dialer of the
campaign, or `voicebot campaign reconcile`, then releases it and closes its attempts still
`dialing` as `unknown` (`Ledger.reconcile`). A dialer whose lease was released that way
learns it at its next renewal (`renew` returns None), takes a new lease and goes on; the
results of its old calls are ignored (their attempts are already closed).

Several dialers may hold leases on one campaign at once: claims of contacts are row-locked
(`Ledger.due`), so none is dialed twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from voicebot.campaign.database import iso, parse_iso
from voicebot.database import Database

TTL = timedelta(seconds=30)  # a dead dialer's calls are reconciled this long after it stopped


@dataclass(frozen=True)
class Lease:
    id: int
    campaign_id: int
    holder: str  # "host pid N"
    expires_at: datetime

    def renew_at(self, ttl: timedelta = TTL) -> datetime:
        return self.expires_at - ttl * 2 / 3


class Leases:
    def __init__(self, db: Database):
        self.db = db

    def acquire(self, campaign_id: int, holder: str, now: datetime, ttl: timedelta = TTL) -> Lease:
        expires = now + ttl
        row = self.db.execute(
            "INSERT INTO leases (campaign_id, holder, acquired_at, expires_at)"
            " VALUES (?, ?, ?, ?) RETURNING id",
            (campaign_id, holder, iso(now), iso(expires)),
        ).fetchone()
        assert row is not None
        return Lease(int(row[0]), campaign_id, holder, expires)

    def renew(self, lease: Lease, now: datetime, ttl: timedelta = TTL) -> Lease | None:
        """The lease, `ttl` longer; None when it was released (it expired and was reconciled)."""
        expires = now + ttl
        done = self.db.execute(
            "UPDATE leases SET expires_at = ? WHERE id = ? AND released_at IS NULL",
            (iso(expires), lease.id),
        )
        return Lease(lease.id, lease.campaign_id, lease.holder, expires) if done.rowcount else None

    def release(self, lease: Lease, now: datetime) -> None:
        self.db.execute(
            "UPDATE leases SET released_at = ? WHERE id = ? AND released_at IS NULL",
            (iso(now), lease.id),
        )

    def take_expired(self, now: datetime, campaign_id: int | None = None) -> list[int]:
        """Release every lease whose time ran out (of one campaign); their ids. Run inside the
        transaction that reconciles their attempts."""
        query = "UPDATE leases SET released_at = ? WHERE released_at IS NULL AND expires_at <= ?"
        args: tuple[object, ...] = (iso(now), iso(now))
        if campaign_id is not None:
            query += " AND campaign_id = ?"
            args += (campaign_id,)
        return [int(r[0]) for r in self.db.execute(query + " RETURNING id", args)]

    def live(self, campaign_id: int, now: datetime) -> list[Lease]:
        rows = self.db.execute(
            "SELECT id, holder, expires_at FROM leases WHERE campaign_id = ?"
            " AND released_at IS NULL AND expires_at > ? ORDER BY id",
            (campaign_id, iso(now)),
        )
        return [
            Lease(r["id"], campaign_id, r["holder"], parse_iso(r["expires_at"]) or now)
            for r in rows
        ]
