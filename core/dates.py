"""The dates psyq accepts for when a form was filled in (psyq's own convention).

An administration dated after now is almost always a typo (2062 for 2026), and it
would sort last in a client's history and be the "latest" every report compares
with; one before 1900 is a typo too (0026 for 2026). Both are refused wherever a
date comes in: ``--date``, a batch row's date column, a FHIR ``authored``.

"Now" is generous, so that no true date is refused:

* a date without a time is accepted up to today's date anywhere on earth (the
  date at UTC+14), since the form may have been filled in where it is already
  tomorrow;
* a date-time with a time zone is accepted up to :data:`CLOCK_SKEW` after now
  (the computer that stamped it may run a little fast);
* a date-time without a time zone (a local time, zone unknown) is accepted up to
  the local time at UTC+14, plus :data:`CLOCK_SKEW`.

These limits are psyq's own convention, not taken from any manual.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta

from psyq.errors import PsyqError

EARLIEST = date(1900, 1, 1)
"""No form psyq records was filled in earlier; an earlier date is a typo."""
CLOCK_SKEW = timedelta(minutes=10)
"""How far ahead of this computer's clock a date-time may be (psyq's convention)."""
EARLIEST_ZONE_AHEAD = timedelta(hours=14)
"""UTC+14 (Kiribati's Line Islands): where the date changes first."""


class DateOutOfRange(PsyqError):
    """A real date, but in the future or before 1900."""


def written_day(text: str) -> date:
    """The date ``text`` writes as YYYY-MM-DD in the digits 0-9, or ``ValueError``.

    The one form every date option takes (``record --date``, ``report --date``,
    ``export --since``): Python also reads ``20260101``, week dates and other scripts'
    digits, and ``record`` took ``2026-1-5`` where ``report`` and a batch row refused it.
    """
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise ValueError(f"'{text}' is not written YYYY-MM-DD")
    return date.fromisoformat(text)


def latest_day(now: datetime | None = None) -> date:
    """Today's date where it is latest on earth: the last date a form can carry."""
    moment = now if now is not None else datetime.now(UTC)
    return (moment.astimezone(UTC) + EARLIEST_ZONE_AHEAD + CLOCK_SKEW).date()


def day_problem(day: date) -> str | None:
    """Why ``day`` cannot be the day a form was filled in (``"is in the future"``,
    ``"is before 1900"``), or ``None``."""
    if day < EARLIEST:
        return f"is before {EARLIEST.year}"
    if day > latest_day():
        return "is in the future"
    return None


def moment_problem(moment: datetime) -> str | None:
    """:func:`day_problem` for a date-time; with a time zone it may be at most
    :data:`CLOCK_SKEW` after now, without one at most the local time at UTC+14 (plus
    the skew)."""
    if moment.date() < EARLIEST:
        return f"is before {EARLIEST.year}"
    now = datetime.now(UTC)
    if moment.tzinfo is None:
        latest = (now + EARLIEST_ZONE_AHEAD + CLOCK_SKEW).replace(tzinfo=None)
        later = moment > latest
    else:
        later = moment > now + CLOCK_SKEW
    if later:
        minutes = int(CLOCK_SKEW.total_seconds() // 60)
        return (
            f"is in the future (now {now:%Y-%m-%d %H:%M} UTC; psyq allows a clock "
            f"{minutes} minutes fast)"
        )
    return None


def period_problem(year: int, month: int | None = None) -> str | None:
    """:func:`day_problem` for a partial date (FHIR allows ``2026`` or ``2026-03``):
    refused when every day of it is in the future, or before 1900."""
    last_month = month or 12
    first = date(year, month or 1, 1)
    last = date(year, last_month, calendar.monthrange(year, last_month)[1])
    if last < EARLIEST:
        return f"is before {EARLIEST.year}"
    if first > latest_day():
        return "is in the future"
    return None
