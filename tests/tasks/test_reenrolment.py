"""Re-enrolment on real SQLite and PostgreSQL: a region whose file closed in one cohort (withdrawn, not selected,
or delivered) is nominated into a later one, as Kota Depok was (selected 2018, cancelled, joined 2019) and
Kutai Kartanegara (2017, back in 2021). Its history shows both cohorts, and nothing of the first one changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from smartcity.models.core import audit
from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.errors import BadInput, DomainRefused
from smartcity.models.core.program import create_cohort, history, nominate, replay, status_rows
from smartcity.models.core.tables import AuditRecord, Cohort, Enrollment, StageTransition
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.tables import Deadline
from smartcity.models.infra.db import session_scope
from smartcity.models.quickwins.tables import QuickWin
from smartcity.models.reviews.tables import MasterplanRound, Review, Reviewer
from tests.helpers import load_registry

DEPOK, KUKAR, BANYUMAS = "3276", "6403", "3302"
T2017 = datetime(2017, 5, 2, 1, tzinfo=UTC)
T2018 = datetime(2018, 5, 8, 3, tzinfo=UTC)
T2019 = datetime(2019, 5, 15, 3, tzinfo=UTC)


def move(code, to, at, cohort=None, reason=None):
    with session_scope() as s:
        return change_stage(s, StageChange(region_code=code, to=to, actor="ani", reason=reason, cohort=cohort), now=at)


def enrol(cohort, codes, at):
    with session_scope() as s:
        return nominate(s, cohort=cohort, codes=codes, now=at, actor="ani")


@pytest.fixture
def cohorts(db_url):
    """Cohorts 2017, 2018 (Depok and Banyumas nominated) and 2019 (empty, opened a year later)."""
    load_registry()
    with session_scope() as s:
        for name, year, at in (("2017", 2017, T2017), ("2018", 2018, T2018), ("2019", 2019, T2019)):
            create_cohort(s, name=name, year=year, quota=50, now=at)
    enrol("2018", [DEPOK, BANYUMAS], T2018)
    return db_url


def deliver(code, cohort, at):
    """A region walked to quick_win_delivered: an approved review round, then a verified quick win."""
    move(code, "selected", at, cohort)
    move(code, "drafting", at + timedelta(days=1), cohort)
    with session_scope() as s:
        enr = find_enrollment(s, code, cohort)
        rnd = MasterplanRound(enrollment_id=enr.id, round_no=1, status="approved", submitted_at=at)
        reviewer = Reviewer(
            name="Prof. A", institution="UI", expertise=["governance"], home_province="DKI Jakarta", created_at=at
        )
        s.add_all([rnd, reviewer])
        s.flush()
        approval = Review(
            round_id=rnd.id, reviewer_id=reviewer.id, scores={}, decision="approve", submitted_at=at, source="cli"
        )
        s.add(approval)
        s.add(QuickWin(enrollment_id=enr.id, title="Command center", verified_at=at, verified_by="Budi"))
    move(code, "masterplan_completed", at + timedelta(days=100), cohort)
    move(code, "quick_win_delivered", at + timedelta(days=150), cohort)


CLOSINGS = {
    "withdrawn": lambda code: (
        move(code, "selected", T2018 + timedelta(days=1), "2018"),
        move(code, "withdrawn", T2018 + timedelta(days=60), "2018", reason="cancelled for non-technical reasons"),
    ),
    "not_selected": lambda code: move(code, "not_selected", T2018 + timedelta(days=2), "2018"),
}


@pytest.mark.parametrize("closing", sorted(CLOSINGS))
def test_a_later_cohort_takes_a_region_only_once_its_earlier_file_is_closed(cohorts, closing):
    with session_scope() as s:
        audited = len(s.exec(select(AuditRecord)).all())
    with pytest.raises(DomainRefused, match="region 3276 is still open in cohort 2018; close it there first"):
        enrol("2019", [DEPOK], T2019)
    with session_scope() as s:  # refused before anything was written
        assert s.exec(select(Enrollment).join(Cohort).where(Cohort.name == "2019")).all() == []
        assert len(s.exec(select(AuditRecord)).all()) == audited
    CLOSINGS[closing](DEPOK)
    assert enrol("2019", [DEPOK], T2019) == (1, 0)
    with session_scope() as s:
        assert find_enrollment(s, DEPOK, "2019").stage == "nominated"
        assert find_enrollment(s, DEPOK, "2018").stage == closing


def test_a_region_that_delivered_can_come_back_years_later(cohorts):
    with session_scope() as s:
        create_cohort(s, name="2021", year=2021, quota=50, now=T2019 + timedelta(days=700))
    enrol("2017", [KUKAR], T2017)
    move(KUKAR, "selected", T2017 + timedelta(days=1), "2017")
    with pytest.raises(DomainRefused, match="still open in cohort 2017"):
        enrol("2021", [KUKAR], T2019 + timedelta(days=700))
    deliver(KUKAR, "2017", T2017 + timedelta(days=2))
    assert enrol("2021", [KUKAR], T2019 + timedelta(days=700)) == (1, 0)
    assert [(r["cohort"], r["to"]) for r in history_of(KUKAR)][-1] == ("2017", "quick_win_delivered")


def history_of(code):
    with session_scope() as s:
        return history(s, code)


def first_cohort_snapshot():
    """Depok's 2018 enrollment, its transitions and its deadlines, every column."""
    with session_scope() as s:
        enr = find_enrollment(s, DEPOK, "2018")
        rows = s.exec(
            select(StageTransition)
            .where(StageTransition.enrollment_id == enr.id)
            .order_by(col(StageTransition.version))
        ).all()
        deadlines = s.exec(select(Deadline).where(Deadline.enrollment_id == enr.id).order_by(col(Deadline.id))).all()
        return enr.model_dump(), [t.model_dump() for t in rows], [d.model_dump() for d in deadlines]


