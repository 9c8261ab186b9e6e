"""Cohort calendars on real SQLite and PostgreSQL: all-or-nothing import, deadlines on calendar events at the
due hour in each region's zone, and a calendar change that moves the open ones (audited) and not the done ones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from smartcity.models.calendar.ops import event_dates, event_started, import_calendar
from smartcity.models.calendar.tables import CalendarEvent
from smartcity.models.core.errors import BadInput, NotFound
from smartcity.models.core.program import create_cohort, nominate
from smartcity.models.core.tables import AuditRecord, Cohort, Enrollment, Region
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.ops import complete_milestone, extend_deadline, find_deadline, sweep
from smartcity.models.deadlines.tables import Deadline, Notification
from smartcity.models.deadlines.workdays import ZONE_ABBREV, add_working_days, format_local, is_working_day, local_at
from smartcity.models.infra.db import session_scope
from smartcity.models.notifications.outbox import add_contact
from smartcity.models.programs.loading import SHIPPED_DIR
from tests.helpers import SHARED_DATA, T0, load_registry

REAL_CALENDAR = SHARED_DATA / "program_calendar.csv"
BANDUNG, MAKASSAR, MIMIKA = "3273", "7371", "9412"  # WIB, WITA, WIT
ZONES = {BANDUNG: "Asia/Jakarta", MAKASSAR: "Asia/Makassar", MIMIKA: "Asia/Jayapura"}
HEADER = "cohort,event,start,end,place,confidence,source,note\n"
#: The 2017 events the calendar program below uses (the real dates, program_calendar.csv).
CALENDAR_2017 = (
    HEADER
    + "2017,mou_signed,2017-05-22,2017-05-22,Makassar,2+ sources,detakpos.com,\n"
    + "2017,bimtek,2017-07-17,2017-10-27,regions,2+ sources,local government pages,four stages\n"
    + '2017,masterplan_evaluation,2017-11-15,2017-11-15,"Hotel Santika Premiere, Jakarta",2+ sources,223/HM,\n'
)


def calendar_program(tmp_path: Path) -> Path:
    """The default program with its masterplan due at the masterplan evaluation (120 working days when the
    calendar lacks it), bimtek-1 on the first day of the bimtek window, and a milestone only on the MoU signing."""
    text = (SHIPPED_DIR / "default.toml").read_text(encoding="utf-8")
    edits = {
        'name = "default"': 'name = "calendar-test"',
        'key = "masterplan"': 'key = "masterplan"\nevent = "masterplan_evaluation"',
        'key = "bimtek-1"': 'key = "bimtek-1"\nevent = "bimtek"\nevent_day = "start"',
        "[[deadlines.ladder]]": (
            '[[deadlines.milestones]]\nkey = "mou"\nstage = "drafting"\nevent = "mou_signed"\n'
            'title = { id = "Penandatanganan MoU", en = "MoU signing" }\n\n[[deadlines.ladder]]'
        ),
    }
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "calendar-test.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def cohort_2017(db_url, tmp_path):
    """Bandung, Makassar and Mimika nominated into cohort 2017, which runs the calendar program."""
    load_registry()
    with session_scope() as s:
        create_cohort(s, name="2017", year=2017, quota=3, now=T0, program=str(calendar_program(tmp_path)))
        nominate(s, cohort="2017", codes=list(ZONES), now=T0)
    return db_url


def write(tmp_path: Path, text: str, name: str = "calendar.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, cohort: str = "2017", reason: str | None = None, now: datetime = T0):
    with session_scope() as s:
        return import_calendar(session=s, cohort=cohort, path=path, actor="ani", now=now, reason=reason)


def to_drafting(at: datetime = T0) -> None:
    for code in ZONES:
        for to in ("selected", "drafting"):
            with session_scope() as s:
                change_stage(s, StageChange(region_code=code, to=to, actor="ani", cohort="2017"), now=at)


def due(code: str, key: str) -> Deadline:
    with session_scope() as s:
        return find_deadline(s, code, key, "2017")


def audit_rows(kind: str) -> list[AuditRecord]:
    with session_scope() as s:
        return list(s.exec(select(AuditRecord).where(AuditRecord.kind == kind).order_by(col(AuditRecord.id))).all())


def enrollment(session, code: str) -> Enrollment:
    return session.exec(
        select(Enrollment).join(Cohort).join(Region).where(Cohort.name == "2017", Region.bps_code == code)
    ).one()


def cohort_id(name: str) -> int:
    with session_scope() as s:
        return s.exec(select(Cohort.id).where(Cohort.name == name)).one()


def calendar_rows() -> list[tuple]:
    with session_scope() as s:
        rows = s.exec(select(CalendarEvent).order_by(col(CalendarEvent.cohort_id), col(CalendarEvent.event))).all()
        return [(r.cohort_id, r.event, r.start_date, r.end_date) for r in rows]


# --- import: all or nothing ----------------------------------------------------------------------------


def test_a_bad_file_is_refused_whole_with_the_line_of_every_bad_row(cohort_2017, tmp_path):
    bad = write(
        tmp_path,
        HEADER
        + "2017,mou_signed,2017-05-22,2017-05-22,Makassar,,,\n"  # line 2: good, yet not imported
        + "2017,bimtek,2017-02-30,,,,,\n"  # line 3: no such day
        + "2017,masterplan_evaluation,2017-11-15,2017-11-14,,,,\n"  # line 4: ends before it starts
        + ",assessment,2017-05-02,,,,,\n"  # line 5: no cohort
        + "\n"  # a blank line is no row, and the lines after it keep their numbers
        + "2017+2018,mou_signed,2017-05-23,,,,,\n"  # line 7: a second mou_signed for 2017
        + "2017,award,15/11/2017,,,,,\n",  # line 8: not YYYY-MM-DD
    )
    with pytest.raises(BadInput) as refused:
        load(bad)
    assert str(refused.value) == "calendar.csv: 5 error(s), nothing imported"
    assert refused.value.errors == [
        "line 3: start: 2017-02-30 is not a date (no such day in the calendar)",
        "line 4: end 2017-11-14 is before start 2017-11-15",
        "line 5: missing cohort",
        "line 7: duplicate event mou_signed for cohort 2017 (first on line 2)",
        "line 8: start: '15/11/2017' is not a date written YYYY-MM-DD",
    ]
    assert calendar_rows() == [] and audit_rows("calendar_imported") == []


def test_an_unknown_cohort_or_a_file_without_its_rows_is_refused(cohort_2017, tmp_path):
    good = write(tmp_path, CALENDAR_2017)
    with pytest.raises(NotFound, match="cohort '2031' does not exist"):
        load(good, cohort="2031")
    with session_scope() as s:
        create_cohort(s, name="2018", year=2018, quota=50, now=T0)
    with pytest.raises(
        BadInput, match=r"calendar.csv: no rows for cohort 2018 \(the file has 2017\), nothing imported"
    ):
        load(good, cohort="2018")
    empty = write(tmp_path, HEADER, "empty.csv")
    with pytest.raises(BadInput, match="no data rows"):
        load(empty)
    assert calendar_rows() == [] and audit_rows("calendar_imported") == []


def test_rows_as_csv_dictreader_gives_them_are_numbered_like_the_file(cohort_2017, tmp_path):
    rows = [
        {"cohort": "2017", "event": "mou_signed", "start": "2017-05-22", "end": ""},
        {"cohort": "2017", "event": "bimtek", "start": "2017-10-27", "end": "2017-07-17"},
    ]
    with session_scope() as s, pytest.raises(BadInput) as refused:
        import_calendar(session=s, cohort="2017", rows=rows, actor="ani", now=T0)
    assert refused.value.errors == ["line 3: end 2017-07-17 is before start 2017-10-27"]
    with session_scope() as s:
        done = import_calendar(session=s, cohort="2017", rows=rows[:1], actor="ani", now=T0)
    assert done.added == ["mou_signed"]
    with session_scope() as s:
        assert event_dates(s, cohort_id=cohort_id("2017")) == {"mou_signed": (date(2017, 5, 22), date(2017, 5, 22))}


@pytest.mark.parametrize(
    "cohort, year, events",
    [
        (
            "2017",
            2017,
            {
                "assessment": ("2017-05-02", "2017-05-03"),
                "mou_signed": ("2017-05-22", "2017-05-22"),
                "bimtek": ("2017-07-17", "2017-10-27"),
                "masterplan_evaluation": ("2017-11-15", "2017-11-15"),
                "implementation_evaluation": ("2019-06-18", "2019-06-20"),  # the row for "2017+2018"
            },
        ),
        (
            "2018",
            2018,
            {
                "assessment": ("2018-03-05", "2018-03-07"),
                "selection_letter": ("2018-04-09", "2018-04-09"),
                "mou_signed": ("2018-05-08", "2018-05-08"),
                "bimtek": ("2018-07-04", "2018-10-22"),
                "masterplan_evaluation": ("2018-12-14", "2018-12-14"),
                "implementation_evaluation": ("2019-06-18", "2019-06-20"),
            },
        ),
        (
            "2019",
            2019,
            {
                "assessment": ("2019-02-21", "2019-02-22"),
                "selection_letter": ("2019-02-28", "2019-02-28"),
                "mou_signed": ("2019-05-15", "2019-05-15"),
                "bimtek": ("2019-07-03", "2019-10-11"),
                "masterplan_evaluation": ("2019-11-04", "2019-11-06"),
            },
        ),
    ],
)
def test_the_real_calendar_imports_for_each_cohort(db_url, cohort, year, events):
    with session_scope() as s:
        create_cohort(s, name=cohort, year=year, quota=50, now=T0)
    done = load(REAL_CALENDAR, cohort=cohort)
    assert sorted(done.added) == sorted(events) and done.deadlines == []
    with session_scope() as s:
        got = event_dates(s, cohort_id=cohort_id(cohort))
        place = s.exec(select(CalendarEvent.place).where(CalendarEvent.event == "mou_signed")).one()
    assert {e: (a.isoformat(), b.isoformat()) for e, (a, b) in got.items()} == events
    assert place and ("Makassar" in place or "Jakarta" in place)
    [record] = audit_rows("calendar_imported")
    assert record.subject == f"cohort {cohort} calendar" and record.actor == "ani"
    assert record.content["added"]["mou_signed"] == list(events["mou_signed"])
    # The same file again changes nothing, and records nothing.
    again = load(REAL_CALENDAR, cohort=cohort)
    assert (again.added, again.redated, sorted(again.unchanged)) == ([], [], sorted(events))
    assert len(audit_rows("calendar_imported")) == 1


# --- deadlines on a calendar event ------------------------------------------------------------------------


def test_a_deadline_on_an_event_falls_at_the_due_hour_local_in_wib_wita_and_wit(cohort_2017, tmp_path):
    load(write(tmp_path, CALENDAR_2017))
    to_drafting()
    for code, tz in ZONES.items():
        masterplan, bimtek = due(code, "masterplan"), due(code, "bimtek-1")
        assert masterplan.due_at == local_at(date(2017, 11, 15), tz, 17)  # the evaluation day, 17:00 local
        assert bimtek.due_at == local_at(date(2017, 7, 17), tz, 17)  # the bimtek window's first day
        assert format_local(masterplan.due_at, tz) == f"2017-11-15 17:00 {ZONE_ABBREV[tz]}"
        # Milestones not on an event still count working days from entering the stage.
        assert due(code, "bimtek-2").due_at == local_at(add_working_days(date(2017, 5, 2), 45), tz, 17)
        # Reminders go out at 08:00 local on a working day, as for any deadline.
        first = masterplan.next_rung_at.astimezone(ZoneInfo(tz))
        assert (masterplan.next_rung, first.hour, first.minute) == ("T-14", 8, 0) and is_working_day(first.date())
    assert [due(c, "masterplan").due_at.hour for c in ZONES] == [10, 9, 8]  # 17:00 WIB, WITA, WIT in UTC


def test_without_the_event_the_working_days_are_the_fallback(cohort_2017):
    to_drafting()
    for code, tz in ZONES.items():
        assert due(code, "masterplan").due_at == local_at(add_working_days(date(2017, 5, 2), 120), tz, 17)
        assert due(code, "bimtek-1").due_at == local_at(add_working_days(date(2017, 5, 2), 20), tz, 17)
        with session_scope() as s:  # only on the MoU signing: nothing to fall on yet
            keys = s.exec(select(Deadline.key).where(Deadline.key == "mou")).all()
        assert keys == []


def test_a_calendar_change_moves_open_deadlines_with_the_reason_and_leaves_done_ones(cohort_2017, tmp_path):
    load(write(tmp_path, CALENDAR_2017))
    to_drafting()
    with session_scope() as s:
        for code in ZONES:
            add_contact(
                s, role="pic", region_code=code, name=f"PIC {code}", language="id", now=T0, url="json://127.0.0.1:9/x"
            )
        complete_milestone(s, BANDUNG, "bimtek-1", "ani", datetime(2017, 7, 17, 3, tzinfo=UTC), "2017")
        d = find_deadline(s, MAKASSAR, "masterplan", "2017")
        extend_deadline(s, d.id, 5, "flood in the city hall", "ani", T0)  # a region keeps what it was granted
    sweep_at = datetime(2017, 7, 3, 3, tzinfo=UTC)  # bimtek-1's T-14 and T-7 are due: reminders wait to go out
    with session_scope() as s:
        assert sweep(s, sweep_at) > 0
    old = {(c, k): due(c, k) for c in ZONES for k in ("masterplan", "bimtek-1", "mou")}
    moved_file = write(
        tmp_path,
        CALENDAR_2017.replace("2017,bimtek,2017-07-17", "2017,bimtek,2017-07-24").replace(
            "masterplan_evaluation,2017-11-15,2017-11-15", "masterplan_evaluation,2017-11-22,2017-11-22"
        ),
        "moved.csv",
    )
    with pytest.raises(
        BadInput, match=r"changes dates \(bimtek 2017-07-17\.\.2017-10-27 -> 2017-07-24\.\.2017-10-27, "
    ):
        load(moved_file, now=sweep_at)
    assert due(MIMIKA, "masterplan").due_at == old[(MIMIKA, "masterplan")].due_at  # refused: nothing moved

    done = load(moved_file, reason="the ministry moved the evaluation a week", now=sweep_at + timedelta(hours=1))
    assert sorted(done.redated) == ["bimtek", "masterplan_evaluation"] and done.unchanged == ["mou_signed"]
    for code, tz in ZONES.items():
        granted = 5 if code == MAKASSAR else 0
        assert due(code, "masterplan").due_at == local_at(add_working_days(date(2017, 11, 22), granted), tz, 17)
        assert due(code, "mou").due_at == old[(code, "mou")].due_at  # its event did not change
    for code in (MAKASSAR, MIMIKA):
        bimtek = due(code, "bimtek-1")
        assert bimtek.due_at == local_at(date(2017, 7, 24), ZONES[code], 17)
        assert bimtek.cycle == old[(code, "bimtek-1")].cycle + 1 and bimtek.next_rung_at > sweep_at
    done_one = due(BANDUNG, "bimtek-1")  # done before the change: untouched
    assert (done_one.status, done_one.due_at, done_one.cycle) == ("done", old[(BANDUNG, "bimtek-1")].due_at, 0)

    moves = audit_rows("deadline_moved")
    assert len(moves) == 5 == len(done.deadlines)  # 3 masterplans + 2 open bimtek-1
    assert {m.content["reason"] for m in moves} == {"the ministry moved the evaluation a week"}
    assert {(m.subject, m.content["event"]) for m in moves} >= {
        (f"region {MIMIKA} deadline masterplan", "masterplan_evaluation"),
        (f"region {MAKASSAR} deadline bimtek-1", "bimtek"),
    }
    [imported] = audit_rows("calendar_imported")[1:]
    assert imported.content["redated"]["bimtek"] == {
        "old": ["2017-07-17", "2017-10-27"],
        "new": ["2017-07-24", "2017-10-27"],
    }
    with session_scope() as s:  # the reminders written for the old date are withdrawn, as after an extension
        waiting = s.exec(select(Notification.status, Notification.deadline_id)).all()
    moved_ids = {m.content["deadline_id"] for m in moves}
    assert waiting and {str(status) for status, d in waiting if d in moved_ids} == {"cancelled"}


def test_an_event_the_calendar_gains_opens_what_only_falls_on_it(cohort_2017, tmp_path):
    to_drafting()
    with session_scope() as s:
        done = import_calendar(
            session=s, cohort="2017", path=write(tmp_path, CALENDAR_2017), actor="ani", now=T0 + timedelta(days=1)
        )
    opened = [d for d in done.deadlines if d["action"] == "opened"]
    assert sorted(d["bps_code"] for d in opened) == sorted(ZONES) and {d["key"] for d in opened} == {"mou"}
    for code, tz in ZONES.items():
        mou = due(code, "mou")
        assert (mou.kind, mou.stage, mou.due_at) == ("milestone", "drafting", local_at(date(2017, 5, 22), tz, 17))
        # The fallback dates move onto the events the calendar now has.
        assert due(code, "masterplan").due_at == local_at(date(2017, 11, 15), tz, 17)
    assert {r.content["reason"] for r in audit_rows("deadline_opened")} == {
        "calendar of cohort 2017: mou_signed, bimtek, masterplan_evaluation added"
    }


def test_a_guard_on_a_calendar_event_waits_for_its_first_day_in_the_regions_zone(cohort_2017, tmp_path):
    with session_scope() as s:
        missing = event_started(s, enrollment=enrollment(s, MIMIKA), event="mou_signed", now=T0)
    assert missing == "cohort 2017 has no calendar event mou_signed (`smartcity cohort calendar import 2017 FILE`)"
    load(write(tmp_path, CALENDAR_2017))
    midnight_wit = datetime(2017, 5, 21, 15, tzinfo=UTC)  # 22 May 00:00 WIT, still 21 May in WIB
    with session_scope() as s:
        assert event_started(s, enrollment=enrollment(s, MIMIKA), event="mou_signed", now=midnight_wit) is None
        late = event_started(s, enrollment=enrollment(s, BANDUNG), event="mou_signed", now=midnight_wit)
    assert late == "mou_signed of cohort 2017 begins 2017-05-22 (00:00 WIB)"
