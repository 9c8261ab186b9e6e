"""Correcting review assignments (issue 14): a late conflict or a deactivation hands the review on."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from smartcity.models.core.tables import AuditRecord
from smartcity.models.deadlines.tables import Deadline
from smartcity.models.infra.db import session_scope
from smartcity.models.reviews.ops import check_quorum, deactivate_reviewer, declare_conflict, rounds_history
from smartcity.models.reviews.tables import ReviewAssignment
from smartcity.models.vocabulary import DeadlineStatus
from tests.helpers import T0
from tests.tasks import test_reviews
from tests.tasks.test_reviews import BANDUNG, POOL, add_pool, review, submit

drafting = test_reviews.drafting  # the fixture, shared

LATER = T0 + timedelta(days=3)


def live(round_id: int) -> list[int]:
    with session_scope() as s:
        return sorted(
            a.reviewer_id
            for a in s.exec(
                select(ReviewAssignment).where(
                    ReviewAssignment.round_id == round_id, ReviewAssignment.unassigned_at.is_(None)
                )
            ).all()
        )


def test_a_conflict_declared_after_assignment_unassigns_replaces_and_discounts_the_review(drafting):
    add_pool()  # Bandung's eligible reviewers: BPPT (3), UMN (4), Citiasia (5)
    rid, assigned = submit(n=2, quorum=2)
    assert sorted(assigned) == [3, 4]
    review(3)  # 1 of 2
    with session_scope() as s:
        _, swaps = declare_conflict(
            s, reviewer_id=3, region_code=BANDUNG, reason="BPPT advised Bandung in 2016", now=LATER, actor="ani"
        )
    assert [(w.reviewer_id, w.replacement_id, w.review_discounted) for w in swaps] == [(3, 5, True)]
    assert live(rid) == [4, 5]
    review(4)  # without the conflict this answer would have closed the round
    with session_scope() as s:
        state = check_quorum(s, rid, now=LATER)
        assert (state["status"], state["answered"], state["needed"]) == ("open", 1, 2)
    assert review(5)["status"] == "approved"
    with session_scope() as s:
        kinds = [
            (r.kind, r.actor)
            for r in s.exec(
                select(AuditRecord).where(AuditRecord.kind.in_(["conflict_declared", "reviewer_unassigned"]))
            ).all()
        ]
    assert kinds == [("conflict_declared", "ani"), ("reviewer_unassigned", "ani")]


def test_deactivating_a_reviewer_hands_their_open_reviews_on_or_says_the_round_is_short(drafting):
    add_pool(POOL[:4])  # eligible for Bandung: BPPT (3) and UMN (4) only
    rid, assigned = submit(n=1)
    [first] = assigned
    with session_scope() as s:
        _, changed, swaps = deactivate_reviewer(s, reviewer_id=first, reason="moved abroad", actor="ani", now=LATER)
    assert changed and [(w.reviewer_id, w.replacement_id) for w in swaps] == [(first, 7 - first)]
    assert live(rid) == [7 - first]
    with session_scope() as s:
        keys = {d.key: d.status for d in s.exec(select(Deadline).where(Deadline.kind == "review")).all()}
    assert sorted(keys.values()) == [DeadlineStatus.cancelled, DeadlineStatus.open]
    with session_scope() as s:  # nobody is left for Bandung: the round stays visibly short
        _, _, swaps = deactivate_reviewer(s, reviewer_id=7 - first, reason="left too", actor="ani", now=LATER)
    assert [(w.replacement_id, "no eligible replacement" in w.line()) for w in swaps] == [(None, True)]
    with session_scope() as s:
        last = rounds_history(s, BANDUNG)[-1]
    assert (last["assigned"], last["short"], len(last["unassigned"])) == ([], True, 2)
