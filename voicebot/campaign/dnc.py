"""The do-not-call list: a table of E.164 numbers in the campaign database.

Rules:

* Numbers are normalised like contacts (`contacts.normalise`), so '(212) 555-1234' in a file
  and '+12125551234' in a CSV are the same entry. The first reason recorded for a number is
  kept; adding it again changes nothing.
* The list is applied twice: at import (`campaign create` gives those contacts the
  disposition `dnc` and never dials them) and again by `CampaignLoop.step` just before each
  dial, so a number added while a campaign runs is never called again.
* A callee who asks to stop (the flow sets `vars.do_not_call`) is added by
  `Ledger.finish_attempt` in the same transaction that records the call's outcome; a dialer
  may call `add` earlier, mid-call, as soon as the flow sets the variable.
* A file of numbers (`load_file`): one number per line, `#` starts a comment, blank lines are
  skipped; every unusable line is reported as ``file:LINE: reason``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from voicebot.campaign.contacts import normalise
from voicebot.campaign.database import iso, transaction
from voicebot.database import Database

# table dnc: number (E.164, primary key), reason, source (manual | file:NAME | campaign:NAME),
# added_at; created by the migrations in voicebot/database/migrations/versions/


@dataclass(frozen=True)
class DncEntry:
    number: str
    reason: str
    source: str
    added_at: str


@dataclass(frozen=True)
class DncImport:
    added: int
    already: int
    problems: tuple[str, ...]  # "file:LINE: reason"


class DoNotCall:
    """The list, over a connection to the campaign database (shared with the ledger)."""

    def __init__(self, db: Database, region: str = "US"):
        self.db, self.region = db, region

    def add(self, number: str, reason: str, *, now: datetime, source: str = "manual") -> bool:
        """Add a number (any format the region reads); False when it was already listed."""
        e164 = normalise(number, self.region)
        with transaction(self.db) as db:
            cur = db.execute(
                "INSERT INTO dnc (number, reason, source, added_at) VALUES (?,?,?,?)"
                " ON CONFLICT (number) DO NOTHING",
                (e164, reason, source, iso(now)),
            )
        return cur.rowcount == 1

    def reason(self, e164: str) -> str | None:
        """Why the number is listed, or None when it may be called."""
        row = self.db.execute("SELECT reason FROM dnc WHERE number = ?", (e164,)).fetchone()
        return None if row is None else str(row[0])

    def listed(self, numbers: Iterable[str]) -> set[str]:
        """Which of these numbers (E.164) are listed, in one look-up."""
        wanted = sorted(set(numbers))
        if not wanted:
            return set()
        marks = ", ".join("?" * len(wanted))
        rows = self.db.execute(f"SELECT number FROM dnc WHERE number IN ({marks})", wanted)
        return {str(row[0]) for row in rows}

    def numbers(self) -> set[str]:
        """Every listed number (E.164): what an import of many contacts checks against."""
        return {str(row[0]) for row in self.db.execute("SELECT number FROM dnc")}

    def __contains__(self, e164: object) -> bool:
        return isinstance(e164, str) and self.reason(e164) is not None

    def remove(self, number: str) -> bool:
        with transaction(self.db) as db:
            cur = db.execute("DELETE FROM dnc WHERE number = ?", (normalise(number, self.region),))
        return cur.rowcount == 1

    def entries(
        self, limit: int | None = None, offset: int = 0, number: str = ""
    ) -> list[DncEntry]:
        """The list in number order: all of it, or a page of `limit` from `offset`; `number`:
        only the numbers with these characters in them."""
        where, args = self._matching(number)
        query = f"SELECT number, reason, source, added_at FROM dnc{where} ORDER BY number"
        if limit is not None:
            query += " LIMIT ? OFFSET ?"
            args += [limit, offset]
        return [DncEntry(*row) for row in self.db.execute(query, args)]

    def count(self, number: str = "") -> int:
        where, args = self._matching(number)
        return int(self.db.execute(f"SELECT COUNT(*) FROM dnc{where}", args).scalar())

    @staticmethod
    def _matching(number: str) -> tuple[str, list[object]]:
        return (" WHERE number LIKE ?", [f"%{number}%"]) if number else ("", [])

    def load_file(self, path: str | Path, *, now: datetime, reason: str = "") -> DncImport:
        """Add every number of a file (rules in the module docstring)."""
        path = Path(path)
        added = already = 0
        problems: list[str] = []
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            return DncImport(0, 0, (f"{path}:1: not UTF-8 ({exc.reason}): save it as UTF-8",))
        with transaction(self.db):
            for line_no, line in enumerate(text.splitlines(), 1):
                raw = line.split("#", 1)[0].strip()
                if not raw:
                    continue
                try:
                    fresh = self.add(
                        raw, reason or f"listed in {path.name}", now=now, source=f"file:{path.name}"
                    )
                except ValueError as exc:
                    problems.append(f"{path}:{line_no}: {exc}")
                    continue
                added, already = added + fresh, already + (not fresh)
        return DncImport(added, already, tuple(problems))
