"""The attempt ledger: campaigns, their contacts and every attempt, in the campaign database.

Write-ahead rule: `begin_attempt` commits an attempt in state `dialing` *before* the dialer
sends the INVITE; `finish_attempt` commits its outcome. A dialer killed at any point therefore
leaves either no attempt (nothing was dialed) or a `dialing` one, which `reconcile(now)` (run
once when a dialer starts, never while one runs) closes with the outcome `unknown`: it counts as
an attempt (the phone may have rung) and the contact follows the `unknown` retry rule — retried
after its backoff, never at once, and ended as `max_attempts` when out of attempts. No contact
is lost (each keeps a row until it has a disposition) and none is dialed twice beyond policy.

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
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from voicebot.campaign import CampaignError
from voicebot.campaign.config import CampaignSettings
from voicebot.campaign.contacts import ImportResult
from voicebot.campaign.database import connect, iso, parse_iso, transaction
from voicebot.campaign.dnc import DoNotCall
from voicebot.campaign.pacing import ContactState, Outcome, Policy, verdict
from voicebot.flow.loader import did_you_mean

SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    flow TEXT NOT NULL,
    contacts_file TEXT NOT NULL,
    columns TEXT NOT NULL,           -- JSON list of the CSV's columns
    settings TEXT NOT NULL,          -- JSON of CampaignSettings
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    line INTEGER NOT NULL,
    phone TEXT NOT NULL,
    fields TEXT NOT NULL,            -- JSON: every column
    timezones TEXT NOT NULL,         -- space-separated IANA names
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT,
    last_outcome TEXT,
    disposition TEXT,                -- NULL while the contact is still to be called
    slots TEXT NOT NULL DEFAULT '{}',
    vars TEXT NOT NULL DEFAULT '{}',
    call_id TEXT,
    UNIQUE (campaign_id, phone)
);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    state TEXT NOT NULL,             -- dialing | done
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT,
    sip_status INTEGER,
    counts INTEGER NOT NULL DEFAULT 1,
    call_id TEXT,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS attempts_by_contact ON attempts (contact_id);
CREATE INDEX IF NOT EXISTS attempts_dialing ON attempts (state);
CREATE TABLE IF NOT EXISTS rejects (
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    line INTEGER NOT NULL,
    raw TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""

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
        self.path = Path(path)
        self.db = connect(self.path)
        self.db.executescript(SCHEMA)
        self.dnc = DoNotCall(self.db, region)

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
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'created', ?, ?)",
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
            cid = cur.lastrowid
            for c in imported.accepted:
                db.execute(
                    "INSERT INTO contacts (campaign_id, line, phone, fields, timezones,"
                    " disposition) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        cid,
                        c.line,
                        c.phone,
                        json.dumps(dict(c.fields)),
                        " ".join(c.timezones),
                        "dnc" if self.dnc.reason(c.phone) else None,
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
                    "UPDATE contacts SET disposition = 'cancelled' WHERE campaign_id = ?"
                    " AND disposition IS NULL AND id NOT IN"
                    " (SELECT contact_id FROM attempts WHERE state = 'dialing')",
                    (campaign.id,),
                )
        return self.campaign(name)

    def finish_if_done(self, name: str, now: datetime) -> bool:
        """Move a running campaign to `finished` once every contact has a disposition."""
        campaign = self.campaign(name)
        left = self.db.execute(
            "SELECT COUNT(*) FROM contacts WHERE campaign_id = ? AND disposition IS NULL",
            (campaign.id,),
        ).fetchone()[0]
        if campaign.state != "running" or left:
            return False
        self.transition(name, "finish", now)
        return True

    # -- contacts --------------------------------------------------------------------------
    def pending(self, campaign: Campaign, now: datetime) -> list[tuple[ContactState, str]]:
        """Contacts to call (no disposition, nothing in flight) with their numbers."""
        since = iso(now - _DAILY_LOOKBACK)
        recent: dict[int, list[datetime]] = {}
        for row in self.db.execute(
            "SELECT contact_id, started_at FROM attempts WHERE campaign_id = ? AND counts = 1"
            " AND started_at >= ?",
            (campaign.id, since),
        ):
            recent.setdefault(row[0], []).append(datetime.fromisoformat(row[1]))
        rows = self.db.execute(
            "SELECT id, phone, timezones, attempts, not_before FROM contacts"
            " WHERE campaign_id = ? AND disposition IS NULL AND id NOT IN"
            " (SELECT contact_id FROM attempts WHERE state = 'dialing') ORDER BY id",
            (campaign.id,),
        )
        return [
            (
                ContactState(
                    r["id"],
                    tuple(r["timezones"].split()),
                    r["attempts"],
                    parse_iso(r["not_before"]),
                    tuple(recent.get(r["id"], ())),
                ),
                r["phone"],
            )
            for r in rows
        ]

    def in_flight(self, campaign: Campaign) -> int:
        return int(
            self.db.execute(
                "SELECT COUNT(*) FROM attempts WHERE campaign_id = ? AND state = 'dialing'",
                (campaign.id,),
            ).fetchone()[0]
        )

    def last_dial_at(self, campaign: Campaign) -> datetime | None:
        row = self.db.execute(
            "SELECT MAX(started_at) FROM attempts WHERE campaign_id = ?", (campaign.id,)
        ).fetchone()
        return parse_iso(row[0])

    def close_contact(self, contact_id: int, disposition: str) -> None:
        """End a contact that is not dialed at all (on the do-not-call list, no window)."""
        with transaction(self.db) as db:
            db.execute(
                "UPDATE contacts SET disposition = ? WHERE id = ? AND disposition IS NULL",
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
            values = (json.dumps(fields), " ".join(timezones), iso(not_before))
            if row is not None:
                db.execute(
                    "UPDATE contacts SET fields = ?, timezones = ?, not_before = ?,"
                    " disposition = NULL, attempts = 0 WHERE id = ?",
                    (*values, row["id"]),
                )
                contact = int(row["id"])
            else:
                line = db.execute(
                    "SELECT COALESCE(MAX(line), 1) + 1 FROM contacts WHERE campaign_id = ?",
                    (campaign.id,),
                ).fetchone()[0]
                cur = db.execute(
                    "INSERT INTO contacts (campaign_id, line, phone, fields, timezones,"
                    " not_before) VALUES (?, ?, ?, ?, ?, ?)",
                    (campaign.id, line, phone, *values),
                )
                assert cur.lastrowid is not None
                contact = cur.lastrowid
            if campaign.state == "finished":
                self.transition(name, "reopen", now)
        return contact

    # -- attempts --------------------------------------------------------------------------
    def begin_attempt(self, contact_id: int, now: datetime) -> Attempt:
        """Write the attempt (state `dialing`) and commit it: only then may the INVITE leave."""
        with transaction(self.db) as db:
            row = db.execute(
                "SELECT c.*, k.name, k.flow, k.state AS campaign_state FROM contacts c"
                " JOIN campaigns k ON k.id = c.campaign_id WHERE c.id = ?",
                (contact_id,),
            ).fetchone()
            if row is not None and row["campaign_state"] != "running":
                raise CampaignError(f"campaign '{row['name']}' is {row['campaign_state']}")
            if row is None or row["disposition"] is not None:
                raise CampaignError(f"contact {contact_id} is not waiting to be called")
            busy = db.execute(
                "SELECT id FROM attempts WHERE contact_id = ? AND state = 'dialing'",
                (contact_id,),
            ).fetchone()
            if busy:
                raise CampaignError(f"contact {contact_id} has attempt {busy[0]} in flight")
            cur = db.execute(
                "INSERT INTO attempts (campaign_id, contact_id, state, started_at)"
                " VALUES (?, ?, 'dialing', ?)",
                (row["campaign_id"], contact_id, iso(now)),
            )
        assert cur.lastrowid is not None
        return Attempt(
            cur.lastrowid,
            row["name"],
            contact_id,
            row["phone"],
            json.loads(row["fields"]),
            row["flow"],
            now,
        )

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
            state = ContactState(row["id"], (), row["attempts"])
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
            db.execute(
                "UPDATE contacts SET attempts = attempts + ?, last_outcome = ?, not_before = ?,"
                " disposition = ?, slots = ?, vars = ?, call_id = COALESCE(?, call_id)"
                " WHERE id = ?",
                (
                    int(decided.counts),
                    outcome.value,
                    iso(decided.not_before),
                    final,
                    json.dumps({**json.loads(row["slots"]), **(slots or {})}, default=str),
                    json.dumps({**json.loads(row["vars"]), **vars}, default=str),
                    call_id,
                    row["id"],
                ),
            )
        return final

    def reconcile(self, now: datetime, campaign: str | None = None) -> list[int]:
        """Close attempts a dead dialer left `dialing` as `unknown` (module docstring).

        Run once when a dialer starts, before its first step; returns the attempt ids."""
        query = "SELECT a.id FROM attempts a JOIN campaigns k ON k.id = a.campaign_id"
        query += " WHERE a.state = 'dialing'" + (" AND k.name = ?" if campaign else "")
        ids = [r[0] for r in self.db.execute(query, (campaign,) if campaign else ())]
        for attempt_id in ids:
            note = "outcome unknown: the dialer stopped before it was recorded"
            self.finish_attempt(attempt_id, Outcome.UNKNOWN, now, note=note)
        return ids

    def attempts(self, campaign: Campaign) -> list[sqlite3.Row]:
        return list(
            self.db.execute(
                "SELECT a.*, c.phone FROM attempts a JOIN contacts c ON c.id = a.contact_id"
                " WHERE a.campaign_id = ? ORDER BY a.id",
                (campaign.id,),
            )
        )


def _campaign(row: sqlite3.Row) -> Campaign:
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
