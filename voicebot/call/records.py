"""Call records in the database: one row per call, one per turn; what `voicebot calls` shows.

The database is the one of settings `database.url` (a SQLite file in WAL mode, or PostgreSQL:
`voicebot.database`). Several worker processes write to it, each with its own connections,
and every change is one short transaction. A call is
written when it starts (so a worker that dies mid-call leaves a row `failed_unfinished()` can
close), updated when answered and ended, and its turns are appended as they happen.

Outcomes: `completed` (the flow hung up), `caller_hangup`, `transferred`, `not_answered` (an
outbound call that was never answered: the reason holds the SIP status), `failed` (an error or
a crashed worker), `in_progress` (not ended yet). `incidents` lists what went wrong on the way
(a backend that timed out, the watchdog finding the call silent), each "12.3 s: what".

Data handling (README "Data handling"): the database file and its -wal/-shm are created 0600
(voicebot/private_files.py); card-like numbers are redacted from every text written here —
turns, keys, slots, vars, the transfer summary, quality findings — by
voicebot/policy/card_numbers.py, the last four digits kept; `purge_call` (retention,
voicebot/call/retention.py) blanks a call's words and marks it `purged_at`, keeping the row.
Each caller turn keeps the frustration estimate after it (0..1), its reasons and the words'
sentiment (-1..1): dialog/frustration.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from voicebot.database import Database, Record
from voicebot.policy.card_numbers import redact_cards, redact_value

# Tables `calls`, `turns`, `transfers`, `quality`, `purges`: voicebot/database/migrations/versions/
# (outcome 'in_progress' until ended; steps, slots, vars, incidents, findings as JSON text; turns
# keyed by (call_id, seq); a call's last transfer and its latest inspection keyed by call_id).


_USER = re.compile(r"(?:sips?|tel):([^@;>]*)")


def number_key(uri: str) -> str:
    """The digits of a URI's user part, last digit first ('sip:+12125550151@x' -> '15105552121'):
    kept in `calls.from_digits_rev`/`to_digits_rev` so a search by the number's last digits is
    an indexed prefix range instead of a scan of every call."""
    found = _USER.search(uri)
    user = found.group(1) if found else uri.split("@")[0]
    return re.sub(r"\D", "", user)[::-1]


def _prefix_range(prefix: str) -> tuple[str, str | None]:
    """Digit strings starting with `prefix` are those in [low, high) (high None: no bound)."""
    top = prefix.rstrip("9")
    high = top[:-1] + chr(ord(top[-1]) + 1) if top else None
    return prefix, high


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="milliseconds") if at else None


def _json(value: Any) -> str:
    def default(v: Any) -> Any:
        if isinstance(v, Decimal):
            return str(v)
        return str(v)

    return json.dumps(value, default=default, sort_keys=True)


@dataclass(frozen=True)
class TurnRecord:
    who: str  # "caller" | "bot"
    text: str = ""
    dtmf: str = ""
    confidence: float | None = None
    latency_ms: float | None = None
    step: str = ""
    at: datetime | None = None
    barge_in: bool = False  # the caller talked over the bot (a caller turn)
    end_of_turn: str = ""  # caller: what ended the speech (complete, turn, timeout, max_speech)
    turn_score: float | None = None  # caller: the turn model's score, if it was asked
    frustration: float | None = None
    reasons: tuple[str, ...] = ()
    sentiment: float | None = None


@dataclass(frozen=True)
class CallRecord:
    id: str
    direction: str
    from_uri: str
    to_uri: str
    flow: str
    worker: str
    started_at: str
    answered_at: str | None
    ended_at: str | None
    outcome: str
    reason: str
    transfer_target: str | None
    recording_path: str | None
    steps: list[str]
    slots: dict[str, Any]
    vars: dict[str, Any]
    dtmf: str
    turns: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)
    quality: dict[str, Any] | None = None  # {rules, score, findings, scored_at} once inspected
    purged_at: str | None = None  # when retention deleted its words and audio

    @property
    def duration(self) -> float | None:
        if not self.ended_at:
            return None
        start = datetime.fromisoformat(self.started_at)
        return (datetime.fromisoformat(self.ended_at) - start).total_seconds()


@dataclass(frozen=True)
class CallQuery:
    """A search of the records: the caller's or callee's number ends with the digits of
    `number` (the whole number, national or E.164, or its last digits; without digits: within
    either URI), started in
    [since, until), with that outcome and flow; one page of `limit` from `offset`."""

    number: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: str | None = None
    flow: str | None = None
    limit: int = 50
    offset: int = 0


class CallStore:
    def __init__(self, path: str | Path):
        """`path`: a SQLite file, or a database URL (`sqlite:///...`, `postgresql://...`)."""
        self._db = Database(path)
        self.shown = self._db.shown  # the file, or the URL without its password
        self.path = Path(self._db.shown)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[Database]:
        with self._db.transaction():  # each thread (a worker's live calls) its own
            yield self._db

    # -- writing ---------------------------------------------------------------------------------
    def call_started(
        self,
        call_id: str,
        *,
        direction: str,
        from_uri: str = "",
        to_uri: str = "",
        flow: str = "",
        worker: str = "",
        at: datetime | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO calls (id, direction, from_uri, to_uri, flow, worker, started_at,"
                " from_digits_rev, to_digits_rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    call_id,
                    direction,
                    from_uri,
                    to_uri,
                    flow,
                    worker,
                    _iso(at) or _now(),
                    number_key(from_uri),
                    number_key(to_uri),
                ),  # fmt: skip
            )

    def call_answered(self, call_id: str, at: datetime | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE calls SET answered_at = ? WHERE id = ?", (_iso(at) or _now(), call_id)
            )

    def add_turn(self, call_id: str, turn: TurnRecord) -> None:
        with self._tx() as db:
            seq = db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE call_id = ?", (call_id,)
            ).fetchone()[0]
            db.execute(
                "INSERT INTO turns (call_id, seq, at, who, text, dtmf, confidence, latency_ms,"
                " step, barge_in, end_of_turn, turn_score, frustration, reasons, sentiment)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    call_id,
                    seq,
                    _iso(turn.at) or _now(),
                    turn.who,
                    redact_cards(turn.text),  # card numbers: the last four digits kept
                    redact_cards(turn.dtmf),
                    turn.confidence,
                    turn.latency_ms,
                    turn.step,
                    int(turn.barge_in),
                    turn.end_of_turn,
                    turn.turn_score,
                    turn.frustration,
                    json.dumps(list(turn.reasons), ensure_ascii=False),
                    turn.sentiment,
                ),
            )

    def call_ended(
        self,
        call_id: str,
        *,
        outcome: str,
        reason: str = "",
        steps: list[str] | None = None,
        slots: dict[str, Any] | None = None,
        vars: dict[str, Any] | None = None,
        dtmf: str = "",
        transfer_target: str | None = None,
        recording_path: str | None = None,
        at: datetime | None = None,
        incidents: list[str] | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE calls SET ended_at = ?, outcome = ?, reason = ?, steps = ?, slots = ?,"
                " vars = ?, dtmf = ?, transfer_target = ?, recording_path = ?, incidents = ?"
                " WHERE id = ?",
                (
                    _iso(at) or _now(),
                    outcome,
                    redact_cards(reason),
                    _json(steps or []),
                    _json(redact_value(slots or {})),  # the engine used the number; we forget it
                    _json(redact_value(vars or {})),
                    redact_cards(dtmf),
                    transfer_target,
                    recording_path,
                    _json(incidents or []),
                    call_id,
                ),
            )

    def transfer_started(self, call_id: str, mode: str, target: str, summary: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO transfers (call_id, at, mode, target, summary) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (call_id) DO UPDATE SET at = excluded.at, mode = excluded.mode,"
                " target = excluded.target, summary = excluded.summary, outcome = NULL,"
                " join_ms = NULL",
                (call_id, _now(), mode, target, redact_cards(summary)),
            )

    def transfer_finished(self, call_id: str, outcome: str, join_ms: float | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE transfers SET outcome = ?, join_ms = ? WHERE call_id = ?",
                (outcome, join_ms, call_id),
            )

    def transfer(self, call_id: str) -> dict[str, Any] | None:
        """The call's last transfer (mode, target, summary, outcome, join_ms), if any."""
        row = self._db.execute("SELECT * FROM transfers WHERE call_id = ?", (call_id,)).fetchone()
        return dict(row) if row is not None else None

    def save_quality(
        self, call_id: str, *, rules: str, score: float | None, findings: list[dict[str, Any]]
    ) -> None:
        """Keep the call's latest quality inspection (a new one replaces the old)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO quality (call_id, scored_at, rules, score, findings)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (call_id) DO UPDATE SET"
                " scored_at = excluded.scored_at, rules = excluded.rules, score = excluded.score,"
                " findings = excluded.findings",
                (call_id, _now(), rules, score, _json(redact_value(findings))),
            )

    def fail_unfinished(
        self, *, worker: str | None = None, reason: str = "worker crashed"
    ) -> list[str]:
        """Close every call still in progress (of one worker): its process died."""
        with self._tx() as db:
            query = "SELECT id FROM calls WHERE outcome = 'in_progress'"
            args: tuple[Any, ...] = ()
            if worker is not None:
                query += " AND worker = ?"
                args = (worker,)
            ids = [row[0] for row in db.execute(query, args)]
            for call_id in ids:
                db.execute(
                    "UPDATE calls SET outcome = 'failed', reason = ?, ended_at = ? WHERE id = ?",
                    (reason, _now(), call_id),
                )
        return ids

    # -- retention (voicebot/call/retention.py) ---------------------------------------------------
    def unpurged_before(self, before: datetime) -> list[tuple[str, str, str | None]]:
        """(id, started_at, recording_path) of the ended calls started before `before` (UTC)
        whose words are still kept, oldest first."""
        rows = self._db.execute(
            "SELECT id, started_at, recording_path FROM calls WHERE purged_at IS NULL"
            " AND outcome != 'in_progress' AND started_at < ? ORDER BY started_at",
            (_iso(before.astimezone(UTC)),),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def purge_call(self, call_id: str, at: datetime) -> None:
        """Forget what was said in a call — turn texts, keys and frustration reasons, slots,
        vars, the transfer summary, the quality findings' details — and its recording's path;
        keep the row (who, when, outcome, steps, timings), marked `purged_at`."""
        with self._tx() as db:
            db.execute(  # the frustration's reasons quote the caller's words too
                "UPDATE turns SET text = '', dtmf = '', reasons = '[]' WHERE call_id = ?",
                (call_id,),
            )
            db.execute(
                "UPDATE calls SET slots = '{}', vars = '{}', dtmf = '', recording_path = NULL,"
                " purged_at = ? WHERE id = ?",
                (_iso(at), call_id),
            )
            db.execute("UPDATE transfers SET summary = '' WHERE call_id = ?", (call_id,))
            query = "SELECT findings FROM quality WHERE call_id = ?"
            row = db.execute(query, (call_id,)).fetchone()
            if row is not None:
                kept = [{**f, "detail": ""} for f in json.loads(row[0])]
                db.execute(
                    "UPDATE quality SET findings = ? WHERE call_id = ?", (_json(kept), call_id)
                )

    def purge_logged(self, at: datetime, days: int, calls: int, recordings: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO purges (at, older_than_days, calls, recordings) VALUES (?, ?, ?, ?)",
                (_iso(at), days, calls, recordings),
            )

    def retention_counts(self) -> dict[str, Any]:
        """{purged: calls purged, last_purge: when (or None), oldest_kept: started_at of the
        oldest call whose words are kept (or None)}."""
        # both read the index calls_kept (purged_at, started_at), not every call
        purged = self._db.execute("SELECT COUNT(*) FROM calls WHERE purged_at IS NOT NULL").scalar()
        oldest = self._db.execute(
            "SELECT started_at FROM calls WHERE purged_at IS NULL ORDER BY started_at LIMIT 1"
        ).scalar()
        last = self._db.execute("SELECT MAX(at) FROM purges").fetchone()[0]
        return {"purged": purged, "last_purge": last, "oldest_kept": oldest}

    # -- reading ---------------------------------------------------------------------------------
    def _record(self, row: Record, turns: list[dict[str, Any]] | None = None) -> CallRecord:
        d = dict(row)
        return CallRecord(
            **{
                k: d[k]
                for k in (
                    "id",
                    "direction",
                    "from_uri",
                    "to_uri",
                    "flow",
                    "worker",
                    "started_at",
                    "answered_at",
                    "ended_at",
                    "outcome",
                    "reason",
                    "transfer_target",
                    "recording_path",
                    "dtmf",
                )
            },
            steps=json.loads(d["steps"]),
            slots=json.loads(d["slots"]),
            vars=json.loads(d["vars"]),
            turns=turns or [],
            incidents=json.loads(d.get("incidents") or "[]"),
            purged_at=d.get("purged_at"),
        )

    def list(self, limit: int = 50, outcome: str | None = None) -> list[CallRecord]:
        query = "SELECT * FROM calls"
        args: tuple[Any, ...] = ()
        if outcome:
            query += " WHERE outcome = ?"
            args = (outcome,)
        query += " ORDER BY started_at DESC LIMIT ?"
        return [self._record(r) for r in self._db.execute(query, (*args, limit))]

    def search(self, q: CallQuery) -> tuple[int, tuple[CallRecord, ...]]:
        """Calls matching `q`, newest first: how many match, and the page `q` asks for."""
        where: list[str] = []
        args: list[Any] = []
        digits = re.sub(r"\D", "", q.number or "")
        if digits:  # the caller's or callee's number ends with these digits
            low, high = _prefix_range(digits[::-1])
            terms = [f"({c} >= ?" + (f" AND {c} < ?)" if high else ")")
                     for c in ("from_digits_rev", "to_digits_rev")]  # fmt: skip
            where.append(f"({' OR '.join(terms)})")
            args += [low, high, low, high] if high else [low, low]
        elif q.number:  # no digit in it: anywhere in either URI (a SIP user's name)
            where.append("(from_uri LIKE ? OR to_uri LIKE ?)")
            args += [f"%{q.number}%"] * 2
        if q.since:
            where.append("started_at >= ?")
            args.append(_iso(q.since.astimezone(UTC)))
        if q.until:
            where.append("started_at < ?")
            args.append(_iso(q.until.astimezone(UTC)))
        if q.outcome:
            where.append("outcome = ?")
            args.append(q.outcome)
        if q.flow:
            where.append("flow = ?")
            args.append(q.flow)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        total = self._db.execute(f"SELECT COUNT(*) FROM calls{clause}", args).fetchone()[0]
        # the page's ids from an index (v0006: each ends with started_at, id), then its rows
        rows = self._db.execute(
            f"SELECT * FROM calls WHERE id IN (SELECT id FROM calls{clause}"
            " ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?)"
            " ORDER BY started_at DESC, id DESC",
            (*args, q.limit, q.offset),
        )
        return total, tuple(self._record(r) for r in rows)

    def get(self, call_id: str) -> CallRecord | None:
        row = self._db.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
        if row is None:
            return None
        turns = [
            dict(t)
            for t in self._db.execute(
                "SELECT * FROM turns WHERE call_id = ? ORDER BY seq", (call_id,)
            )
        ]
        record = self._record(row, turns)
        q = self._db.execute("SELECT * FROM quality WHERE call_id = ?", (call_id,)).fetchone()
        if q is None:
            return record
        quality = {**dict(q), "findings": json.loads(q["findings"])}
        quality.pop("call_id")
        return dataclasses.replace(record, quality=quality)


def format_list(records: list[CallRecord]) -> str:
    lines = [f"{'id':<24} {'started':<23} {'dir':<8} {'from':<22} {'outcome':<14} {'secs':>6}"]
    for r in records:
        secs = f"{r.duration:.1f}" if r.duration is not None else "-"
        lines.append(
            f"{r.id:<24} {r.started_at[:23]:<23} {r.direction:<8} "
            f"{r.from_uri[:22]:<22} {r.outcome:<14} {secs:>6}" + ("  purged" if r.purged_at else "")
        )
    return "\n".join(lines)


def format_call(r: CallRecord) -> str:
    lines = [
        f"call {r.id} ({r.direction}) {r.from_uri} -> {r.to_uri}",
        f"  flow {r.flow}  worker {r.worker}",
        f"  started {r.started_at}  answered {r.answered_at or '-'}  ended {r.ended_at or '-'}",
        f"  outcome {r.outcome}" + (f" ({r.reason})" if r.reason else ""),
    ]
    if r.purged_at:
        lines.append(f"  purged {r.purged_at}: words and audio deleted (retention.days)")
    if r.transfer_target:
        lines.append(f"  transferred to {r.transfer_target}")
    if r.recording_path:
        lines.append(f"  recording {r.recording_path}")
    lines.append(f"  steps {' > '.join(r.steps) or '-'}")
    lines.append(f"  slots {_json(r.slots)}")
    if r.vars:
        lines.append(f"  vars {_json(r.vars)}")
    for incident in r.incidents:
        lines.append(f"  incident {incident}")
    lines.append("  turns:")
    for t in r.turns:
        what = t["text"] or (f"[keys {t['dtmf']}]" if t["dtmf"] else "")
        extra = []
        if t["confidence"] is not None:
            extra.append(f"conf {t['confidence']:.2f}")
        if t["latency_ms"] is not None:
            extra.append(f"{t['latency_ms']:.0f} ms")
        if t.get("barge_in"):
            extra.append("talked over the bot")
        if t["end_of_turn"]:
            score = t["turn_score"]
            shown = f" {score:.2f}" if score is not None else ""
            extra.append(f"end: {t['end_of_turn']}{shown}")
        if t.get("frustration") is not None:
            why = json.loads(t.get("reasons") or "[]")
            extra.append(
                f"frustration {t['frustration']:.2f}" + (f": {'; '.join(why)}" if why else "")
            )
        tail = f"  ({', '.join(extra)})" if extra else ""
        lines.append(f"    {t['at'][11:23]} {t['who']:<6} {what}{tail}")
    if r.quality is not None:
        q = r.quality
        score = "-" if q["score"] is None else f"{q['score']:g}"
        lines.append(f"  quality {score}/100 by {q['rules']}")
        for f in q["findings"]:
            turn = f"turn {f['turn']}" if f["turn"] is not None else "call"
            lines.append(f"    {f['status']:<12} {f['rule']} ({turn}): {f['detail']}")
    return "\n".join(lines)
