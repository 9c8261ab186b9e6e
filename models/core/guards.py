"""The guards a program definition may name. Each returns None when it passes, or the reason it fails.

A guard gets the enrollment, the parameters the definition gives it (already checked against the guard's
parameter model in `smartcity.models.programs.definition.GUARD_PARAMS`) and the business time of the move.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from smartcity.models.core.tables import Cohort, Enrollment
from smartcity.models.programs.definition import ProgramDefinition
from smartcity.models.programs.store import program_of_enrollment
from smartcity.models.quickwins.tables import QuickWin
from smartcity.models.reviews.tables import MasterplanRound
from smartcity.models.vocabulary import RoundStatus

Guard = Callable[[Session, Enrollment, Any, datetime], "str | None"]


def always(session: Session, enrollment: Enrollment, params: Any, now: datetime) -> str | None:
    """No condition beyond the edge itself."""
    return None


def within_cohort_quota(session: Session, enrollment: Enrollment, params: Any, now: datetime) -> str | None:
    """A cohort selects at most `quota` regions.

    The cohort's row lock (PostgreSQL) makes count-then-select one step per cohort: two processes
    selecting different regions cannot both see one free place. Lock order is enrollment, then cohort.
    """
    cohort = session.exec(select(Cohort).where(Cohort.id == enrollment.cohort_id).with_for_update()).one()
    taken = session.exec(
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.cohort_id == cohort.id, col(Enrollment.stage).not_in(_never_selected(session, enrollment)))
    ).one()
    if taken >= cohort.quota:
        return f"cohort {cohort.name} has filled its quota of {cohort.quota}"
    return None


def _never_selected(session: Session, enrollment: Enrollment) -> list[str]:
    """The stages of a region that holds no place: before selection, declined, or withdrawn before it."""
    program: ProgramDefinition = program_of_enrollment(session, enrollment)
    edge = program.guarded_by("within_cohort_quota")
    before = {edge.source} if edge else {program.initial}
    declined = {e.target for e in program.edge_list if e.kind == "decline"}
    withdrawn = {e.target for e in program.edge_list if e.kind == "withdraw"}
    return sorted(before | declined | withdrawn)


def review_quorum_approved(session: Session, enrollment: Enrollment, params: Any, now: datetime) -> str | None:
    """The latest masterplan review round closed with approval, by a quorum of at least `min_quorum`."""
    latest = session.exec(
        select(MasterplanRound)
        .where(MasterplanRound.enrollment_id == enrollment.id)
        .order_by(col(MasterplanRound.round_no).desc())
        .limit(1)
    ).first()
    if latest is None:
        return "no masterplan review round yet (submit the masterplan for review)"
    if latest.status != RoundStatus.approved:
        return f"review round {latest.round_no} is {latest.status}, not approved"
    # A round is approved when its whole quorum approved; a round without a recorded quorum had at least one.
    quorum = latest.quorum or 1
    if quorum < params.min_quorum:
        need = params.min_quorum
        return f"review round {latest.round_no} was approved by {quorum} reviewer(s); this program needs {need}"
    return None


def quick_win_verified(session: Session, enrollment: Enrollment, params: Any, now: datetime) -> str | None:
    """At least `min_verified` quick wins verified by a named coordinator."""
    verified = session.exec(
        select(func.count())
        .select_from(QuickWin)
        .where(
            QuickWin.enrollment_id == enrollment.id,
            col(QuickWin.verified_at).is_not(None),
            col(QuickWin.verified_by).is_not(None),
        )
    ).one()
    if verified >= params.min_verified:
        return None
    return "no verified quick win" if verified == 0 else f"{verified} verified quick win(s) of {params.min_verified}"


def calendar_event_started(session: Session, enrollment: Enrollment, params: Any, now: datetime) -> str | None:
    """The cohort's calendar event has begun (its first day, 00:00 in the region's zone, has come)."""
    from smartcity.models.calendar.ops import event_started

    return event_started(session, enrollment=enrollment, event=params.event, now=now)


def evaluation_scored(session: Session, enrollment: Enrollment, params: Any, now: datetime) -> str | None:
    """The region has a complete implementation evaluation index (at least `min_index` when given)."""
    from smartcity.models.evaluation.ops import evaluation_scored as scored

    return scored(session, enrollment, params, now)


GUARDS: dict[str, Guard] = {
    "always": always,
    "within_cohort_quota": within_cohort_quota,
    "review_quorum_approved": review_quorum_approved,
    "quick_win_verified": quick_win_verified,
    "calendar_event_started": calendar_event_started,
    "evaluation_scored": evaluation_scored,
}
