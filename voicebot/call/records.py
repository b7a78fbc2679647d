"""Call records in SQLite: one row per call, one per turn; what `voicebot calls` shows.

Several worker processes write to one database file: it runs in WAL mode with a busy timeout,
each writer holds its own connection, and every change is one short transaction. A call is
written when it starts (so a worker that dies mid-call leaves a row `failed_unfinished()` can
close), updated when answered and ended, and its turns are appended as they happen.

Outcomes: `completed` (the flow hung up), `caller_hangup`, `transferred`, `not_answered` (an
outbound call that was never answered: the reason holds the SIP status), `failed` (an error or
a crashed worker), `in_progress` (not ended yet). `incidents` lists what went wrong on the way
(a backend that timed out, the watchdog finding the call silent), each "12.3 s: what".
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id TEXT PRIMARY KEY,
    direction TEXT NOT NULL,
    from_uri TEXT NOT NULL DEFAULT '',
    to_uri TEXT NOT NULL DEFAULT '',
    flow TEXT NOT NULL DEFAULT '',
    worker TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    answered_at TEXT,
    ended_at TEXT,
    outcome TEXT NOT NULL DEFAULT 'in_progress',
    reason TEXT NOT NULL DEFAULT '',
    transfer_target TEXT,
    recording_path TEXT,
    steps TEXT NOT NULL DEFAULT '[]',
    slots TEXT NOT NULL DEFAULT '{}',
    vars TEXT NOT NULL DEFAULT '{}',
    dtmf TEXT NOT NULL DEFAULT '',
    incidents TEXT NOT NULL DEFAULT '[]'   -- failures, timeouts, watchdog: "12.3 s: what"
);
CREATE INDEX IF NOT EXISTS calls_started ON calls (started_at);
CREATE TABLE IF NOT EXISTS turns (
    call_id TEXT NOT NULL REFERENCES calls (id),
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    who TEXT NOT NULL,          -- caller | bot
    text TEXT NOT NULL DEFAULT '',
    dtmf TEXT NOT NULL DEFAULT '',
    confidence REAL,
    latency_ms REAL,            -- bot turns: end of caller speech to first bot audio
    step TEXT NOT NULL DEFAULT '',
    barge_in INTEGER NOT NULL DEFAULT 0,  -- caller turns: 1 when the caller talked over the bot
    end_of_turn TEXT NOT NULL DEFAULT '',  -- caller turns: complete | turn | timeout | max_speech
    turn_score REAL,            -- caller turns: the turn model's score (P finished), if asked
    PRIMARY KEY (call_id, seq)
);
CREATE TABLE IF NOT EXISTS transfers (   -- the last transfer of a call, for the agent
    call_id TEXT PRIMARY KEY REFERENCES calls (id),
    at TEXT NOT NULL,
    mode TEXT NOT NULL,         -- blind | warm
    target TEXT NOT NULL,
    summary TEXT NOT NULL,      -- call.summary when the transfer began
    outcome TEXT,               -- ok | busy | no_answer | failed; NULL while it runs
    join_ms REAL                -- warm, ok: from the agent accepting to the join
);
CREATE TABLE IF NOT EXISTS quality (    -- the call's quality inspection (voicebot/quality/)
    call_id TEXT PRIMARY KEY REFERENCES calls (id),
    scored_at TEXT NOT NULL,
    rules TEXT NOT NULL,                -- the rules file
    score REAL,                         -- 0..100; NULL when no rule could be measured
    findings TEXT NOT NULL DEFAULT '[]' -- [{rule, status, turn, detail, weight}]
);
"""


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

    @property
    def duration(self) -> float | None:
        if not self.ended_at:
            return None
        start = datetime.fromisoformat(self.started_at)
        return (datetime.fromisoformat(self.ended_at) - start).total_seconds()


@dataclass(frozen=True)
class CallQuery:
    """A search of the records: `number` within the caller's or callee's URI, started in
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
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(calls)")}
        if "incidents" not in columns:  # a database from before incidents were kept
            self._db.execute("ALTER TABLE calls ADD COLUMN incidents TEXT NOT NULL DEFAULT '[]'")
        if "barge_in" not in {r[1] for r in self._db.execute("PRAGMA table_info(turns)")}:
            self._db.execute("ALTER TABLE turns ADD COLUMN barge_in INTEGER NOT NULL DEFAULT 0")
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(turns)")}
        if "end_of_turn" not in columns:  # a database from before the turn model
            self._db.execute("ALTER TABLE turns ADD COLUMN end_of_turn TEXT NOT NULL DEFAULT ''")
            self._db.execute("ALTER TABLE turns ADD COLUMN turn_score REAL")
        # one connection, many threads (a worker's live calls): one transaction at a time
        self._lock = threading.RLock()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

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
                "INSERT INTO calls (id, direction, from_uri, to_uri, flow, worker, started_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (call_id, direction, from_uri, to_uri, flow, worker, _iso(at) or _now()),
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
                " step, barge_in, end_of_turn, turn_score)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    call_id,
                    seq,
                    _iso(turn.at) or _now(),
                    turn.who,
                    turn.text,
                    turn.dtmf,
                    turn.confidence,
                    turn.latency_ms,
                    turn.step,
                    int(turn.barge_in),
                    turn.end_of_turn,
                    turn.turn_score,
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
                    reason,
                    _json(steps or []),
                    _json(slots or {}),
                    _json(vars or {}),
                    dtmf,
                    transfer_target,
                    recording_path,
                    _json(incidents or []),
                    call_id,
                ),
            )

    def transfer_started(self, call_id: str, mode: str, target: str, summary: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO transfers (call_id, at, mode, target, summary)"
                " VALUES (?, ?, ?, ?, ?)",
                (call_id, _now(), mode, target, summary),
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
                "INSERT OR REPLACE INTO quality (call_id, scored_at, rules, score, findings)"
                " VALUES (?, ?, ?, ?, ?)",
                (call_id, _now(), rules, score, _json(findings)),
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

    # -- reading ---------------------------------------------------------------------------------
    def _record(self, row: sqlite3.Row, turns: list[dict[str, Any]] | None = None) -> CallRecord:
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
        if q.number:
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
        rows = self._db.execute(
            f"SELECT * FROM calls{clause} ORDER BY started_at DESC LIMIT ? OFFSET ?",
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
            f"{r.from_uri[:22]:<22} {r.outcome:<14} {secs:>6}"
        )
    return "\n".join(lines)


def format_call(r: CallRecord) -> str:
    lines = [
        f"call {r.id} ({r.direction}) {r.from_uri} -> {r.to_uri}",
        f"  flow {r.flow}  worker {r.worker}",
        f"  started {r.started_at}  answered {r.answered_at or '-'}  ended {r.ended_at or '-'}",
        f"  outcome {r.outcome}" + (f" ({r.reason})" if r.reason else ""),
    ]
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
