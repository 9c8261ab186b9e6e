"""Indonesian working-day calendar and regional time zones (pure Python, no I/O).

Working days are Monday-Friday minus national public holidays *and* cuti bersama
(collective leave, the ``government`` category of the ``holidays`` package): civil
servants -- the PICs of Smart City regions -- are off on both.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays
import pendulum

__all__ = [
    "ZONE_ABBREV",
    "add_working_days",
    "format_local",
    "holiday_dates",
    "is_working_day",
    "local_at",
    "next_working_day",
    "working_days_between",
    "zone_abbrev",
]

HOLIDAY_CATEGORIES = ("public", "government")

# Indonesia's three civil time zones; Pontianak (West Kalimantan) is also WIB.
ZONE_ABBREV: dict[str, str] = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Jayapura": "WIT",
}

# Padding (years) around a query so that arithmetic near a year edge stays in range.
_PAD_YEARS = 1
# ~250 working days a year; used to size the precomputed range for large offsets.
_MIN_WORKDAYS_PER_YEAR = 200


@lru_cache(maxsize=64)
def holiday_dates(first_year: int, last_year: int) -> frozenset[date]:
    """Return public holidays + cuti bersama between two years (inclusive) as a set."""
    cal = holidays.country_holidays("ID", years=range(first_year, last_year + 1), categories=HOLIDAY_CATEGORIES)
    return frozenset(cal.keys())


@lru_cache(maxsize=128)
def _year_holidays(year: int) -> frozenset[date]:
    # Per-year cache keeps is_working_day an O(1) set lookup on the hot path.
    return holiday_dates(year, year)


@lru_cache(maxsize=256)
def _working_ordinals(first_year: int, last_year: int) -> tuple[int, ...]:
    # Sorted ordinals of every working day in the range: arithmetic becomes bisect + index.
    off = holiday_dates(first_year, last_year)
    d, end = date(first_year, 1, 1), date(last_year, 12, 31)
    out: list[int] = []
    while d <= end:
        if d.weekday() < 5 and d not in off:
            out.append(d.toordinal())
        d += timedelta(days=1)
    return tuple(out)


def _calendar_for(lo: date, hi: date, n: int = 0) -> tuple[int, ...]:
    # Cover [lo, hi] plus enough years to walk |n| working days in either direction.
    span = abs(n) // _MIN_WORKDAYS_PER_YEAR + _PAD_YEARS
    return _working_ordinals(lo.year - span, hi.year + span)


def is_working_day(d: date) -> bool:
    """True if ``d`` is Mon-Fri and neither a public holiday nor cuti bersama."""
    return d.weekday() < 5 and d not in _year_holidays(d.year)


def add_working_days(start: date, n: int) -> date:
    """Return the n-th working day after (n>0) / before (n<0) ``start``; n=0 rolls forward."""
    if isinstance(start, datetime):  # a datetime is a date subclass; its time would be ignored
        raise TypeError("start must be a date, not a datetime")
    wd = _calendar_for(start, start, n)
    o = start.toordinal()
    if n > 0:
        return date.fromordinal(wd[bisect_right(wd, o) + n - 1])
    # n == 0: first working day >= start; n < 0: count back from the last one < start.
    return date.fromordinal(wd[bisect_left(wd, o) + n])


def next_working_day(d: date) -> date:
    """Return the first working day strictly after ``d``."""
    return add_working_days(d, 1)


def working_days_between(a: date, b: date) -> int:
    """Signed count of working days in (a, b], negated when b < a (so it is antisymmetric).

    For a working day ``a`` this inverts add_working_days: between(a, add(a, n)) == n.
    """
    lo, hi = (a, b) if a <= b else (b, a)
    wd = _calendar_for(lo, hi)
    return bisect_right(wd, b.toordinal()) - bisect_right(wd, a.toordinal())


def zone_abbrev(tz: str) -> str:
    """Return WIB/WITA/WIT for an Indonesian IANA zone; ValueError for any other zone."""
    try:
        return ZONE_ABBREV[tz]
    except KeyError:
        known = ", ".join(sorted(ZONE_ABBREV))
        raise ValueError(f"unknown Indonesian time zone {tz!r} (expected one of: {known})") from None


@lru_cache(maxsize=32)
def zone(tz: str) -> pendulum.Timezone:
    """The pendulum zone object, built once per name (building one reads the tz database from disk)."""
    return pendulum.timezone(tz)


def local_at(d: date, tz: str, hour: int = 8, minute: int = 0) -> pendulum.DateTime:
    """Return the UTC instant of local wall time ``hour:minute`` on date ``d`` in zone ``tz``."""
    return pendulum.datetime(d.year, d.month, d.day, hour, minute, tz=zone(tz)).in_timezone("UTC")


def format_local(instant_utc: datetime, tz: str) -> str:
    """Format an aware instant as local time with the Indonesian zone, e.g. '2017-09-01 08:00 WIB'."""
    if instant_utc.tzinfo is None or instant_utc.utcoffset() is None:
        raise ValueError("instant_utc must be timezone-aware")
    abbrev = zone_abbrev(tz)
    local = pendulum.instance(instant_utc).in_timezone(tz)
    return f"{local.strftime('%Y-%m-%d %H:%M')} {abbrev}"
