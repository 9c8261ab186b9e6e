"""Named guards of the stage machine. Each returns None when it passes, or the reason it fails."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func
from sqlmodel import Session, col, select

from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import Cohort, Enrollment
from smartcity.models.quickwins.tables import QuickWin
from smartcity.models.reviews.tables import MasterplanRound
from smartcity.models.vocabulary import RoundStatus

Guard = Callable[[Session, Enrollment], "str | None"]


def always(session: Session, enrollment: Enrollment) -> str | None:
    """No condition beyond the edge itself."""
    return None


def within_cohort_quota(session: Session, enrollment: Enrollment) -> str | None:
    """A cohort selects at most `quota` regions.

    The cohort's row lock (PostgreSQL) makes count-then-select one step per cohort: two processes
    selecting different regions cannot both see one free place. Lock order is enrollment, then cohort.
    """
    cohort = session.exec(select(Cohort).where(Cohort.id == enrollment.cohort_id).with_for_update()).one()
    taken = session.exec(
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.cohort_id == cohort.id, col(Enrollment.stage).not_in(_never_selected()))
    ).one()
    if taken >= cohort.quota:
        return f"cohort {cohort.name} has filled its quota of {cohort.quota}"
    return None


def _never_selected() -> list[Stage]:
    return [Stage.nominated, Stage.not_selected, Stage.withdrawn]


def review_quorum_approved(session: Session, enrollment: Enrollment) -> str | None:
    """The latest masterplan review round closed with approval."""
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
    return None


def quick_win_verified(session: Session, enrollment: Enrollment) -> str | None:
    """At least one quick win verified by a named coordinator."""
    verified = session.exec(
        select(QuickWin.id).where(
            QuickWin.enrollment_id == enrollment.id,
            col(QuickWin.verified_at).is_not(None),
            col(QuickWin.verified_by).is_not(None),
        )
    ).first()
    return None if verified else "no verified quick win"


GUARDS: dict[str, Guard] = {
    "always": always,
    "within_cohort_quota": within_cohort_quota,
    "review_quorum_approved": review_quorum_approved,
    "quick_win_verified": quick_win_verified,
}
