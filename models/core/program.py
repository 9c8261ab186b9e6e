"""Cohorts, nominations and the read side: status, history, replay."""

from __future__ import annotations

from datetime import datetime

from smartcity.models.core.errors import BadInput, DomainRefused, NotFound
from smartcity.models.core.stages import TERMINAL, Stage
from smartcity.models.core.tables import Cohort, Enrollment, Program, Region, StageTransition
from sqlalchemy import func
from sqlmodel import Session, select

PROGRAM_NAME = "Gerakan Menuju 100 Smart City"
MAX_QUOTA = 10_000  # Indonesia has 514 kabupaten/kota; anything far above is a typo, not a cohort


def ensure_program(session: Session, *, now: datetime) -> Program:
    """The program row, created on first use."""
    program = session.exec(select(Program).where(Program.name == PROGRAM_NAME)).first()
    if program is None:
        program = Program(name=PROGRAM_NAME, created_at=now)
        session.add(program)
        session.flush()
    return program


def create_cohort(session: Session, *, name: str, year: int, quota: int, now: datetime) -> Cohort:
    """A new cohort; refuses a bad name, year or quota, and a name already taken."""
    name = name.strip()
    if not name or len(name) > 100 or any(not c.isprintable() for c in name):
        raise BadInput(f"cohort name {name!r} must be 1-100 printable characters")
    if not 1 <= quota <= MAX_QUOTA:
        raise BadInput(f"cohort {name}: quota must be 1..{MAX_QUOTA} (got {quota})")
    if not 2000 <= year <= 2100:
        raise BadInput(f"cohort {name}: year {year} is out of range 2000-2100")
    if session.exec(select(Cohort).where(Cohort.name == name)).first():
        raise DomainRefused(f"cohort {name} already exists")
    program = ensure_program(session, now=now)
    cohort = Cohort(program_id=program.id, name=name, year=year, quota=quota, created_at=now)
    session.add(cohort)
    session.flush()
    return cohort


def get_cohort(session: Session, name: str) -> Cohort:
    """The cohort called `name`."""
    cohort = session.exec(select(Cohort).where(Cohort.name == name)).first()
    if cohort is None:
        raise NotFound(f"cohort {name!r} does not exist (create it with `smartcity cohort create`)")
    return cohort


def nominate(session: Session, *, cohort: str, codes: list[str], now: datetime) -> tuple[int, int]:
    """Enroll regions as nominated; all codes are checked first. Returns (added, already)."""
    target = get_cohort(session, cohort)
    codes = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    if not codes:
        raise BadInput("no region codes given")
    regions = {r.bps_code: r for r in session.exec(select(Region).where(Region.bps_code.in_(codes))).all()}
    unknown = [c for c in codes if c not in regions]
    if unknown:
        raise BadInput(f"unknown region code(s): {', '.join(unknown[:20])}" + (" ..." if len(unknown) > 20 else ""))
    open_elsewhere = session.exec(
        select(Region.bps_code, Cohort.name).join(Enrollment, Enrollment.region_id == Region.id)
        .join(Cohort).where(Region.bps_code.in_(codes), Cohort.id != target.id,
                            Enrollment.stage.not_in([s.value for s in TERMINAL]))
    ).all()
    if open_elsewhere:
        code, other = open_elsewhere[0]
        raise DomainRefused(f"region {code} is still open in cohort {other}; close it there first")
    enrolled = set(session.exec(select(Enrollment.region_id).where(Enrollment.cohort_id == target.id)).all())
    new = [Enrollment(cohort_id=target.id, region_id=regions[code].id, stage=Stage.nominated.value, version=0,
                      entered_stage_at=now) for code in codes if regions[code].id not in enrolled]
    session.add_all(new)
    session.flush()
    from smartcity.models.deadlines.ops import open_stage_deadlines

    for enrollment in new:  # nominees are assessed before selection: open that milestone now
        open_stage_deadlines(session, enrollment, Stage.nominated.value, now)
    return len(new), len(codes) - len(new)


