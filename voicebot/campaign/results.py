"""Campaign results: each contact's disposition, attempts, captured slots and call record;
export to CSV and JSON; the `status` view with rich (progress bar, counts, next wake-up).

Dispositions (final unless noted):

    pending            (not final) waiting for its next attempt
    in_flight          (not final) an attempt is being dialed or talking
    completed          answered; the flow set no `vars.disposition`
    <flow's own>       answered and the flow set `vars.disposition`: confirmed, promise_to_pay,
                       already_paid, callback, opt_out, machine_message, ...
    opt_out            the callee asked not to be called (`vars.do_not_call`); number now in DNC
    machine            a machine answered and the flow left no disposition, no retry
    busy | no_answer | failed | unknown
                       that outcome, when its retry rule says not to retry
    max_attempts       the last allowed attempt failed (its outcome is `last_outcome`)
    invalid            404/410/484/604: the number does not exist; never retried
    dnc                on the do-not-call list at import or at the moment of dialing
    no_window          its time zones share no hour of the calling window
    cancelled          the campaign was cancelled before the contact was done
    rejected           the CSV row was not imported (`reason` says why)

Every CSV row appears exactly once in an export: accepted rows with their disposition,
rejected rows as `rejected` with the reason.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.progress_bar import ProgressBar
from rich.table import Table

from voicebot.campaign.ledger import Campaign, Ledger
from voicebot.campaign.pacing import eligible_at

_FIELDS = ("line", "phone", "disposition", "attempts", "last_outcome", "call_id", "reason")


@dataclass(frozen=True)
class ContactResult:
    line: int
    phone: str
    disposition: str
    attempts: int
    last_outcome: str
    call_id: str
    reason: str  # why a row was rejected
    slots: dict[str, Any]
    contact: dict[str, str]


@dataclass(frozen=True)
class Summary:
    name: str
    state: str
    total: int  # CSV rows: accepted + rejected
    done: int  # rows with a final disposition (rejected rows included)
    counts: dict[str, int]  # by disposition, pending and in_flight included
    in_flight: int
    next_wake: datetime | None  # when the next waiting contact may be dialed


def results(ledger: Ledger, campaign: Campaign) -> list[ContactResult]:
    """Every row of the campaign's CSV, in line order."""
    flying = {
        r[0]
        for r in ledger.db.execute(
            "SELECT contact_id FROM attempts WHERE campaign_id = ? AND state = 'dialing'",
            (campaign.id,),
        )
    }
    out = [
        ContactResult(
            r["line"],
            r["phone"],
            r["disposition"] or ("in_flight" if r["id"] in flying else "pending"),
            r["attempts"],
            r["last_outcome"] or "",
            r["call_id"] or "",
            "",
            json.loads(r["slots"]),
            json.loads(r["fields"]),
        )
        for r in ledger.db.execute(
            "SELECT * FROM contacts WHERE campaign_id = ? ORDER BY line", (campaign.id,)
        )
    ]
    out += [
        ContactResult(r["line"], r["raw"], "rejected", 0, "", "", r["reason"], {}, {})
        for r in ledger.db.execute(
            "SELECT * FROM rejects WHERE campaign_id = ? ORDER BY line", (campaign.id,)
        )
    ]
    return sorted(out, key=lambda r: r.line)


def summary(ledger: Ledger, campaign: Campaign, now: datetime) -> Summary:
    """One campaign's progress (`summaries` of it alone)."""
    return summaries(ledger, [campaign], now)[0]


