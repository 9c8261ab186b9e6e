"""Finding a region's enrollment: the one lookup that stage changes, deadlines and reviews share."""

from __future__ import annotations

from sqlmodel import Session, select

from smartcity.models.core.errors import BadInput, NotEnrolled, NotFound
from smartcity.models.core.stages import TERMINAL
from smartcity.models.core.tables import Cohort, Enrollment, Region


def find_enrollment(session: Session, region_code: str, cohort: str | None = None, *, lock: bool = False) -> Enrollment:
    """The region's enrollment in `cohort`, or its one enrollment that is still open.

    `lock` takes the enrollment's row lock for the rest of the transaction (PostgreSQL `FOR UPDATE`):
    a concurrent writer of the same region is waited for and its committed row is what we read, so a
    lost race shows as a stale version, never as a guard judged on half-old data. SQLite needs no
    row lock: `BEGIN IMMEDIATE` already lets one writer in at a time (FOR UPDATE renders as nothing).
    """
    region = session.exec(select(Region).where(Region.bps_code == region_code)).first()
    if region is None:
        raise NotFound(f"region {region_code}: not in the registry")
    query = select(Enrollment, Cohort).join(Cohort).where(Enrollment.region_id == region.id)
    if cohort is not None:
        query = query.where(Cohort.name == cohort)
    rows = session.exec(query).all()
    if cohort is None and len(rows) > 1:
        rows = [r for r in rows if r[0].stage not in TERMINAL] or rows
    if not rows:
        if cohort is not None and session.exec(select(Cohort.id).where(Cohort.name == cohort)).first() is None:
            raise NotFound(f"cohort {cohort!r} does not exist (see `smartcity cohort list`)")
        where = f" in cohort {cohort}" if cohort else ""
        raise NotEnrolled(f"region {region_code} ({region.name}) is not enrolled{where}")
    if len(rows) > 1:
        names = ", ".join(c.name for _, c in rows)
        raise BadInput(f"region {region_code} is open in several cohorts ({names}): pass --cohort")
    enrollment = rows[0][0]
    if lock:
        enrollment = session.exec(
            select(Enrollment)
            .where(Enrollment.id == enrollment.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
    return enrollment
