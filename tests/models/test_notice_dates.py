"""Long local dates in reminders: pendulum's `id` and `en` locales give every day and month name we expect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smartcity.models.notifications.notices import format_local_long

DAYS_ID = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]
DAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS_ID = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
]
MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


@pytest.mark.parametrize(("lang", "days", "months"), [("id", DAYS_ID, MONTHS_ID), ("en", DAYS_EN, MONTHS_EN)])
def test_every_day_and_month_name(lang, days, months):
    # 2018-01-01 was a Monday; 17:00 WIB is 10:00 UTC.
    for n in range(7):
        at = datetime(2018, 1, 1 + n, 10, tzinfo=UTC)
        assert format_local_long(at, "Asia/Jakarta", lang) == f"{days[n]}, {1 + n} {months[0]} 2018 17:00 WIB"
    for m in range(12):
        local = format_local_long(datetime(2018, m + 1, 15, 2, 5, tzinfo=UTC), "Asia/Jakarta", lang)
        assert local.endswith(f", 15 {months[m]} 2018 09:05 WIB"), local


def test_the_local_day_is_the_regions_not_utcs():
    new_year_utc = datetime(2017, 12, 31, 16, 30, tzinfo=UTC)
    assert format_local_long(new_year_utc, "Asia/Jakarta") == "Minggu, 31 Desember 2017 23:30 WIB"
    assert format_local_long(new_year_utc, "Asia/Makassar") == "Senin, 1 Januari 2018 00:30 WITA"
    assert (
        format_local_long(new_year_utc + timedelta(hours=1), "Asia/Jayapura", "en")
        == "Monday, 1 January 2018 02:30 WIT"
    )


def test_unknown_language_falls_back_to_bahasa_indonesia():
    assert (
        format_local_long(datetime(2017, 9, 1, 10, tzinfo=UTC), "Asia/Jakarta", "fr")
        == "Jumat, 1 September 2017 17:00 WIB"
    )
