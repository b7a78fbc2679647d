"""The attempt ledger: campaigns, their contacts and every attempt, in the campaign database.

Write-ahead rule: `begin_attempt` commits an attempt in state `dialing` *before* the dialer
sends the INVITE; `finish_attempt` commits its outcome. A dialer killed at any point therefore
leaves either no attempt (nothing was dialed) or a `dialing` one, which `reconcile(now)` closes
with the outcome `unknown` once the dialer's lease has expired (`lease.py`; an attempt under
no lease is closed at once): it counts as an attempt (the phone may have rung) and the contact
follows the `unknown` retry rule — retried after its backoff, never at once, and ended as
`max_attempts` when out of attempts. No contact is lost (each keeps a row until it has a
disposition) and none is dialed twice beyond policy.

Planning reads only due contacts: `lock(campaign)` locks the campaign's row (the
in-flight count and the shared calls-per-second bucket are read and written under it) and
`due(campaign, now, limit)` claims up to `limit` contacts whose `due_at` has come, through the
index `contacts_due` (`FOR UPDATE SKIP LOCKED` on PostgreSQL). A call lost with its worker or
dialer (closed as `unknown`) keeps its call slot for the campaign's `lost_call_hold_seconds`
after it was closed: the far end may hold it until it times the silence out, and
`max_concurrent` is what the trunk sees. The daily cap counts the attempts on the *number* in
every campaign (`attempts_by_phone`).

Campaign states (the only transitions):

    created --start--> running --pause--> paused --resume--> running
    created | running | paused --cancel--> cancelled
    running --(every contact has a disposition)--> finished
    finished --reopen--> running      (a call-back added a contact: campaign/callbacks.py)

`cancel` gives every waiting contact the disposition `cancelled`; calls in flight end normally
and their contacts get the flow's disposition when answered, else `cancelled`.
Dispositions are listed in `results.py`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from voicebot.campaign import CampaignError
from voicebot.campaign.config import CampaignSettings
from voicebot.campaign.contacts import ImportResult
from voicebot.campaign.database import connect, iso, parse_iso, transaction
from voicebot.campaign.dnc import DoNotCall
from voicebot.campaign.lease import Lease, Leases
from voicebot.campaign.pacing import ContactState, Outcome, Pacer, Policy, eligible_at, verdict
from voicebot.database import Record
from voicebot.flow.loader import did_you_mean
from voicebot.policy.card_numbers import redact_value

# Tables (created and upgraded by voicebot/database/migrations/versions/): campaigns, contacts
# (`due_at`: when a waiting contact may be dialed, NULL when it is in flight or done), attempts
# (`lease_id`: the dialer's lease; `phone`: for the daily cap per number), rejects, leases, dnc.
_EPOCH = "0001-01-01T00:00:00.000+00:00"  # due at once

TRANSITIONS = {
    ("created", "start"): "running",
    ("running", "pause"): "paused",
    ("paused", "resume"): "running",
    ("created", "cancel"): "cancelled",
    ("running", "cancel"): "cancelled",
    ("paused", "cancel"): "cancelled",
    ("running", "finish"): "finished",
    ("finished", "reopen"): "running",
}
_DAILY_LOOKBACK = timedelta(days=2)  # covers "today" in any time zone


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    flow: str
    contacts_file: str
    columns: tuple[str, ...]
    settings_json: str
    state: str
    created_at: str

    @property
    def settings(self) -> CampaignSettings:
        return CampaignSettings.model_validate_json(self.settings_json)

    @property
    def policy(self) -> Policy:
        return self.settings.to_policy()


@dataclass(frozen=True)
class Attempt:
    """An attempt written before its INVITE: what the dialer needs to place the call."""

    id: int
    campaign: str
    contact_id: int
    phone: str
    contact: dict[str, str]  # the row's columns: the flow's `contact.*`
    flow: str
    started_at: datetime


class Ledger:
    def __init__(self, path: str | Path, region: str = "US"):
        self.db = connect(path)
        self.path = self.db.shown  # the file, or the URL without its password
        self.dnc = DoNotCall(self.db, region)
        self.leases = Leases(self.db)

    def close(self) -> None:
        self.db.close()

    # -- campaigns -------------------------------------------------------------------------
    def create(
        self,
        name: str,
        *,
        flow: str,
        imported: ImportResult,
        settings: CampaignSettings,
        now: datetime,
    ) -> Campaign:
        """A campaign in state `created`; contacts on the do-not-call list get `dnc` at once."""
        with transaction(self.db) as db:
            if db.execute("SELECT 1 FROM campaigns WHERE name = ?", (name,)).fetchone():
                raise CampaignError(f"campaign '{name}' already exists: choose another --name")
            cur = db.execute(
                "INSERT INTO campaigns (name, flow, contacts_file, columns, settings, state,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'created', ?, ?) RETURNING id",
                (
                    name,
                    flow,
                    imported.file,
                    json.dumps(list(imported.columns)),
                    settings.model_dump_json(),
                    iso(now),
                    iso(now),
                ),
            )
            cid = cur.scalar()
            listed = self.dnc.numbers()
            db.executemany(
                "INSERT INTO contacts (campaign_id, line, phone, fields, timezones,"
                " disposition, due_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        cid,
                        c.line,
                        c.phone,
                        json.dumps(dict(c.fields)),
                        " ".join(c.timezones),
                        "dnc" if c.phone in listed else None,
                        None if c.phone in listed else _EPOCH,  # the planner finds its window
                    )
                    for c in imported.accepted
                ),
            )
            db.executemany(
                "INSERT INTO rejects (campaign_id, line, raw, reason) VALUES (?, ?, ?, ?)",
                [(cid, r.line, r.raw, r.reason) for r in imported.rejected],
            )
        return self.campaign(name)

    def campaign(self, name: str) -> Campaign:
        row = self.db.execute("SELECT * FROM campaigns WHERE name = ?", (name,)).fetchone()
        if row is None:
            names = [c.name for c in self.campaigns()]
            hint = did_you_mean(name, names) or f"known: {', '.join(names) or 'none'}"
            raise CampaignError(f"{self.path}: no campaign '{name}' ({hint})")
        return _campaign(row)

    def campaigns(self) -> list[Campaign]:
        return [_campaign(r) for r in self.db.execute("SELECT * FROM campaigns ORDER BY id")]

    def transition(self, name: str, action: str, now: datetime) -> Campaign:
        """start / pause / resume / cancel / finish, by the table in the module docstring."""
        with transaction(self.db) as db:
            campaign = self.campaign(name)
            new = TRANSITIONS.get((campaign.state, action))
            if new is None:
                raise CampaignError(f"campaign '{name}' is {campaign.state}: cannot {action} it")
            db.execute(
                "UPDATE campaigns SET state = ?, updated_at = ? WHERE id = ?",
                (new, iso(now), campaign.id),
            )
            if action == "cancel":
                db.execute(
                    "UPDATE contacts SET disposition = 'cancelled', due_at = NULL"
                    " WHERE campaign_id = ?"
                    " AND disposition IS NULL AND id NOT IN"
                    " (SELECT contact_id FROM attempts WHERE state = 'dialing')",
                    (campaign.id,),
                )
        return self.campaign(name)

    def finish_if_done(self, campaign: Campaign, now: datetime) -> bool:
        """Move a running campaign to `finished` once every contact has a disposition."""
        left = self.db.execute(
            "SELECT 1 FROM contacts WHERE campaign_id = ? AND disposition IS NULL LIMIT 1",
            (campaign.id,),
        ).fetchone()
        if campaign.state != "running" or left:
            return False
        self.transition(campaign.name, "finish", now)
        return True

    # -- contacts --------------------------------------------------------------------------
    def pending(self, campaign: Campaign, now: datetime) -> list[tuple[ContactState, str]]:
        """Contacts to call (no disposition, nothing in flight) with their numbers: all of them,
        for reports (a dialer reads only the due ones: `due`)."""
        rows = self.db.execute(
            "SELECT id, phone, timezones, attempts, not_before FROM contacts"
            " WHERE campaign_id = ? AND disposition IS NULL AND id NOT IN"
            " (SELECT contact_id FROM attempts WHERE state = 'dialing') ORDER BY id",
            (campaign.id,),
        ).fetchall()
        recent = self.recent((r["phone"] for r in rows), now)
        return [(_state(r, recent), r["phone"]) for r in rows]

    def wake_candidates(self, campaign: Campaign, now: datetime) -> list[ContactState]:
        """Contacts standing for every waiting one when asking when the next may be dialed:
        those dialed in the last two days (the daily cap needs their attempts) as they are,
        and for the rest one per set of time zones with the earliest `not_before` (without
        recent attempts the earliest time a contact may be dialed depends on nothing else, and
        never comes before that of one with an earlier `not_before`). A campaign's thousands
        of waiting contacts are a few rows."""
        waiting = (
            "FROM contacts c WHERE c.campaign_id = ? AND c.disposition IS NULL AND c.id NOT IN"
            " (SELECT contact_id FROM attempts WHERE campaign_id = ? AND state = 'dialing')"
            " AND {} EXISTS (SELECT 1 FROM attempts a WHERE a.phone = c.phone AND a.counts = 1"
            " AND a.started_at >= ?)"
        )
        args = (campaign.id, campaign.id, iso(now - _DAILY_LOOKBACK))
        out = [
            ContactState(0, tuple(r[0].split()), 0, parse_iso(r[1] or None))
            for r in self.db.execute(
                "SELECT c.timezones, MIN(COALESCE(c.not_before, ''))"
                f" {waiting.format('NOT')} GROUP BY c.timezones",
                args,
            )
        ]
        rows = self.db.execute(
            f"SELECT c.id, c.phone, c.timezones, c.attempts, c.not_before {waiting.format('')}",
            args,
        ).fetchall()
        recent = self.recent((r["phone"] for r in rows), now)
        return out + [_state(r, recent) for r in rows]

    def recent(self, phones: Iterable[str], now: datetime) -> dict[str, list[datetime]]:
        """Starts of counted attempts on each number in the last two days, in any campaign."""
        wanted = sorted(set(phones))
        since = iso(now - _DAILY_LOOKBACK)
        out: dict[str, list[datetime]] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT phone, started_at FROM attempts WHERE phone IN ({marks})"
                " AND counts = 1 AND started_at >= ?",
                (*chunk, since),
            ):
                out.setdefault(row[0], []).append(datetime.fromisoformat(row[1]))
        return out

    def lock(self, campaign: Campaign) -> Pacer:
        """Lock the campaign (call inside `db.transaction()`): its shared calls-per-second
        bucket, with the attempts `dialing` of every dialer as `in_flight`."""
        row = self.db.execute(
            "SELECT tokens, tokens_at FROM campaigns WHERE id = ?" + self.db.for_update,
            (campaign.id,),
        ).fetchone()
        assert row is not None
        flying = self.in_flight(campaign)
        if row["tokens_at"] is not None:
            return Pacer(flying, float(row["tokens"]), parse_iso(row["tokens_at"]))
        last = self.last_dial_at(campaign)  # never dialed under this version: from the last dial
        return Pacer(flying, 0.0, last) if last else Pacer(flying)

    def due(self, campaign: Campaign, now: datetime, limit: int) -> list[tuple[ContactState, str]]:
        """Claim up to `limit` due contacts, due first, with their numbers (under `lock`)."""
        if limit <= 0:
            return []
        rows = self.db.execute(
            "SELECT id, phone, timezones, attempts, not_before FROM contacts"
            " WHERE campaign_id = ? AND due_at IS NOT NULL AND due_at <= ?"
            " ORDER BY due_at, id LIMIT ?" + self.db.skip_locked,
            (campaign.id, iso(now), limit),
        ).fetchall()
        recent = self.recent((r["phone"] for r in rows), now)
        return [(_state(r, recent), r["phone"]) for r in rows]

    def save_bucket(self, campaign: Campaign, pacer: Pacer) -> None:
        """The shared calls-per-second bucket after a planning step."""
        self.db.execute(
            "UPDATE campaigns SET tokens = ?, tokens_at = ? WHERE id = ?",
            (pacer.tokens, iso(pacer.at), campaign.id),
        )

    def defer(self, contact_id: int, at: datetime) -> None:
        """A contact read as due that may be dialed only at `at` (its window, the daily cap)."""
        self.db.execute(
            "UPDATE contacts SET due_at = ? WHERE id = ? AND due_at IS NOT NULL",
            (iso(at), contact_id),
        )

    def next_due(self, campaign: Campaign) -> datetime | None:
        """When the first waiting contact is due (through `contacts_due`)."""
        row = self.db.execute(
            "SELECT MIN(due_at) FROM contacts WHERE campaign_id = ? AND due_at IS NOT NULL",
            (campaign.id,),
        ).fetchone()
        value = row[0] if row else None
        return None if value is None else max(datetime.fromisoformat(value), _never_before())

    def in_flight(self, campaign: Campaign) -> int:
        return int(
            self.db.execute(
                "SELECT COUNT(*) FROM attempts WHERE campaign_id = ? AND state = 'dialing'",
                (campaign.id,),
            ).fetchone()[0]
        )

    def lost_lately(self, campaign: Campaign, now: datetime) -> tuple[int, datetime | None]:
        """Attempts closed as `unknown` within the campaign's `lost_call_hold_seconds` (index
        `attempts_lost`), the far end may hold those calls yet; and when the first slot they
        hold is free again."""
        hold = timedelta(seconds=campaign.settings.lost_call_hold_seconds)
        row = self.db.execute(
            "SELECT COUNT(*), MIN(ended_at) FROM attempts WHERE campaign_id = ?"
            " AND outcome = 'unknown' AND ended_at > ?",
            (campaign.id, iso(now - hold)),
        ).fetchone()
        first = parse_iso(row[1])
        return int(row[0]), None if first is None else first + hold

    def last_dial_at(self, campaign: Campaign) -> datetime | None:
        row = self.db.execute(
            "SELECT MAX(started_at) FROM attempts WHERE campaign_id = ?", (campaign.id,)
        ).fetchone()
        return parse_iso(row[0])

    def close_contact(self, contact_id: int, disposition: str) -> None:
        """End a contact that is not dialed at all (on the do-not-call list, no window)."""
        with transaction(self.db) as db:
            db.execute(
                "UPDATE contacts SET disposition = ?, due_at = NULL"
                " WHERE id = ? AND disposition IS NULL",
                (disposition, contact_id),
            )

    def add_contact(
        self,
        name: str,
        phone: str,
        fields: dict[str, str],
        timezones: tuple[str, ...],
        not_before: datetime | None,
        now: datetime,
    ) -> int:
        """Add a contact to a campaign as it runs (a call-back); returns its id. The number is
        E.164 and already checked. A number waiting in the campaign gets the new fields and
        time; one called before is armed again (no disposition, no attempts); one on the
        do-not-call list is refused, as at import."""
        reason = self.dnc.reason(phone)
        if reason:
            raise CampaignError(f"{phone} is on the do-not-call list ({reason})")
        with transaction(self.db) as db:
            campaign = self.campaign(name)
            if campaign.state == "cancelled":
                raise CampaignError(f"campaign '{name}' is cancelled: no call-backs are added")
            row = db.execute(
                "SELECT id FROM contacts WHERE campaign_id = ? AND phone = ?",
                (campaign.id, phone),
            ).fetchone()
            due = iso(not_before) or _EPOCH  # the planner finds its window from then
            values = (json.dumps(fields), " ".join(timezones), iso(not_before), due)
            if row is not None:
                db.execute(
                    "UPDATE contacts SET fields = ?, timezones = ?, not_before = ?, due_at = ?,"
                    " disposition = NULL, attempts = 0 WHERE id = ?",
                    (*values, row["id"]),
                )
                contact = int(row["id"])
            else:
                line = db.execute(
                    "SELECT COALESCE(MAX(line), 1) + 1 FROM contacts WHERE campaign_id = ?",
                    (campaign.id,),
                ).fetchone()[0]
                contact = db.execute(
                    "INSERT INTO contacts (campaign_id, line, phone, fields, timezones,"
                    " not_before, due_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (campaign.id, line, phone, *values),
                ).fetchone()[0]
            if campaign.state == "finished":
                self.transition(name, "reopen", now)
        return contact

    # -- attempts --------------------------------------------------------------------------
    def begin_attempt(
        self, contact_id: int, now: datetime, *, lease: Lease | None = None
    ) -> Attempt:
        """Write the attempt (state `dialing`, under the dialer's `lease`) and commit it: only
        then may the INVITE leave."""
        return self.begin_attempts([(contact_id, lease)], now)[0]

    def begin_attempts(
        self, picks: Sequence[tuple[int, Lease | None]], now: datetime
    ) -> list[Attempt]:
        """`begin_attempt` of each (contact, lease), in that order, in one change and a few
        statements whatever their number (a planning step's dials); none if one can't be."""
        ids = [contact_id for contact_id, _ in picks]
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        # its checks come before its writes: inside a planning step's change, no savepoint
        with nullcontext(self.db) if self.db.in_transaction else transaction(self.db) as db:
            rows = {
                r["id"]: r
                for r in db.execute(
                    "SELECT c.id, c.campaign_id, c.phone, c.fields, c.disposition, k.name,"
                    " k.flow, k.state AS campaign_state, (SELECT MIN(a.id) FROM attempts a"
                    " WHERE a.contact_id = c.id AND a.state = 'dialing') AS busy FROM contacts c"
                    f" JOIN campaigns k ON k.id = c.campaign_id WHERE c.id IN ({marks})",
                    ids,
                )
            }
            for contact_id in ids:
                row = rows.get(contact_id)
                if row is not None and row["campaign_state"] != "running":
                    raise CampaignError(f"campaign '{row['name']}' is {row['campaign_state']}")
                if row is None or row["disposition"] is not None:
                    raise CampaignError(f"contact {contact_id} is not waiting to be called")
                if row["busy"] is not None:
                    raise CampaignError(f"contact {contact_id} has attempt {row['busy']} in flight")
            if len(set(ids)) < len(ids):
                raise CampaignError(f"contacts {ids}: one of them is picked twice")
            values = []
            for contact_id, lease in picks:
                row = rows[contact_id]
                values += [row["campaign_id"], contact_id, iso(now), lease and lease.id]
                values.append(row["phone"])
            made = db.execute(
                "INSERT INTO attempts (campaign_id, contact_id, state, started_at, lease_id,"
                " phone) VALUES "
                + ", ".join(["(?, ?, 'dialing', ?, ?, ?)"] * len(ids))
                + " RETURNING contact_id, id",
                values,
            ).fetchall()
            db.execute(f"UPDATE contacts SET due_at = NULL WHERE id IN ({marks})", ids)
        attempt_of = {int(r[0]): int(r[1]) for r in made}
        return [
            Attempt(
                attempt_of[contact_id],
                rows[contact_id]["name"],
                contact_id,
                rows[contact_id]["phone"],
                json.loads(rows[contact_id]["fields"]),
                rows[contact_id]["flow"],
                now,
            )
            for contact_id in ids
        ]

    def finish_attempt(
        self,
        attempt_id: int,
        outcome: Outcome | str,
        now: datetime,
        *,
        sip_status: int | None = None,
        call_id: str | None = None,
        slots: dict[str, Any] | None = None,
        vars: dict[str, Any] | None = None,
        note: str = "",
    ) -> str | None:
        """Record an attempt's outcome; returns the contact's disposition once it is done.

        The flow's `vars.disposition` names the disposition of an answered call; a truthy
        `vars.do_not_call` adds the number to the do-not-call list and ends the contact.
        A second report for the same attempt is ignored (returns None)."""
        outcome = Outcome(outcome)
        vars = vars or {}
        with transaction(self.db) as db:
            row = db.execute(
                "SELECT a.state, c.*, k.name, k.settings, k.state AS campaign_state"
                " FROM attempts a JOIN contacts c ON c.id = a.contact_id"
                " JOIN campaigns k ON k.id = a.campaign_id WHERE a.id = ?",
                (attempt_id,),
            ).fetchone()
            if row is None or row["state"] != "dialing":
                return None
            policy = CampaignSettings.model_validate_json(row["settings"]).to_policy()
            state = ContactState(row["id"], tuple(row["timezones"].split()), row["attempts"])
            decided = verdict(policy, state, outcome, now)
            final = decided.final
            if final and outcome in (Outcome.ANSWERED, Outcome.MACHINE):
                final = str(vars.get("disposition") or final)
            if vars.get("do_not_call"):
                reason = f"callee asked not to be called (campaign {row['name']})"
                self.dnc.add(row["phone"], reason, now=now, source=f"campaign:{row['name']}")
                final = str(vars.get("disposition") or "opt_out")
            if final is None and row["campaign_state"] == "cancelled":
                final = "cancelled"
            db.execute(
                "UPDATE attempts SET state = 'done', ended_at = ?, outcome = ?, sip_status = ?,"
                " counts = ?, call_id = ?, note = ? WHERE id = ?",
                (iso(now), outcome.value, sip_status, int(decided.counts), call_id, note,
                 attempt_id),
            )  # fmt: skip
            due = None
            if final is None:
                recent = self.recent([row["phone"]], now).get(row["phone"], [])
                later = ContactState(
                    state.id,
                    state.timezones,
                    state.attempts + decided.counts,
                    decided.not_before,
                    tuple(recent),
                )
                due = _due(policy, later, now)
            db.execute(
                "UPDATE contacts SET attempts = attempts + ?, last_outcome = ?, not_before = ?,"
                " disposition = ?, slots = ?, vars = ?, call_id = COALESCE(?, call_id),"
                " due_at = ? WHERE id = ?",
                (
                    int(decided.counts),
                    outcome.value,
                    iso(decided.not_before),
                    final,
                    _answers({**json.loads(row["slots"]), **(slots or {})}),
                    _answers({**json.loads(row["vars"]), **vars}),
                    call_id,
                    due,
                    row["id"],
                ),
            )
        return final

    def reconcile(
        self, now: datetime, campaign: str | None = None, *, lease: int | None = None
    ) -> list[int]:
        """Close as `unknown` the attempts a dead dialer left `dialing` (module docstring):
        those under no lease and under a lease that expired (released now), or, with `lease`,
        those under that lease whatever its time (an operator's `campaign reconcile --lease`).
        Returns the attempt ids."""
        with transaction(self.db):
            campaign_id = self.campaign(campaign).id if campaign else None
            if lease is not None:
                self.db.execute(
                    "UPDATE leases SET released_at = ? WHERE id = ? AND released_at IS NULL",
                    (iso(now), lease),
                )
            else:
                self.leases.take_expired(now, campaign_id)
            query = "SELECT a.id FROM attempts a WHERE a.state = 'dialing'"
            args: list[Any] = []
            if campaign_id is not None:
                query += " AND a.campaign_id = ?"
                args.append(campaign_id)
            if lease is not None:
                query += " AND a.lease_id = ?"
                args.append(lease)
            else:
                query += " AND (a.lease_id IS NULL OR a.lease_id IN (SELECT id FROM leases"
                query += " WHERE released_at IS NOT NULL OR expires_at <= ?))"
                args.append(iso(now))
            ids = [int(r[0]) for r in self.db.execute(query + " ORDER BY a.id", args)]
            note = "outcome unknown: the dialer stopped before it was recorded"
            for attempt_id in ids:
                self.finish_attempt(attempt_id, Outcome.UNKNOWN, now, note=note)
        return ids

    def attempts(self, campaign: Campaign) -> list[Record]:
        return list(
            self.db.execute(
                "SELECT a.*, c.phone FROM attempts a JOIN contacts c ON c.id = a.contact_id"
                " WHERE a.campaign_id = ? ORDER BY a.id",
                (campaign.id,),
            )
        )


def _state(row: Record, recent: dict[str, list[datetime]]) -> ContactState:
    return ContactState(
        row["id"],
        tuple(row["timezones"].split()),
        row["attempts"],
        parse_iso(row["not_before"]),
        tuple(recent.get(row["phone"], ())),
    )


def _due(policy: Policy, contact: ContactState, now: datetime) -> str:
    """`due_at` of a waiting contact: when its window opens under the cap (now when it never
    does: the planner then ends it as `no_window`)."""
    return iso(eligible_at(policy, contact, now) or contact.not_before or now) or _EPOCH


def _never_before() -> datetime:
    return datetime.fromisoformat(_EPOCH)


def _campaign(row: Record) -> Campaign:
    return Campaign(
        row["id"],
        row["name"],
        row["flow"],
        row["contacts_file"],
        tuple(json.loads(row["columns"])),
        row["settings"],
        row["state"],
        row["created_at"],
    )


def _answers(values: dict[str, Any]) -> str:
    """A contact's slots or vars as stored: card-like numbers redacted (policy/card_numbers)."""
    return json.dumps(redact_value(values), default=str)
