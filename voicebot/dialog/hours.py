"""Business hours: is a line open at `now`? (`hours:` steps)

`open` maps day specs (`mon-fri`, `sat`, `mon,wed`) to time ranges (`08:00-20:00`, or several:
`08:00-12:00,13:00-17:00`), read in the step's timezone. A range ending before it starts runs
past midnight (`22:00-02:00`); `24:00` is the end of the day (`00:00-24:00`: open all day).
A date in `holidays` is closed all day and reported as `holiday`.
"""

from __future__ import annotations

from datetime import UTC, datetime
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


def clock_minutes(text: str) -> int:
    """'08:30' -> 510; '24:00' -> 1440 (the end of the day). ValueError for anything else."""
    hh, _, mm = text.strip().partition(":")
    if not (hh.isdigit() and mm.isdigit() and len(mm) == 2):
        raise ValueError(f"'{text}' is not a time of day such as 08:30")
    minutes = int(hh) * 60 + int(mm)
    if int(mm) > 59 or minutes > 24 * 60:
        raise ValueError(f"'{text}' is not a time of day (00:00 to 24:00)")
    return minutes


def _ranges(spec: str) -> list[tuple[int, int]]:
    out = []
    for part in spec.split(","):
        a, b = part.strip().split("-")
        out.append((clock_minutes(a), clock_minutes(b)))
    return out


def status(hours: Hours, now: datetime) -> str:
    """'open', 'closed' or 'holiday' for `now` (a naive `now` is taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    local = now.astimezone(ZoneInfo(hours.timezone))
    if local.date() in hours.holidays:
        return "holiday"
    t = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
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
