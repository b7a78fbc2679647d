"""Retention: recordings and transcripts older than `retention.days` are deleted.

    report = purge(store, recordings_dir, days=30, now=now)          # or dry_run=True
    status = retention_status(store, days=30, now=now)   # what the console shows: .as_dict()
    timer = RetentionTimer(records_path, recordings_dir, days=30, every=3600.0); timer.start()

A call started more than `days` days before `now` (and ended) is purged: its recording file is
deleted and its words are blanked in the call record (`CallStore.purge_call`: turn texts and
keys, slots, vars, the transfer summary, quality findings' details), while the row keeps who
called, when, the outcome, the steps and the timings, marked `purged_at`. Recording files in
the recordings directory older than that (by their modification time) go too, with or
without a record (a service run with `call_records: null`). A recording brought in from
elsewhere (`voicebot qa transcribe FILE.wav`) is the operator's file: its path is dropped from
the record, the file is left where it is.

`voicebot serve` runs `purge` when it starts and every `retention.every_minutes` on a thread of
its own, with its own database connection: never in a call's media path. `days` 0 keeps
everything (the default). `voicebot calls purge [--older-than N] [--dry-run]` runs it by hand.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from voicebot.call.records import CallStore

log = logging.getLogger(__name__)


def cutoff(days: int, now: datetime) -> datetime | None:
    """Calls started before this are purged; None: `days` 0, everything is kept."""
    return now.astimezone(UTC) - timedelta(days=days) if days > 0 else None


@dataclass(frozen=True)
class PurgedCall:
    id: str
    started_at: str
    recording: str | None  # the recording's path, if the call had one
    recording_deleted: bool  # False: none, gone already, or not voicebot's (left in place)


@dataclass(frozen=True)
class PurgeReport:
    days: int
    before: datetime
    dry_run: bool
    calls: list[PurgedCall] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # recording files deleted (or to delete)

    def lines(self) -> list[str]:
        verb = "would purge" if self.dry_run else "purged"
        out = []
        for c in self.calls:
            tail = ""
            if c.recording and not c.recording_deleted:
                tail = f" (recording {c.recording} not voicebot's or gone: left)"
            out.append(f"{verb} call {c.id} started {c.started_at}{tail}")
        deleted = "would delete" if self.dry_run else "deleted"
        out += [f"{deleted} {f}" for f in self.files]
        out.append(
            f"{verb} {len(self.calls)} call(s) and {len(self.files)} recording(s) from before "
            f"{self.before.isoformat(timespec='seconds')} (older than {self.days} days)"
        )
        return out


@dataclass(frozen=True)
class RetentionStatus:
    """What the console and `voicebot calls list` show of retention."""

    days: int  # the setting; 0 keeps everything
    before: datetime | None  # calls started before this are purged (None: none are)
    oldest_kept: str | None  # started_at of the oldest call whose words are kept
    last_purge: str | None  # when a purge last deleted something
    purged: int  # calls purged so far

    def as_dict(self) -> dict[str, Any]:
        """For the console's JSON: days, before (ISO or None), oldest_kept, last_purge, purged."""
        before = self.before.isoformat(timespec="seconds") if self.before else None
        return {**dataclasses.asdict(self), "before": before}

    def line(self) -> str:
        keep = f"{self.days} days" if self.days else "forever (retention.days 0)"
        last = self.last_purge[:19] if self.last_purge else "never"
        oldest = self.oldest_kept[:19] if self.oldest_kept else "-"
        return (
            f"retention: keep {keep}; oldest kept {oldest}; last purge {last}; "
            f"{self.purged} call(s) purged"
        )


def retention_status(store: CallStore, days: int, now: datetime) -> RetentionStatus:
    counts = store.retention_counts()
    return RetentionStatus(
        days, cutoff(days, now), counts["oldest_kept"], counts["last_purge"], counts["purged"]
    )


def _inside(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())


def purge(
    store: CallStore | None,
    recordings_dir: Path,
    *,
    days: int,
    now: datetime,
    dry_run: bool = False,
) -> PurgeReport:
    """Delete the recordings and words of calls started more than `days` days before `now`
    (module docstring); with `dry_run`, only say what would go."""
    before = cutoff(days, now)
    if before is None:
        raise ValueError("retention of 0 days keeps everything: nothing to purge")
    report = PurgeReport(days, before, dry_run)
    for call_id, started_at, recording in store.unpurged_before(before) if store else []:
        deleted = False
        if recording:
            path = Path(recording)
            deleted = path.is_file() and _inside(path, recordings_dir)
            if deleted:
                report.files.append(path)
                if not dry_run:
                    path.unlink(missing_ok=True)
        if not dry_run and store is not None:
            store.purge_call(call_id, now)
        report.calls.append(PurgedCall(call_id, started_at, recording, deleted))
    if recordings_dir.is_dir():
        limit = before.timestamp()
        for path in sorted(recordings_dir.glob("*.wav")):
            if path not in report.files and path.stat().st_mtime < limit:
                report.files.append(path)
                if not dry_run:
                    path.unlink(missing_ok=True)
    if not dry_run and store is not None and (report.calls or report.files):
        store.purge_logged(now, days, len(report.calls), len(report.files))
    return report


class RetentionTimer:
    """`purge` at start and every `every` seconds on a daemon thread with its own connection."""

    def __init__(
        self, records: str | Path | None, recordings_dir: Path, *, days: int, every: float
    ) -> None:
        self.records, self.recordings_dir = records, recordings_dir
        self.days, self.every = days, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        store = CallStore(self.records) if self.records else None
        try:
            while not self._stop.is_set():
                try:
                    report = purge(
                        store, self.recordings_dir, days=self.days, now=datetime.now(UTC)
                    )
                    if report.calls or report.files:
                        log.info("retention: %s", report.lines()[-1])
                except Exception:  # a locked or broken database: try again next time
                    log.exception("retention: purge failed")
                self._stop.wait(self.every)
        finally:
            if store is not None:
                store.close()
