"""Pure tests for the Indonesian working-day calendar and zones (pinned to 2017 holiday data)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcity.models.deadlines.workdays import (
    ZONE_ABBREV,
    add_working_days,
    format_local,
    holiday_dates,
    is_working_day,
    local_at,
    next_working_day,
    working_days_between,
    zone_abbrev,
)

# Idul Fitri 1438 H (2017), from the installed `holidays` data (public + cuti bersama).
IDUL_FITRI_2017 = {date(2017, 6, 25), date(2017, 6, 26)}  # public holidays (Sun, Mon)
CUTI_BERSAMA_2017 = {date(2017, 6, 23), *(date(2017, 6, d) for d in range(27, 31))}  # Fri 23, Tue 27-Fri 30


def test_idul_fitri_2017_and_cuti_bersama_present():
    off = holiday_dates(2017, 2017)
    assert IDUL_FITRI_2017 | CUTI_BERSAMA_2017 <= off
    assert date(2017, 6, 22) not in off and date(2017, 7, 3) not in off


def test_no_working_day_from_23_june_to_2_july_2017():
    d = date(2017, 6, 23)
    while d <= date(2017, 7, 2):
        assert not is_working_day(d), d
        d += timedelta(days=1)
    assert is_working_day(date(2017, 6, 22)) and is_working_day(date(2017, 7, 3))


def test_add_across_idul_fitri_2017():
    # Friday 23 June is itself cuti bersama; the next working day is Monday 3 July.
    assert add_working_days(date(2017, 6, 23), 1) == date(2017, 7, 3)
    assert add_working_days(date(2017, 6, 22), 1) == date(2017, 7, 3)
    assert add_working_days(date(2017, 6, 22), 2) == date(2017, 7, 4)
    assert add_working_days(date(2017, 7, 3), -1) == date(2017, 6, 22)
    assert working_days_between(date(2017, 6, 22), date(2017, 7, 3)) == 1
    assert working_days_between(date(2017, 7, 3), date(2017, 6, 22)) == -1


def test_zero_rolls_forward_only_off_days():
    assert add_working_days(date(2017, 6, 22), 0) == date(2017, 6, 22)
    assert add_working_days(date(2017, 6, 24), 0) == date(2017, 7, 3)
    assert next_working_day(date(2017, 6, 22)) == date(2017, 7, 3)


def test_plain_weekend_and_other_holidays():
    assert add_working_days(date(2017, 8, 11), 1) == date(2017, 8, 14)  # Fri -> Mon
    assert not is_working_day(date(2017, 8, 17))  # Hari Kemerdekaan
    assert not is_working_day(date(2017, 12, 26))  # cuti bersama Natal


def test_datetime_rejected_as_date():
    with pytest.raises(TypeError):
        add_working_days(datetime(2017, 6, 22, tzinfo=UTC), 1)


@settings(max_examples=200, deadline=None)
@given(st.dates(date(2010, 1, 1), date(2035, 12, 31)), st.integers(-400, 400))
def test_add_and_between_are_inverse(start, n):
    end = add_working_days(start, n)
    assert is_working_day(end)
    assert working_days_between(start, end) == -working_days_between(end, start)
    # Exact inverse from a working day (an off day counts as the working day before it).
    if n != 0 and (n > 0 or is_working_day(start)):
        assert working_days_between(start, end) == n
        assert (end > start) == (n > 0)


def test_08_00_in_three_zones():
    d = date(2017, 9, 1)
    assert local_at(d, "Asia/Jakarta") == datetime(2017, 9, 1, 1, tzinfo=UTC)
    assert local_at(d, "Asia/Makassar") == datetime(2017, 9, 1, 0, tzinfo=UTC)
    assert local_at(d, "Asia/Jayapura") == datetime(2017, 8, 31, 23, tzinfo=UTC)
    assert local_at(d, "Asia/Pontianak") == local_at(d, "Asia/Jakarta")
    assert local_at(d, "Asia/Jakarta").utcoffset() == timedelta(0)


def test_zone_abbrev_and_format():
    assert {zone_abbrev(z) for z in ZONE_ABBREV} == {"WIB", "WITA", "WIT"}
    with pytest.raises(ValueError, match="unknown Indonesian time zone"):
        zone_abbrev("Europe/Paris")
    at = datetime(2017, 9, 1, 1, tzinfo=UTC)
    assert format_local(at, "Asia/Jakarta") == "2017-09-01 08:00 WIB"
    assert format_local(at, "Asia/Makassar") == "2017-09-01 09:00 WITA"
    assert format_local(at, "Asia/Jayapura") == "2017-09-01 10:00 WIT"


def test_format_rejects_naive():
    with pytest.raises(ValueError, match="must be timezone-aware"):
        format_local(datetime(2017, 9, 1, 1), "Asia/Jakarta")


def test_many_calls_agree_with_each_other():
    """The sweep calls this thousands of times (its speed is in benchmarks/deadline_sweep.py): a later start never
    gives an earlier result, and the result is always a working day."""
    starts = [date(2017, 1, 1) + timedelta(days=i) for i in range(700)]
    results = [add_working_days(d, 120) for d in starts]
    assert all(a <= b for a, b in zip(results, results[1:], strict=False))
    assert all(is_working_day(r) for r in results)


def test_announcements_wait_for_office_hours():
    from datetime import datetime

    from smartcity.models.deadlines.ops import first_send_at

    monday_10_wita = datetime(2017, 10, 2, 2, 0, tzinfo=UTC)
    assert first_send_at(monday_10_wita, "Asia/Makassar") == monday_10_wita
    friday_20_wit = datetime(2017, 10, 6, 11, 0, tzinfo=UTC)  # 20:00 WIT: wait for Monday 08:00 WIT
    assert first_send_at(friday_20_wit, "Asia/Jayapura") == datetime(2017, 10, 8, 23, 0, tzinfo=UTC)
