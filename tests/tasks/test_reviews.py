"""Masterplan reviews on real SQLite and PostgreSQL: assignment, quorum, revisions, refusals."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from smartcity.models.core.errors import BadInput, DomainRefused, NotFound
from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import EventOutbox, StageTransition
from smartcity.models.core.transitions import StageChange, change_stage, find_enrollment
from smartcity.models.infra.db import session_scope
from smartcity.models.reviews.ops import (
    RUBRIC,
    add_reviewer,
    check_quorum,
    declare_conflict,
    pending_reviews,
    rounds_history,
    submit_masterplan,
    submit_review,
)
from smartcity.models.reviews.tables import MasterplanRound, ReviewAssignment
from tests.conftest import dump_database
from tests.helpers import T0, cohort_with, load_registry, phase1_codes

BANDUNG, MAKASSAR = "3273", "7371"
# The 2017 drafting partners. UI (Depok) and ITB (Bandung) sit in Jawa Barat, like Bandung itself.
POOL = [
    ("Prof. Suhono", "ITB", "Jawa Barat", "governance,economy"),
    ("Dr. Dana", "Universitas Indonesia", "Jawa Barat", "living,society"),
    ("Ir. Hammam", "BPPT", "DKI Jakarta", "environment,economy"),
    ("Dr. Ninok", "Universitas Multimedia Nusantara", "Banten", "branding,society"),
    ("Tim Citiasia", "Citiasia", "DKI Jakarta", "governance,branding"),
]


def scores(**overrides):
    return {
        "scores": {k: overrides.get(k, 4) for k in RUBRIC},
        "decision": overrides.get("decision", "approve"),
        "comment": overrides.get("comment"),
    }


@pytest.fixture
def drafting(db_url):
    """Phase 1 enrolled; Bandung and Makassar in drafting; no reviewers yet."""
    load_registry()
    cohort_with(phase1_codes())
    for code in (BANDUNG, MAKASSAR):
        for to in (Stage.selected, Stage.drafting):
            with session_scope() as s:
                change_stage(s, StageChange(region_code=code, to=to, actor="ani", cohort="2017"), now=T0)
    return db_url


def add_pool(specs=POOL):
    with session_scope() as s:
        return [add_reviewer(s, name=n, institution=i, province=p, expertise=e, now=T0).id for n, i, p, e in specs]


def submit(code=BANDUNG, version="v1", n=None, at=T0, quorum=None):
    with session_scope() as s:
        rnd = submit_masterplan(s, code, version, "ani", at, n=n, quorum=quorum)
        return rnd.id, [
            a.reviewer_id for a in s.exec(select(ReviewAssignment).where(ReviewAssignment.round_id == rnd.id)).all()
        ]


def review(reviewer_id, code=BANDUNG, at=T0, **kw):
    with session_scope() as s:
        return submit_review(
            s, region_code=code, reviewer_id=reviewer_id, submission=scores(**kw), source="cli", now=at
        )


def stage_of(code=BANDUNG):
    with session_scope() as s:
        return find_enrollment(s, code).stage


def test_infeasible_pool_is_reported_and_nothing_is_assigned(drafting):
    add_pool(POOL[:3])  # ITB and UI share Bandung's province: only BPPT is eligible
    with session_scope() as s:
        declare_conflict(s, reviewer_id=3, region_code=MAKASSAR, reason="advised Makassar in 2016", now=T0)
    before = dump_database(drafting)
    with pytest.raises(DomainRefused) as err:
        submit(n=2)
    assert "region 3273 (Kota Bandung) round 1: only 1 eligible reviewer(s), 2 needed" in str(err.value)
    assert "excluded: 2 from Jawa Barat, 0 with a declared conflict" in str(err.value)
    with pytest.raises(DomainRefused, match="only 2 eligible reviewer.s., 3 needed .* 1 with a declared conflict"):
        submit(MAKASSAR, n=3)
    assert dump_database(drafting) == before  # no round, no assignment, no event


def test_assignment_avoids_conflicts_and_balances_load(drafting):
    add_pool()
    with session_scope() as s:
        declare_conflict(s, reviewer_id=5, region_code=MAKASSAR, reason="Citiasia drafted its 2016 plan", now=T0)
    _, bandung = submit(BANDUNG, n=2)
    assert sorted(bandung) == [3, 4]  # never ITB or UI (Jawa Barat); BPPT and UMN cover the most new expertise
    _, makassar = submit(MAKASSAR, n=2)
    assert sorted(makassar) == [1, 2]  # the least loaded; Citiasia declared a conflict
    with session_scope() as s:
        why = s.exec(select(ReviewAssignment.why).where(ReviewAssignment.reviewer_id == 3)).one()
    assert "0 open review(s)" in why and "home province DKI Jakarta != Jawa Barat" in why


def test_a_quorum_of_approvals_completes_the_masterplan_once(drafting):
    add_pool()
    round_id, assigned = submit(n=2)
    first = review(assigned[0], at=T0 + timedelta(days=3))
    assert (first["status"], first["answered"], first["needed"], stage_of()) == ("open", 1, 2, "drafting")
    last = review(assigned[1], at=T0 + timedelta(days=5), comment="ready")
    assert (last["status"], last["closed_now"], last["stage"]) == ("approved", True, "masterplan_completed")
    assert stage_of() == "masterplan_completed"
    before = dump_database(drafting)
    with session_scope() as s:
        again = check_quorum(s, round_id, now=T0 + timedelta(days=9))
    assert (again["status"], again["closed_now"]) == ("approved", False)
    assert dump_database(drafting) == before  # closing a closed round is a no-op
    with session_scope() as s:
        move = s.exec(select(StageTransition).where(StageTransition.to_stage == "masterplan_completed")).one()
        names = [e.event for e in s.exec(select(EventOutbox).order_by(EventOutbox.id)).all()]
    assert (move.actor, move.occurred_at) == ("review round 1", T0 + timedelta(days=5))
    assert names[-5:] == [
        "smartcity.masterplan.submitted",
        "smartcity.review.submitted",
        "smartcity.review.submitted",
        "smartcity.masterplan.approved",
        "smartcity.region.masterplan_completed",
    ]


def test_a_revision_keeps_drafting_and_resubmission_opens_round_two(drafting):
    add_pool()
    _, assigned = submit(n=2)
    review(assigned[0])
    with pytest.raises(DomainRefused, match="review round 1 .v1. is still open"):
        submit(version="v2", n=2)
    closed = review(assigned[1], decision="revise", comment="add a mobility roadmap", economy=2)
    assert (closed["status"], stage_of()) == ("revision_requested", "drafting")
    with pytest.raises(DomainRefused, match="version v1 was already reviewed"):
        submit(version="v1", n=2)
    _, again = submit(version="v2", n=2, at=T0 + timedelta(days=30))
    for rid in again:
        review(rid, at=T0 + timedelta(days=33))
    with session_scope() as s:
        history = rounds_history(s, BANDUNG)
    assert [(h["round_no"], h["version"], h["status"]) for h in history] == [
        (1, "v1", "revision_requested"),
        (2, "v2", "approved"),
    ]
    assert history[0]["comments"][1]["comment"] == "add a mobility roadmap"
    assert "1 of 2 reviewer(s) asked for revision" == history[0]["summary"]
    assert stage_of() == "masterplan_completed"


def test_duplicate_unassigned_and_closed_round_reviews_change_nothing(drafting):
    add_pool()
    _, assigned = submit(n=2)
    review(assigned[0])
    before = dump_database(drafting)
    with pytest.raises(DomainRefused, match=r"reviewer \d \(.*\) already reviewed round 1 of region 3273"):
        review(assigned[0], decision="revise")
    with pytest.raises(DomainRefused, match="reviewer 1 .Prof. Suhono. is not assigned to round 1 of region 3273"):
        review(1)
    with pytest.raises(NotFound, match="reviewer 42 does not exist"):
        review(42)
    assert dump_database(drafting) == before
    review(assigned[1])
    with pytest.raises(DomainRefused, match="no open review round .round 1 is approved"):
        review(assigned[1])


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"economy": 6}, "economy: score must be 1..5 (got 6)"),
        ({"living": 0}, "living: score must be 1..5 (got 0)"),
    ],
)
def test_out_of_range_score_is_bad_input_and_changes_nothing(drafting, bad, message):
    add_pool()
    _, assigned = submit(n=2)
    before = dump_database(drafting)
    with pytest.raises(BadInput, match=re.escape(message)):
        review(assigned[0], **bad)
    with pytest.raises(BadInput, match="unknown rubric dimension.s. mobility"):
        with session_scope() as s:
            submit_review(
                s,
                region_code=BANDUNG,
                reviewer_id=assigned[0],
                source="ui",
                now=T0,
                submission={"scores": {**scores()["scores"], "mobility": 3}, "decision": "approve"},
            )
    assert dump_database(drafting) == before


def test_pending_reviews_wait_in_the_regions_own_days(drafting):
    add_pool()
    assigned_at = datetime(2017, 5, 2, 15, 30, tzinfo=UTC)  # Tue 23:30 WITA in Makassar
    _, assigned = submit(MAKASSAR, n=2, at=assigned_at)
    review(assigned[0], code=MAKASSAR, at=assigned_at + timedelta(hours=2))
    now = datetime(2017, 5, 3, 16, 30, tzinfo=UTC)  # Thu 00:30 WITA: two local days, one UTC day
    with session_scope() as s:
        holders = pending_reviews(s, now)
    assert [h["reviewer_id"] for h in holders] == [assigned[1]]
    item = holders[0]["open"][0]
    assert (item["region_code"], item["assigned_local"]) == (MAKASSAR, "2017-05-02 23:30 WITA")
    assert (item["waiting_days"], item["waiting_working_days"], item["waiting_hours"]) == (2, 2, 25.0)


def test_submission_needs_drafting_and_a_valid_quorum(drafting):
    add_pool()
    with pytest.raises(DomainRefused, match="region 3275 is selected|region 3275 is nominated"):
        submit("3275", n=2)
    with pytest.raises(BadInput, match="quorum must be 1..2"):
        submit(n=2, quorum=3)
    rid, assigned = submit(n=3, quorum=2)
    review(assigned[0])
    assert review(assigned[1])["status"] == "approved"  # 2 of 3 answered: the configured quorum closes it
    with session_scope() as s:
        assert s.get(MasterplanRound, rid).decision_summary == "approved by 2 of 3 reviewer(s)"


def test_a_deactivated_reviewer_gets_no_new_assignment_and_the_change_is_audited(drafting):
    from smartcity.models.core.tables import AuditRecord
    from smartcity.models.reviews.ops import set_reviewer_active

    add_pool()  # for Bandung, BPPT (3) and UMN (4) are the picks when everyone is active
    with session_scope() as s:
        with pytest.raises(BadInput, match="a reason and an actor"):
            set_reviewer_active(s, reviewer_id=3, active=False, reason=" ", actor="ani", now=T0)
        with pytest.raises(NotFound, match="reviewer 99 does not exist"):
            set_reviewer_active(s, reviewer_id=99, active=False, reason="left", actor="ani", now=T0)
    with session_scope() as s:
        _, changed, open_reviews = set_reviewer_active(
            s, reviewer_id=3, active=False, reason="moved abroad", actor="ani", now=T0
        )
        assert (changed, open_reviews) == (True, 0)
    with session_scope() as s:
        assert set_reviewer_active(s, reviewer_id=3, active=False, reason="again", actor="ani", now=T0)[1] is False
    _, bandung = submit(BANDUNG, n=2)
    assert 3 not in bandung and len(bandung) == 2
    with session_scope() as s:
        audited = s.exec(
            select(AuditRecord).where(AuditRecord.subject == "reviewer 3", AuditRecord.kind != "reviewer_added")
        ).all()
        assert [(a.kind, a.content["reason"]) for a in audited] == [("reviewer_deactivated", "moved abroad")]
        _, changed, _ = set_reviewer_active(s, reviewer_id=3, active=True, reason="back", actor="ani", now=T0)
        assert changed
    _, makassar = submit(MAKASSAR, n=5)
    assert 3 in makassar  # back in the pool