def test_history_shows_both_cohorts_in_order_and_nothing_of_the_first_changes(cohorts):
    CLOSINGS["withdrawn"](DEPOK)
    before = first_cohort_snapshot()
    enrol("2019", [DEPOK], T2019)
    move(DEPOK, "selected", T2019 + timedelta(days=30))  # no --cohort: the open (2019) enrollment
    move(DEPOK, "drafting", T2019 + timedelta(days=31))
    assert [(r["cohort"], r["version"], r["from"], r["to"], r["kind"]) for r in history_of(DEPOK)] == [
        ("2018", 1, "nominated", "selected", "advance"),
        ("2018", 2, "selected", "withdrawn", "withdraw"),
        ("2019", 1, "nominated", "selected", "advance"),
        ("2019", 2, "selected", "drafting", "advance"),
    ]
    rows = history_of(DEPOK)
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    assert rows[1]["reason"] == "cancelled for non-technical reasons"
    assert first_cohort_snapshot() == before  # the first cohort's enrollment, history and deadlines as they were
    with session_scope() as s:
        checked, problem = audit.verify(s)
        assert problem is None and checked >= 4
        for cohort, stage in (("2018", "withdrawn"), ("2019", "drafting")):
            enr = find_enrollment(s, DEPOK, cohort)
            chain = s.exec(select(StageTransition).where(StageTransition.enrollment_id == enr.id)).all()
            assert replay(list(chain), initial="nominated") == stage == enr.stage
            assert min(chain, key=lambda t: t.version).prev_hash == audit.GENESIS  # one chain per enrollment


def test_commands_without_a_cohort_pick_the_open_enrollment(cohorts, capsys):
    from smartcity.deployments.cli import app as cli

    CLOSINGS["withdrawn"](DEPOK)
    enrol("2019", [DEPOK], T2019)
    with session_scope() as s:
        assert s.get_one(Cohort, find_enrollment(s, DEPOK).cohort_id).name == "2019"
        rows = [(r["cohort"], r["stage"]) for r in status_rows(s) if r["bps_code"] == DEPOK]
    assert rows == [("2018", "withdrawn"), ("2019", "nominated")]
    assert move(DEPOK, "selected", T2019 + timedelta(days=30)).to_stage == "selected"
    capsys.readouterr()
    assert cli.main(["region", "history", DEPOK, "--json"]) == 0
    assert [r["cohort"] for r in json.loads(capsys.readouterr().out)] == ["2018", "2018", "2019"]
    assert cli.main(["status", "--cohort", "2019", "--json"]) == 0
    assert [(r["bps_code"], r["stage"]) for r in json.loads(capsys.readouterr().out)["regions"]] == [
        (DEPOK, "selected")
    ]
    # The first cohort stays reachable by name: its closed file refuses a move, it is not silently skipped.
    with pytest.raises(DomainRefused, match="withdrawn is final"):
        move(DEPOK, "drafting", T2019 + timedelta(days=31), "2018")


def test_a_closed_file_is_not_reopened_while_the_region_is_open_in_a_later_cohort(cohorts):
    CLOSINGS["not_selected"](DEPOK)
    enrol("2019", [DEPOK], T2019)
    with pytest.raises(DomainRefused, match="open in cohort 2019"):
        move(DEPOK, "nominated", T2019 + timedelta(days=1), "2018", reason="decided on partial data")


def test_with_every_file_closed_a_command_without_a_cohort_says_none_is_open(cohorts):
    CLOSINGS["withdrawn"](DEPOK)
    enrol("2019", [DEPOK], T2019)
    move(DEPOK, "not_selected", T2019 + timedelta(days=2))
    with session_scope() as s, pytest.raises(BadInput) as err:
        find_enrollment(s, DEPOK)
    assert str(err.value) == "region 3276 has no open enrollment (cohorts 2018, 2019): pass --cohort"
