"""Calendar facts every language's date parser shares (no language in here)."""

from __future__ import annotations

import calendar
import datetime


def next_day_of_month(day: int, today: datetime.date) -> datetime.date | None:
    """The first date on or after `today` whose day of the month is `day` ("the 31st" in a
    30-day month is the next month that has one), or None when no month has it."""
    year, month = today.year, today.month
    for _ in range(13):
        if day <= calendar.monthrange(year, month)[1]:
            candidate = datetime.date(year, month, day)
            if candidate >= today:
                return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None
