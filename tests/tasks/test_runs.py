"""Run names by as-of time and zone: the zone given, else the offset's, else WIB; the time in that zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smartcity.tasks.runs import run_zone, zoned_run_name


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        ("2017-09-18T08:00+09:00", None, "WIT"),
        ("2017-09-18T08:00+08:00", None, "WITA"),
        ("2017-09-18T08:00+07:00", None, "WIB"),
        ("2017-09-18T01:00+00:00", None, "WIB"),  # not an Indonesian offset: the program's home zone
        (None, None, "WIB"),
        ("2017-09-18T08:00+07:00", "WIT", "WIT"),  # the schedule's zone wins over the offset
    ],
)
def test_run_zone(now, zone, expected):
    assert run_zone(now, zone) == expected


def test_the_name_shows_the_as_of_time_in_its_zone():
    due = datetime(2017, 9, 17, 23, 0, tzinfo=UTC)  # 08:00 WIT the next day
    assert zoned_run_name("deadline-sweep", due, "WIT") == "deadline-sweep-2017-09-18-0800-wit"
    assert zoned_run_name("deadline-sweep", due, "WIB") == "deadline-sweep-2017-09-18-0600-wib"
