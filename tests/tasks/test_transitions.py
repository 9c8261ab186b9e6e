"""The single stage-change path on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from smartcity.models.core.audit import GENESIS, chain_hash, transition_content
from smartcity.models.core.errors import (
    BadInput,
    GuardFailed,
    InvalidTransition,
    NotEnrolled,
    NotFound,
    StaleVersion,
)
from smartcity.models.core.program import replay
from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import Enrollment, EventOutbox, StageTransition
from smartcity.models.core.transitions import StageChange, advance_many, change_stage, find_enrollment
from smartcity.models.infra.db import session_scope
from smartcity.models.quickwins.tables import QuickWin
from smartcity.models.reviews.tables import MasterplanRound
from tests.conftest import dump_database
from tests.helpers import T0, cohort_with, load_registry, phase1_codes

BANDUNG = "3273"


@pytest.fixture
def cohort(db_url):
    load_registry()
    cohort_with(phase1_codes())
    return db_url


def move(code, to, *, version=None, key=None, reason=None, actor="ani", at=T0):
    with session_scope() as s:
        return change_stage(
            s,
            StageChange(
                region_code=code,
                to=Stage(to),
                actor=actor,
                reason=reason,
                cohort="2017",
                expected_version=version,
                idempotency_key=key,
            ),
            now=at,
        )


def test_advance_writes_enrollment_audit_and_event_together(cohort):
    result = move(BANDUNG, "selected", version=0)
    assert (result.status, result.from_stage, result.to_stage, result.version) == (
        "applied",
        "nominated",
        "selected",
        1,
    )
    with session_scope() as s:
        t = s.exec(select(StageTransition)).one()
        ev = s.exec(select(EventOutbox)).one()
        assert find_enrollment(s, BANDUNG).stage == "selected"
    assert (t.actor, t.occurred_at, t.prev_hash) == ("ani", T0, GENESIS)
    assert ev.event == "smartcity.region.selected"
    assert ev.resource["prefect.resource.id"] == "smartcity.region.3273"
    roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in ev.related}
    assert roles == {"cohort": "smartcity.cohort.2017", "province": "smartcity.province.jawa-barat"}


def test_stale_version_is_a_conflict_and_records_nothing(cohort):
    move(BANDUNG, "selected", version=0)
    before = dump_database(cohort)
    with pytest.raises(StaleVersion, match="changed by someone else"):
        move(BANDUNG, "drafting", version=0)
    assert dump_database(cohort) == before


def test_same_idempotency_key_records_nothing_new(cohort):
    first = move(BANDUNG, "selected", key="req-1")
    again = move(BANDUNG, "selected", key="req-1")
    assert (first.status, again.status, again.transition_id) == ("applied", "duplicate", first.transition_id)
    with session_scope() as s:
        assert len(s.exec(select(StageTransition)).all()) == 1
        assert len(s.exec(select(EventOutbox)).all()) == 1


@pytest.mark.parametrize(
    "to,error,text",
    [
        ("drafting", InvalidTransition, "cannot skip from nominated to drafting"),
        ("masterplan_completed", InvalidTransition, "cannot skip"),
        ("withdrawn", InvalidTransition, "needs a reason"),
    ],
)
def test_refusals_leave_the_database_untouched(cohort, to, error, text):
    before = dump_database(cohort)
    with pytest.raises(error, match=text):
        move(BANDUNG, to)
    assert dump_database(cohort) == before


def test_backwards_and_unenrolled_are_refused(cohort):
    move(BANDUNG, "selected")
    move(BANDUNG, "drafting")
    before = dump_database(cohort)
    with pytest.raises(InvalidTransition, match="cannot go back"):
        move(BANDUNG, "selected")
    with pytest.raises(NotEnrolled, match="not enrolled"):
        move("1101", "selected")  # Simeulue: in the registry, not in the cohort
    with pytest.raises(NotFound, match="not in the registry"):  # an unknown name is bad input (exit 2)
        move("9999", "selected")
    with pytest.raises(BadInput, match="actor"):
        move(BANDUNG, "masterplan_completed", actor=" ")
    assert dump_database(cohort) == before


def test_quota_guard(db_url):
    load_registry()
    cohort_with(["3273", "3271", "3275"], quota=2)
    move("3273", "selected")
    move("3271", "selected")
    with pytest.raises(GuardFailed, match="within_cohort_quota: cohort 2017 has filled its quota of 2"):
        move("3275", "selected")
    with session_scope() as s, pytest.raises(InvalidTransition, match="a forced change needs a reason"):
        change_stage(
            s,
            StageChange(region_code="3275", to=Stage.selected, actor="ani", reason=None, cohort="2017", force=True),
            now=T0,
        )
    with session_scope() as s:  # a coordinator overrides the quota, with a reason, and it shows
        change_stage(
            s,
            StageChange(
                region_code="3275",
                to=Stage.selected,
                actor="ani",
                reason="Nawa Cita priority",
                cohort="2017",
                force=True,
            ),
            now=T0,
        )
        forced = s.exec(select(StageTransition).where(StageTransition.kind == "force")).one()
    assert (forced.to_stage, forced.reason) == ("selected", "Nawa Cita priority")


def test_review_and_quick_win_guards_cannot_be_forced(cohort):
    move(BANDUNG, "selected")
    move(BANDUNG, "drafting")
    with session_scope() as s, pytest.raises(GuardFailed, match="review_quorum_approved cannot be forced"):
        change_stage(
            s,
            StageChange(
                region_code=BANDUNG,
                to=Stage.masterplan_completed,
                actor="ani",
                reason="urgent",
                cohort="2017",
                force=True,
            ),
            now=T0,
        )


def test_review_quorum_guard_needs_an_approved_latest_round(cohort):
    move(BANDUNG, "selected")
    move(BANDUNG, "drafting")
    with pytest.raises(GuardFailed, match="review_quorum_approved: no masterplan review round"):
        move(BANDUNG, "masterplan_completed")
    with session_scope() as s:
        enr = find_enrollment(s, BANDUNG)
        s.add(MasterplanRound(enrollment_id=enr.id, round_no=1, status="revision_requested", submitted_at=T0))
    with pytest.raises(GuardFailed, match="round 1 is revision_requested"):
        move(BANDUNG, "masterplan_completed")
    with session_scope() as s:
        s.add(MasterplanRound(enrollment_id=enr.id, round_no=2, status="approved", submitted_at=T0))
    assert move(BANDUNG, "masterplan_completed").status == "applied"


def test_quick_win_guard_needs_a_named_verifier(cohort):
    for stage in ("selected", "drafting"):
        move(BANDUNG, stage)
    with session_scope() as s:
        enr = find_enrollment(s, BANDUNG)
        s.add(MasterplanRound(enrollment_id=enr.id, round_no=1, status="approved", submitted_at=T0))
    move(BANDUNG, "masterplan_completed")
    with session_scope() as s:
        s.add(QuickWin(enrollment_id=enr.id, title="Bandung Command Center", verified_at=T0))
    with pytest.raises(GuardFailed, match="quick_win_verified"):
        move(BANDUNG, "quick_win_delivered")
    with session_scope() as s:
        qw = s.exec(select(QuickWin)).one()
        qw.verified_by = "coordinator budi"
        s.add(qw)
    assert move(BANDUNG, "quick_win_delivered").to_stage == "quick_win_delivered"


def test_revise_goes_back_with_a_reason_and_replay_agrees(cohort):
    for stage in ("selected", "drafting"):
        move(BANDUNG, stage)
    with session_scope() as s:
        enr = find_enrollment(s, BANDUNG)
        s.add(MasterplanRound(enrollment_id=enr.id, round_no=1, status="approved", submitted_at=T0))
    move(BANDUNG, "masterplan_completed")
    move(BANDUNG, "drafting", reason="budget section rejected by Bappenas")
    with session_scope() as s:
        rows = s.exec(select(StageTransition).order_by(StageTransition.version)).all()
        assert replay(rows, initial="nominated") == Stage(find_enrollment(s, BANDUNG).stage) == Stage.drafting
    assert rows[-1].kind == "revise"
    prev = GENESIS
    for row in rows:  # the hash chain links every row to its predecessor
        assert row.prev_hash == prev and row.row_hash == chain_hash(prev, transition_content(row))
        prev = row.row_hash


def test_naive_time_is_refused(cohort):
    with pytest.raises(BadInput, match="timezone-aware"):
        move(BANDUNG, "selected", at=T0.replace(tzinfo=None))


def test_advance_many_is_resumable_and_counts_the_others(cohort):
    codes = phase1_codes()
    with session_scope() as s:
        out = advance_many(
            s, cohort="2017", items=[(c, 0) for c in codes[:10]], to=Stage.selected, actor="ani", reason=None, now=T0
        )
    assert len(out["applied"]) == 10
    with session_scope() as s:  # a re-run with the stale plan: nothing doubles
        out = advance_many(
            s,
            cohort="2017",
            items=[(c, 0) for c in codes],
            to=Stage.selected,
            actor="ani",
            reason=None,
            now=T0 + timedelta(minutes=1),
        )
    assert (len(out["applied"]), len(out["unchanged"]), out["refused"]) == (15, 10, [])
    with session_scope() as s:
        assert len(s.exec(select(StageTransition)).all()) == 25
        assert {e.stage for e in s.exec(select(Enrollment)).all()} == {"selected"}
