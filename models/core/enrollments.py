"""Finding a region's enrollment: the one lookup that stage changes, deadlines and reviews share."""

from __future__ import annotations

from sqlmodel import Session, col, select

from smartcity.models.core.errors import BadInput, NotEnrolled, NotFound
from smartcity.models.core.tables import Cohort, Enrollment, Program, Region
from smartcity.models.infra.db import row_id
from smartcity.models.programs.store import program_of_cohort, remember_program


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
    query = (
        select(Enrollment, Cohort, Program)
        .join(Cohort, col(Enrollment.cohort_id) == Cohort.id)
        .join(Program, col(Cohort.program_id) == Program.id)
        .where(Enrollment.region_id == region.id)
    )
    if cohort is not None:
        query = query.where(Cohort.name == cohort)
    found = session.exec(query).all()
    for _, c, p in found:
        remember_program(session, row_id(c), p)
    rows = [(e, c) for e, c, _ in found]
    if cohort is None and len(rows) > 1:
        still_open = [r for r in rows if r[0].stage not in program_of_cohort(session, row_id(r[1])).closed]
        if not still_open:
            names = ", ".join(c.name for _, c in sorted(rows, key=lambda r: (r[1].year, r[1].name)))
            raise BadInput(f"region {region_code} has no open enrollment (cohorts {names}): pass --cohort")
        rows = still_open
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