def cohort_plan(session: Session, cohort: str) -> list[tuple[str, str, int]]:
    """(bps_code, stage, version) of every enrollment in a cohort, by code."""
    target = get_cohort(session, cohort)
    rows = session.exec(
        select(Region.bps_code, Enrollment.stage, Enrollment.version)
        .join(Region, Enrollment.region_id == Region.id)
        .where(Enrollment.cohort_id == target.id).order_by(Region.bps_code)
    ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def status_rows(session: Session, cohort: str | None = None) -> list[dict]:
    """One row per enrollment: code, name, province, zone, cohort, stage, since."""
    query = (
        select(Region, Enrollment, Cohort)
        .join(Enrollment, Enrollment.region_id == Region.id).join(Cohort)
        .order_by(Cohort.year, Cohort.name, Region.bps_code)
    )
    if cohort:
        query = query.where(Cohort.name == get_cohort(session, cohort).name)
    return [
        {"bps_code": r.bps_code, "name": r.name, "province": r.province, "timezone": r.timezone,
         "cohort": c.name, "stage": e.stage, "version": e.version,
         "since": e.entered_stage_at.isoformat()}
        for r, e, c in session.exec(query).all()
    ]


def stage_counts(session: Session) -> dict[str, dict[str, int]]:
    """Per cohort, the number of regions in each stage."""
    rows = session.exec(
        select(Cohort.name, Enrollment.stage, func.count()).join(Cohort)
        .group_by(Cohort.name, Enrollment.stage)
    ).all()
    out: dict[str, dict[str, int]] = {}
    for name, stage, n in rows:
        out.setdefault(name, {})[stage] = n
    return out


def history(session: Session, region_code: str) -> list[dict]:
    """Every transition of a region, oldest first, across cohorts."""
    region = session.exec(select(Region).where(Region.bps_code == region_code)).first()
    if region is None:
        raise NotFound(f"region {region_code}: not in the registry")
    rows = session.exec(
        select(StageTransition, Cohort.name)
        .join(Enrollment, StageTransition.enrollment_id == Enrollment.id).join(Cohort)
        .where(Enrollment.region_id == region.id)
        .order_by(StageTransition.occurred_at, StageTransition.id)
    ).all()
    return [
        {"cohort": c, "version": t.version, "from": t.from_stage, "to": t.to_stage, "kind": t.kind,
         "actor": t.actor, "reason": t.reason, "at": t.occurred_at.isoformat(),
         "flow_run_id": t.flow_run_id}
        for t, c in rows
    ]


def replay(transitions: list[StageTransition]) -> Stage:
    """The stage that a list of one enrollment's transitions leads to, checking each link."""
    stage = Stage.nominated
    for t in sorted(transitions, key=lambda t: t.version):
        if t.from_stage != stage.value:
            raise ValueError(f"transition v{t.version} starts at {t.from_stage}, expected {stage.value}")
        stage = Stage(t.to_stage)
    return stage


def region_label(session: Session, region_code: str) -> tuple[str, str] | None:
    """(name, province) of a region, for run names and tags."""
    row = session.exec(select(Region.name, Region.province).where(Region.bps_code == region_code)).first()
    return (row[0], row[1]) if row else None


def plan_advance(session: Session, cohort: str, to: Stage) -> tuple[list[tuple[str, int]], dict]:
    """Which regions of a cohort can move to `to` (code, version), and a summary of the others."""
    from smartcity.models.core.stages import sources_of

    plan = cohort_plan(session, cohort)
    eligible = {s.value for s in sources_of(to)}
    items = [(code, version) for code, stage, version in plan if stage in eligible]
    summary = {"cohort": cohort, "to": to.value, "applied": 0, "unchanged": 0, "refused": [],
               "already": sum(1 for _, stage, _ in plan if stage == to.value),
               "skipped": sum(1 for _, stage, _ in plan if stage not in eligible and stage != to.value)}
    return items, summary


def close_file(session: Session, region_code: str, *, cohort: str | None, at: datetime) -> bool:
    """Mark a delivered region's file closed, once: True the first time, False ever after.

    The marker is the `smartcity.region.file_closed` outbox event, whose deterministic key makes a
    second close (a trigger firing twice) a no-op enforced by the database.
    """
    from smartcity.models.core import events
    from smartcity.models.core.transitions import find_enrollment
    from sqlalchemy.exc import IntegrityError

    enr = find_enrollment(session, region_code, cohort)
    if enr.stage != Stage.quick_win_delivered.value:
        raise DomainRefused(f"region {region_code}: file stays open until quick_win_delivered (now {enr.stage})")
    region = session.get(Region, enr.region_id)
    cohort_row = session.get(Cohort, enr.cohort_id)
    try:
        with session.begin_nested():
            events.enqueue(session, key=f"file-closed:{enr.id}", event="smartcity.region.file_closed",
                           resource=events.region_resource(region), related=events.related_for(region, cohort_row),
                           payload={"region_code": region_code, "occurred_at": at.isoformat()}, occurred_at=at)
            session.flush()
    except IntegrityError:
        return False
    return True