def summaries(ledger: Ledger, campaigns: Sequence[Campaign], now: datetime) -> list[Summary]:
    """The campaigns' progress, counted by the database in four grouped queries whatever the
    number of campaigns (a campaign of 100,000 rows is not read row by row, and the console
    asks for every campaign's each second); only a running campaign with contacts waiting
    reads more, to say when the next may be dialed."""
    if not campaigns:
        return []
    ids = [c.id for c in campaigns]
    marks = ", ".join("?" * len(ids))
    counts: dict[int, Counter[str]] = {i: Counter() for i in ids}
    for campaign_id, disposition, n in ledger.db.execute(
        "SELECT campaign_id, disposition, COUNT(*) FROM contacts"
        f" WHERE campaign_id IN ({marks}) AND disposition IS NOT NULL"
        " GROUP BY campaign_id, disposition",
        ids,
    ):
        counts[campaign_id][disposition] = int(n)
    flying: Counter[int] = Counter()
    for campaign_id, n in ledger.db.execute(  # an attempt's contact still without disposition
        "SELECT a.campaign_id, COUNT(DISTINCT a.contact_id) FROM attempts a"
        " JOIN contacts c ON c.id = a.contact_id"
        f" WHERE a.campaign_id IN ({marks}) AND a.state = 'dialing' AND c.disposition IS NULL"
        " GROUP BY a.campaign_id",
        ids,
    ):
        flying[campaign_id] = int(n)
    for campaign_id, waiting in ledger.db.execute(
        "SELECT campaign_id, COUNT(*) FROM contacts"
        f" WHERE campaign_id IN ({marks}) AND disposition IS NULL GROUP BY campaign_id",
        ids,
    ):
        counts[campaign_id]["in_flight"] = flying[campaign_id]
        counts[campaign_id]["pending"] = int(waiting) - flying[campaign_id]
    for campaign_id, n in ledger.db.execute(
        f"SELECT campaign_id, COUNT(*) FROM rejects WHERE campaign_id IN ({marks})"
        " GROUP BY campaign_id",
        ids,
    ):
        counts[campaign_id]["rejected"] = int(n)
    return [_summary(ledger, c, counts[c.id], now) for c in campaigns]


def _summary(ledger: Ledger, campaign: Campaign, counts: Counter[str], now: datetime) -> Summary:
    total = sum(counts.values())
    next_wake = None
    if campaign.state == "running" and counts["pending"]:
        policy = campaign.policy
        times = (eligible_at(policy, s, now) for s in ledger.wake_candidates(campaign, now))
        next_wake = min((t for t in times if t is not None), default=None)
    done = total - counts["pending"] - counts["in_flight"]
    return Summary(
        campaign.name,
        campaign.state,
        total,
        done,
        dict(sorted((k, n) for k, n in counts.items() if n)),
        counts["in_flight"],
        next_wake,
    )


def export_csv(rows: list[ContactResult], columns: tuple[str, ...]) -> str:
    """One line per CSV row: the result fields, `slot.<name>`, then `contact.<column>`."""
    slot_names = sorted({name for r in rows for name in r.slots})
    contact_names = [c for c in columns if c != "phone"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [*_FIELDS, *(f"slot.{n}" for n in slot_names), *(f"contact.{n}" for n in contact_names)]
    )
    for r in rows:
        writer.writerow(
            [
                *(getattr(r, f) for f in _FIELDS),
                *(_cell(r.slots.get(n)) for n in slot_names),
                *(r.contact.get(n, "") for n in contact_names),
            ]
        )
    return out.getvalue()


def export_json(campaign: Campaign, rows: list[ContactResult]) -> str:
    data = {
        "campaign": campaign.name,
        "flow": campaign.flow,
        "state": campaign.state,
        "contacts": [asdict(r) for r in rows],
    }
    return json.dumps(data, indent=2, default=str) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def render(s: Summary, now: datetime) -> Group:
    """The status view: header, progress bar, counts by disposition, in flight, next wake."""
    head = f"[bold]{s.name}[/bold]  {s.state}  {s.done}/{s.total} done"
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=max(1, s.total), completed=s.done, width=50),
        f"{100 * s.done // max(1, s.total)}%",
    )
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("disposition")
    table.add_column("contacts", justify="right")
    for name, count in s.counts.items():
        table.add_row(name, str(count))
    if s.next_wake is None:
        wake = "-"
    elif s.next_wake <= now:
        wake = "now"
    else:
        wake = f"{s.next_wake:%Y-%m-%d %H:%M:%S} UTC (in {_span(s.next_wake - now)})"
    tail = f"in flight {s.in_flight}   next contact due {wake}"
    return Group(head, bar, table, tail)


def status_text(s: Summary, now: datetime, width: int = 80) -> str:
    """The status view as plain text (for tests and non-terminals)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(render(s, now))
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def _span(delta: Any) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
