"""`smartcity cohort calendar import|show` end to end: the real calendar file, every bad line reported with
nothing written, and a re-dated event that needs --reason."""

from __future__ import annotations

import json

import pytest

from smartcity.models.core.program import create_cohort
from smartcity.models.infra.db import session_scope
from tests.clirun import smartcity_in_process as smartcity  # the console script's main, in this process
from tests.conftest import dump_database
from tests.helpers import SHARED_DATA, T0

REAL_CALENDAR = SHARED_DATA / "program_calendar.csv"
HEADER = "cohort,event,start,end,place,confidence,source,note\n"


@pytest.fixture
def cohorts(db_url):
    """Cohorts 2017, 2018 and 2019 (made in this process: the commands under test are the calendar's)."""
    with session_scope() as s:
        for year in (2017, 2018, 2019):
            create_cohort(s, name=str(year), year=year, quota=50, now=T0)
    return db_url


def test_the_real_calendar_imports_and_shows_for_2017_2018_and_2019(cohorts):
    expected = {"2017": "2017-05-22", "2018": "2018-05-08", "2019": "2019-05-15"}  # the MoU signing days
    for cohort, mou in expected.items():
        done = smartcity("cohort", "calendar", "import", cohort, str(REAL_CALENDAR), "--actor", "ani", db_url=cohorts)
        assert done.code == 0, done
        assert done.out.startswith(f"cohort {cohort} calendar: ") and "0 re-dated" in done.out
        shown = json.loads(smartcity("cohort", "calendar", "show", cohort, "--json", db_url=cohorts).out)
        assert [e["start"] for e in shown] == sorted(e["start"] for e in shown)  # by date
        assert {e["event"]: e["start"] for e in shown}["mou_signed"] == mou
    text = smartcity("cohort", "calendar", "show", "2019", db_url=cohorts).out
    assert "2019-11-04..2019-11-06 masterplan_evaluation" in text and "Balai Sudirman, Jakarta" in text


def test_a_bad_file_reports_every_bad_line_and_writes_nothing(cohorts, tmp_path):
    bad = tmp_path / "calendar.csv"
    bad.write_text(
        HEADER
        + "2017,mou_signed,2017-05-22,,,,,\n"
        + "2017,bimtek,2017-07-17,2017-07-16,,,,\n"
        + "2017,masterplan_evaluation,2017-11-31,,,,,\n",
        encoding="utf-8",
    )
    before = dump_database(cohorts)
    done = smartcity("cohort", "calendar", "import", "2017", str(bad), "--actor", "ani", db_url=cohorts)
    assert done.code == 2 and "Traceback" not in done.err
    assert done.err.splitlines() == [
        "error: calendar.csv: 2 error(s), nothing imported",
        "  line 3: end 2017-07-16 is before start 2017-07-17",
        "  line 4: start: 2017-11-31 is not a date (no such day in the calendar)",
    ]
    unknown = smartcity("cohort", "calendar", "import", "2031", str(REAL_CALENDAR), "--actor", "ani", db_url=cohorts)
    assert (
        unknown.code == 2 and unknown.err.strip() == "error: cohort '2031' does not exist (see `smartcity cohort list`)"
    )
    assert dump_database(cohorts) == before


def test_a_changed_date_needs_a_reason(cohorts, tmp_path):
    first, moved = tmp_path / "first.csv", tmp_path / "moved.csv"
    first.write_text(HEADER + "2018,mou_signed,2018-05-08,,Jakarta,,,\n", encoding="utf-8")
    moved.write_text(HEADER + "2018,mou_signed,2018-05-09,,Jakarta,,,\n", encoding="utf-8")
    assert smartcity("cohort", "calendar", "import", "2018", str(first), "--actor", "ani", db_url=cohorts).code == 0
    before = dump_database(cohorts)
    refused = smartcity("cohort", "calendar", "import", "2018", str(moved), "--actor", "ani", db_url=cohorts)
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1
    assert "mou_signed 2018-05-08 -> 2018-05-09" in refused.err and "give --reason" in refused.err
    assert dump_database(cohorts) == before
    args = ("cohort", "calendar", "import", "2018", str(moved), "--actor", "ani", "--reason", "postponed", "--json")
    done = smartcity(*args, db_url=cohorts)
    assert done.code == 0 and json.loads(done.out)["redated"] == ["mou_signed"]
    shown = json.loads(smartcity("cohort", "calendar", "show", "2018", "--json", db_url=cohorts).out)
    assert [(e["event"], e["start"], e["updated_by"]) for e in shown] == [("mou_signed", "2018-05-09", "ani")]
