"""Business hours: is a line open at `now`? (`hours:` steps)

`open` maps day specs (`mon-fri`, `sat`, `mon,wed`) to time ranges (`08:00-20:00`, or several:
`08:00-12:00,13:00-17:00`), read in the step's timezone. A range ending before it starts runs
past midnight (`22:00-02:00`). A date in `holidays` is closed all day and reported as `holiday`.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from voicebot.flow.schema import Hours

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _days(spec: str) -> set[int]:
    out: set[int] = set()
    for part in spec.lower().split(","):
        part = part.strip()
        if "-" in part:
            a, b = (DAYS.index(x) for x in part.split("-"))
            i = a
            while True:
                out.add(i)
                if i == b:
                    break
                i = (i + 1) % 7
        else:
            out.add(DAYS.index(part))
    return out


def _ranges(spec: str) -> list[tuple[time, time]]:
    out = []
    for part in spec.split(","):
        a, b = part.strip().split("-")
        out.append((time.fromisoformat(a.strip().zfill(5)), time.fromisoformat(b.strip().zfill(5))))
    return out


def status(hours: Hours, now: datetime) -> str:
    """'open', 'closed' or 'holiday' for `now` (a naive `now` is taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    local = now.astimezone(ZoneInfo(hours.timezone))
    if local.date() in hours.holidays:
        return "holiday"
    t = local.time().replace(tzinfo=None)
    weekday = local.weekday()
    for spec, ranges in hours.open.items():
        days = _days(spec)
        for start, end in _ranges(ranges):
            if start <= end:
                if weekday in days and start <= t < end:
                    return "open"
            else:  # past midnight: the evening belongs to the day, the small hours to the next
                if (weekday in days and t >= start) or ((weekday - 1) % 7 in days and t < end):
                    return "open"
    return "closed"
