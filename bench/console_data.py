"""A database the size the console's targets name: N call records with their turns and quality
findings, campaigns whose contacts and attempts point at the outbound calls, a do-not-call list.

Written through the real layers: campaigns are created by the console's service layer
(`Console.create_campaign`, a CSV upload as the API takes it, so contacts are imported and
checked as in production), then calls, turns, quality rows, attempts and dispositions are bulk
inserted into the same tables with `voicebot.database.Database.executemany` (one migrated
schema, SQLite or PostgreSQL). The distributions are a contact centre's, seeded:

* 90 days of calls, most on weekdays in business hours (New York), a few at night;
* 60 % inbound to the service lines (support_line, billing, language_menu, zh_support_line),
  40 % outbound from the campaigns (appointment_reminder, payment_reminder);
* callers drawn from a pool with repeat callers (a few numbers call dozens of times);
* outcomes by direction (inbound: completed 55 %, caller_hangup 24 %, transferred 17 %, failed
  3 %; outbound: not_answered 33 %, completed 46 %, caller_hangup 13 %, ...), a handful of calls
  still in progress;
* PostgreSQL is vacuumed and analysed after the load, as autovacuum would do within a minute;
* answered calls have 2-24 turns (bot and caller alternating), reply latencies around 0.8 s,
  recognition confidences, frustration on some caller turns; 85 % of ended answered calls carry a
  quality inspection.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from voicebot.call.records import number_key
from voicebot.console.service import Console, ConsoleConfig
from voicebot.database import Database

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "dialog_flows"
NEW_YORK = ZoneInfo("America/New_York")
DAYS = 90
BATCH = 5000

INBOUND_FLOWS = {
    "support_line": 0.55,
    "billing": 0.25,
    "language_menu": 0.12,
    "zh_support_line": 0.08,
}
INBOUND_OUTCOMES = {"completed": 0.55, "caller_hangup": 0.24, "transferred": 0.17, "failed": 0.04}
OUTBOUND_OUTCOMES = {
    "not_answered": 0.33, "completed": 0.46, "caller_hangup": 0.13, "transferred": 0.03,
    "failed": 0.05,
}  # fmt: skip
CAMPAIGNS = (  # name, flow file, state
    ("reminders-oct", "appointment_reminder.yaml", "finished"),
    ("reminders-nov", "appointment_reminder.yaml", "finished"),
    ("collections-q4", "payment_reminder.yaml", "finished"),
    ("collections-dec", "payment_reminder.yaml", "paused"),
    ("reminders-dec", "appointment_reminder.yaml", "running"),
    ("collections-late", "payment_reminder.yaml", "finished"),
)
DISPOSITIONS = {
    "appointment_reminder": ("confirmed", "rescheduled", "cancelled", "opt_out", "no_answer_given"),
    "payment_reminder": ("promise_to_pay", "already_paid", "callback", "opt_out"),
}
BOT_SAYS = (
    "Thanks for calling. How can I help you today?",
    "Could you tell me your account number, please?",
    "Let me check that for you.",
    "Your balance is forty two dollars and ten cents.",
    "I am transferring you to an agent now.",
    "Is there anything else I can help you with?",
    "Hi, this is a reminder of your appointment tomorrow at ten.",
    "Press one to confirm, two to reschedule.",
    "Goodbye.",
)
CALLER_SAYS = (
    "I want to check my bill", "yes", "no", "agent please", "my internet is down",
    "it's one two three four five", "I'll be there", "can I pay next week", "this is useless",
    "what are your opening hours", "stop calling me", "I already paid",
)  # fmt: skip
RULES = ("disclosure", "no_profanity", "long_silence", "talk_over", "mood_at_end", "outcome")


@dataclass
class Filled:
    calls: int
    turns: int
    quality: int
    campaigns: dict[str, int]  # name: contacts
    dnc: int
    numbers: list[str]  # the caller pool, most frequent first
    flows: list[str]
    first: datetime
    last: datetime
    outcomes: dict[str, int] = field(default_factory=dict)
    by_flow: dict[str, int] = field(default_factory=dict)
    call_ids: list[str] = field(default_factory=list)  # a sample, for the one-call reads

    def summary(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "turns": self.turns,
            "quality": self.quality,
            "campaigns": self.campaigns,
            "dnc": self.dnc,
            "outcomes": self.outcomes,
            "by_flow": self.by_flow,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
        }


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def _when(rng: random.Random, now: datetime) -> datetime:
    """A start time in the last DAYS days: weekdays 8:00-20:00 New York, peaks mid-morning and
    mid-afternoon; 8 % of calls out of hours."""
    while True:
        day = (now - timedelta(days=rng.uniform(0, DAYS))).astimezone(NEW_YORK)
        weekday = day.weekday() < 5
        if not weekday and rng.random() > 0.3:
            continue
        if rng.random() < 0.08:
            hour = rng.uniform(0, 24)
        else:
            hour = rng.choice((10.5, 14.5)) + rng.gauss(0, 1.8)
            if not 8 <= hour < 20:
                continue
        start = day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(hours=hour)
        if start < now:
            return start.astimezone(UTC)


def _number_pool(rng: random.Random, size: int) -> list[str]:
    numbers: set[str] = set()
    areas = ("212", "646", "718", "917", "347", "201", "973", "415", "312", "617")
    while len(numbers) < size:
        numbers.add(f"+1{rng.choice(areas)}{rng.randrange(200, 1000)}{rng.randrange(10000):04d}")
    return sorted(numbers)


def _caller(rng: random.Random, pool: list[str]) -> str:
    """Repeat callers: a Zipf-like pick (rank r with weight 1/r^0.8, by the inverse CDF)."""
    n = len(pool)
    u = rng.random()
    a = 0.2  # 1 - 0.8
    rank = int(((u * ((n + 1) ** a - 1)) + 1) ** (1 / a)) - 1
    return pool[min(rank, n - 1)]


def _turns(rng: random.Random, call_id: str, start: datetime, seconds: float, flow: str,
           busy: bool) -> list[tuple[Any, ...]]:  # fmt: skip
    n = min(24, 2 + int(rng.expovariate(1 / 6)))
    out: list[tuple[Any, ...]] = []
    zh = flow.startswith("zh_")
    for seq in range(1, n + 1):
        at = start + timedelta(seconds=seconds * seq / (n + 1))
        if seq % 2:  # the bot speaks first
            latency = None if seq == 1 else round(rng.lognormvariate(math.log(800), 0.35), 1)
            text = "您好，请问有什么可以帮您？" if zh else rng.choice(BOT_SAYS)
            out.append((call_id, seq, _iso(at), "bot", text, "", None, latency, f"step{seq}",
                        0, "", None, None, "[]", None))  # fmt: skip
        else:
            keys = rng.random() < 0.15
            text = "" if keys else ("我要查快递" if zh else rng.choice(CALLER_SAYS))
            frustration = round(rng.betavariate(1.5, 6), 3)
            reasons = ["said 'this is useless'"] if text == "this is useless" else []
            end = rng.choices(("complete", "turn", "timeout", "max_speech"), (6, 3, 1, 0.2))[0]
            out.append((call_id, seq, _iso(at), "caller", text, "1" if keys else "",
                        None if keys else round(rng.uniform(0.55, 0.99), 3), None, f"step{seq - 1}",
                        int(busy and rng.random() < 0.3), "" if keys else end,
                        round(rng.random(), 3), frustration, json.dumps(reasons),
                        round(rng.uniform(-1, 1), 3)))  # fmt: skip
    return out


def _findings(rng: random.Random) -> tuple[float, str]:
    findings = []
    for rule in RULES:
        broken = rng.random() < 0.12
        findings.append({
            "rule": rule, "status": "broken" if broken else "passed",
            "turn": rng.randrange(1, 6) if broken else None, "weight": 1,
            "detail": "not said in the first turn" if broken else "",
        })  # fmt: skip
    score = 100.0 * sum(f["status"] == "passed" for f in findings) / len(findings)
    return score, json.dumps(findings, sort_keys=True)


def _contacts_csv(rng: random.Random, flow: str, numbers: list[str]) -> bytes:
    if flow == "appointment_reminder.yaml":
        head = "phone,name,appointment,clinic,time"
        rows = [f"{n},Pat {i},2026-12-{1 + i % 28:02d},Main St Clinic,10:30"
                for i, n in enumerate(numbers)]  # fmt: skip
    else:
        head = "phone,name,amount_due,due_date"
        rows = [
            f"{n},Lee {i},{rng.randrange(20, 900)}.00,2026-12-15" for i, n in enumerate(numbers)
        ]
    rows.append("not a number,Sam,,")  # a rejected row, as real uploads have
    return ("\n".join([head, *rows]) + "\n").encode()


def fill(
    url: str, data_dir: Path, calls: int, *, seed: int = 14, now: datetime | None = None
) -> Filled:
    """Fill the (empty) database at `url` with `calls` call records and what goes with them."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    outbound = int(calls * 0.4)
    inbound = calls - outbound
    pool = _number_pool(rng, max(50, calls // 3))
    # the campaigns: ~1.45 attempts per contact, so contacts = outbound / 1.45 over the campaigns
    per_campaign = max(5, int(outbound / 1.45 / len(CAMPAIGNS)))
    console = Console(
        ConsoleConfig(flows_dir=FLOWS, campaign_db=url, call_records=url, data_dir=data_dir)
    )
    db = Database(url)
    campaigns: dict[str, int] = {}
    contacts: list[tuple[int, int, str, str, str]] = []  # id, campaign id, phone, flow, state
    try:
        targets = rng.sample(pool, min(len(pool), per_campaign * len(CAMPAIGNS)))
        for i, (name, flow, state) in enumerate(CAMPAIGNS):
            numbers = targets[i * per_campaign : (i + 1) * per_campaign]
            created = console.create_campaign(
                name, flow, _contacts_csv(rng, flow, numbers), filename=f"{name}.csv",
                now=now - timedelta(days=DAYS - 12 * i),
            )  # fmt: skip
            campaigns[name] = created.accepted
            console.transition(name, "start")
            if state == "paused":
                console.transition(name, "pause")
            cid = db.execute("SELECT id FROM campaigns WHERE name = ?", (name,)).scalar()
            for row in db.execute("SELECT id, phone FROM contacts WHERE campaign_id = ?", (cid,)):
                contacts.append((row[0], cid, row[1], flow.removesuffix(".yaml"), state))
    finally:
        console.close()

    filled = Filled(0, 0, 0, campaigns, 0, pool, sorted({*INBOUND_FLOWS, *DISPOSITIONS}),
                    now, now - timedelta(days=DAYS))  # fmt: skip
    call_rows: list[tuple[Any, ...]] = []
    turn_rows: list[tuple[Any, ...]] = []
    quality_rows: list[tuple[Any, ...]] = []
    attempt_rows: list[tuple[Any, ...]] = []
    last_by_contact: dict[int, tuple[str, str, str]] = {}  # contact id: call id, outcome, at
    attempts_of: dict[int, int] = {}

    def flush(final: bool = False) -> None:
        if len(turn_rows) < BATCH * 4 and not final:
            return
        db.executemany(
            "INSERT INTO calls (id, direction, from_uri, to_uri, flow, worker, started_at,"
            " answered_at, ended_at, outcome, reason, transfer_target, recording_path, steps,"
            " slots, vars, dtmf, incidents, from_digits_rev, to_digits_rev) VALUES (?, ?, ?, ?, ?,"
            " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            call_rows,
        )
        db.executemany(
            "INSERT INTO turns (call_id, seq, at, who, text, dtmf, confidence, latency_ms, step,"
            " barge_in, end_of_turn, turn_score, frustration, reasons, sentiment)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            turn_rows,
        )
        db.executemany(
            "INSERT INTO quality (call_id, scored_at, rules, score, findings)"
            " VALUES (?, ?, ?, ?, ?)",
            quality_rows,
        )
        filled.turns += len(turn_rows)
        filled.quality += len(quality_rows)
        call_rows.clear()
        turn_rows.clear()
        quality_rows.clear()

    directions = ["inbound"] * inbound + ["outbound"] * outbound
    rng.shuffle(directions)
    for n, direction in enumerate(directions):
        start = _when(rng, now)
        worker = f"w{rng.randrange(1, 5)}"
        if direction == "inbound":
            flow = _pick(rng, INBOUND_FLOWS)
            outcome = _pick(rng, INBOUND_OUTCOMES)
            number = _caller(rng, pool)
            from_uri, to_uri = f"sip:{number}@carrier.example.net", f"sip:{flow}@voicebot.local"
            contact = None
        else:
            contact = contacts[rng.randrange(len(contacts))] if contacts else None
            flow = contact[3] if contact else "appointment_reminder"
            outcome = _pick(rng, OUTBOUND_OUTCOMES)
            number = contact[2] if contact else _caller(rng, pool)
            from_uri, to_uri = "sip:+12125550100@voicebot.local", f"sip:{number}@trunk.example.net"
        if start > now - timedelta(minutes=10) and rng.random() < 0.5:
            outcome = "in_progress"
        call_id = f"{start:%Y%m%d%H%M%S}-{n:07d}"
        answered = outcome not in ("not_answered",)
        seconds = rng.lognormvariate(math.log(95), 0.6) if answered else rng.uniform(20, 35)
        ended = None if outcome == "in_progress" else _iso(start + timedelta(seconds=seconds))
        reason = {"not_answered": "480 Temporarily Unavailable", "failed": "worker crashed",
                  "caller_hangup": "caller hung up"}.get(outcome, "")  # fmt: skip
        slots: dict[str, Any] = {"account": f"****{rng.randrange(10000):04d}"} if answered else {}
        vars_: dict[str, Any] = {}
        if contact and answered and outcome == "completed":
            vars_["disposition"] = rng.choice(DISPOSITIONS[flow])
        steps = [f"step{i}" for i in range(1, 2 + rng.randrange(6))] if answered else []
        call_rows.append((
            call_id, direction, from_uri, to_uri, flow, worker, _iso(start),
            _iso(start + timedelta(seconds=rng.uniform(0.3, 6))) if answered else None, ended,
            outcome, reason, "sip:agent@pbx.example.net" if outcome == "transferred" else None,
            f"var/recordings/{call_id}.wav" if answered and rng.random() < 0.7 else None,
            json.dumps(steps), json.dumps(slots), json.dumps(vars_),
            "1" if rng.random() < 0.1 else "", "[]" if rng.random() > 0.02 else
            json.dumps(["12.3 s: asr timed out"]), number_key(from_uri), number_key(to_uri),
        ))  # fmt: skip
        if answered:
            turn_rows.extend(_turns(rng, call_id, start, seconds, flow, rng.random() < 0.2))
            if ended and rng.random() < 0.85:
                score, findings = _findings(rng)
                quality_rows.append(
                    (call_id, ended, f"dialog_flows/{flow}.qa.yaml", score, findings)
                )
        if contact is not None:
            attempts_of[contact[0]] = attempts_of.get(contact[0], 0) + 1
            last_by_contact[contact[0]] = (call_id, outcome, _iso(start))
            attempt_rows.append((contact[1], contact[0], "done" if ended else "dialing",
                                 _iso(start), ended, outcome, None if answered else 480,
                                 call_id, contact[2]))  # fmt: skip
        filled.calls += 1
        filled.outcomes[outcome] = filled.outcomes.get(outcome, 0) + 1
        filled.by_flow[flow] = filled.by_flow.get(flow, 0) + 1
        filled.first, filled.last = min(filled.first, start), max(filled.last, start)
        if len(filled.call_ids) < 2000 and rng.random() < 0.05:
            filled.call_ids.append(call_id)
        flush()
    flush(final=True)
    db.executemany(
        "INSERT INTO attempts (campaign_id, contact_id, state, started_at, ended_at, outcome,"
        " sip_status, call_id, phone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        attempt_rows,
    )
    updates = []
    for cid, _campaign, _phone, flow, state in contacts:
        if cid not in last_by_contact:
            if state == "finished":  # a finished campaign has no contact left to call
                updates.append((0, None, "max_attempts", None, "max_attempts", cid))
            continue
        call_id, outcome, _at = last_by_contact[cid]
        if outcome == "in_progress":
            disposition = None
        elif outcome == "completed":
            disposition = rng.choice((*DISPOSITIONS[flow], "completed"))
        elif state == "finished" or rng.random() < 0.6:
            disposition = "max_attempts" if outcome == "not_answered" else outcome
        else:
            disposition = None  # waiting for its next attempt
        updates.append((attempts_of[cid], outcome, disposition, call_id, disposition, cid))
    db.executemany(
        "UPDATE contacts SET attempts = ?, last_outcome = ?, disposition = ?, call_id = ?,"
        " due_at = CASE WHEN CAST(? AS TEXT) IS NULL THEN due_at END WHERE id = ?",
        updates,
    )
    dnc = rng.sample(pool, max(10, len(pool) // 20))
    db.executemany(
        "INSERT INTO dnc (number, reason, source, added_at) VALUES (?, ?, ?, ?)",
        [
            (
                d,
                rng.choice(("asked", "opt_out", "complaint")),
                rng.choice(("manual", "campaign")),
                _iso(_when(rng, now)),
            )
            for d in dnc
        ],  # fmt: skip
    )
    filled.dnc = len(dnc)
    if db.dialect == "postgresql":  # what autovacuum does within a minute of a bulk load
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    db.close()
    console = Console(
        ConsoleConfig(flows_dir=FLOWS, campaign_db=url, call_records=url, data_dir=data_dir)
    )
    try:
        for name, _flow, state in CAMPAIGNS:
            if state == "finished":
                console.transition(name, "finish")
    finally:
        console.close()
    return filled
