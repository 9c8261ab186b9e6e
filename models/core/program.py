"""Cohorts, nominations and the read side: status, history, replay."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session, col, select

from smartcity.models.core import audit
from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.errors import BadInput, DomainRefused, NotFound
from smartcity.models.core.tables import Cohort, Enrollment, Program, Region, StageTransition
from smartcity.models.core.transitions import advance_many
from smartcity.models.infra.db import row_id, session_scope
from smartcity.models.programs.loading import DEFAULT_PROGRAM
from smartcity.models.programs.store import ensure_program, program_of_cohort

MAX_QUOTA = 10_000  # Indonesia has 514 kabupaten/kota; anything far above is a typo, not a cohort


def create_cohort(
    session: Session,
    *,
    name: str,
    year: int,
    quota: int,
    now: datetime,
    actor: str = audit.SYSTEM_ACTOR,
    program: str = DEFAULT_PROGRAM,
) -> Cohort:
    """A new cohort (audited) running `program` (a shipped definition's name or a definition file); refuses a
    bad name, year or quota, a name already taken, and a definition that does not load."""
    name, who = name.strip(), audit.actor_name(actor)
    if not name or len(name) > 100 or any(not c.isprintable() for c in name):
        raise BadInput(f"cohort name {name!r} must be 1-100 printable characters")
    if not 1 <= quota <= MAX_QUOTA:
        raise BadInput(f"cohort {name}: quota must be 1..{MAX_QUOTA} (got {quota})")
    if not 2000 <= year <= 2100:
        raise BadInput(f"cohort {name}: year {year} is out of range 2000-2100")
    if session.exec(select(Cohort).where(Cohort.name == name)).first():
        raise DomainRefused(f"cohort {name} already exists")
    row = ensure_program(session, program=program, now=now)
    cohort = Cohort(program_id=row_id(row), name=name, year=year, quota=quota, created_at=now)
    session.add(cohort)
    session.flush()
    audit.record(
        session,
        kind="cohort_created",
        subject=f"cohort {name}",
        actor=who,
        at=now,
        content={"cohort_id": cohort.id, "year": year, "quota": quota, "program": row.definition},
    )
    return cohort


def get_cohort(session: Session, name: str) -> Cohort:
    """The cohort called `name`."""
    cohort = session.exec(select(Cohort).where(Cohort.name == name)).first()
    if cohort is None:
        raise NotFound(f"cohort {name!r} does not exist (create it with `smartcity cohort create`)")
    return cohort


def nominate(
    session: Session, *, cohort: str, codes: list[str], now: datetime, actor: str = audit.SYSTEM_ACTOR
) -> tuple[int, int]:
    """Enroll regions as nominated; all codes are checked first. Returns (added, already).

    One audit record per call lists the codes nominated and those already enrolled (none when nothing changed)."""
    who = audit.actor_name(actor)
    target = get_cohort(session, cohort)
    codes = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    if not codes:
        raise BadInput("no region codes given")
    regions = {r.bps_code: r for r in session.exec(select(Region).where(col(Region.bps_code).in_(codes))).all()}
    regions_by_id = {row_id(r): r for r in regions.values()}
    unknown = [c for c in codes if c not in regions]
    if unknown:
        raise BadInput(f"unknown region code(s): {', '.join(unknown[:20])}" + (" ..." if len(unknown) > 20 else ""))
    elsewhere = session.exec(
        select(Region.bps_code, Cohort, Enrollment.stage)
        .join(Enrollment, col(Enrollment.region_id) == Region.id)
        .join(Cohort)
        .where(col(Region.bps_code).in_(codes), Cohort.id != target.id)
    ).all()
    # Closed is per program: each other enrollment is judged by its own cohort's definition.
    open_elsewhere = [
        (code, other.name)
        for code, other, stage in elsewhere
        if stage not in program_of_cohort(session, row_id(other)).closed
    ]
    if open_elsewhere:
        code, name = open_elsewhere[0]
        raise DomainRefused(f"region {code} is still open in cohort {name}; close it there first")
    enrolled = set(session.exec(select(Enrollment.region_id).where(Enrollment.cohort_id == target.id)).all())
    first = program_of_cohort(session, row_id(target)).initial
    new = [
        Enrollment(
            cohort_id=row_id(target),
            region_id=row_id(regions[code]),
            stage=first,
            version=0,
            entered_stage_at=now,
        )
        for code in codes
        if regions[code].id not in enrolled
    ]
    session.add_all(new)
    session.flush()
    from smartcity.models.deadlines.ops import open_first_deadlines

    # Nominees are assessed before selection: open that milestone (and whatever else the first stage owes) now.
    zones = {row_id(e): regions_by_id[e.region_id].timezone for e in new}
    open_first_deadlines(session, new, first, now, zones)
    if new:
        added = {e.region_id for e in new}
        audit.record(
            session,
            kind="regions_nominated",
            subject=f"cohort {target.name}",
            actor=who,
            at=now,
            content={
                "nominated": [c for c in codes if regions[c].id in added],
                "already_enrolled": [c for c in codes if regions[c].id not in added],
            },
        )
    return len(new), len(codes) - len(new)


def cohort_plan(session: Session, cohort: str) -> list[tuple[str, str, int]]:
    """(bps_code, stage, version) of every enrollment in a cohort, by code."""
    target = get_cohort(session, cohort)
    rows = session.exec(
        select(Region.bps_code, col(Enrollment.stage), Enrollment.version)
        .join(Region, col(Enrollment.region_id) == Region.id)
        .where(Enrollment.cohort_id == target.id)
        .order_by(Region.bps_code)
    ).all()
    return [(code, stage, version) for code, stage, version in rows]


def status_rows(session: Session, cohort: str | None = None) -> list[dict]:
    """One row per enrollment: code, name, province, zone, cohort, stage, since."""
    from smartcity.models.core.tables import UTCDateTime
    from smartcity.models.infra.status_sql import STATUS_ROWS

    name = get_cohort(session, cohort).name if cohort else None
    query = text(STATUS_ROWS).columns(entered_stage_at=UTCDateTime())
    return [
        {
            "bps_code": code,
            "name": region,
            "province": province,
            "timezone": zone,
            "cohort": coh,
            "stage": stage,
            "version": version,
            "since": since.isoformat(),
        }
        for code, region, province, zone, coh, stage, version, since in session.execute(query, {"cohort": name})
    ]


def stage_counts(session: Session) -> dict[str, dict[str, int]]:
    """Per cohort, the number of regions in each stage."""
    from smartcity.models.infra.status_sql import STAGE_COUNTS

    out: dict[str, dict[str, int]] = {}
    for name, stage, n in session.execute(text(STAGE_COUNTS)):
        out.setdefault(name, {})[stage] = n
    return out


def cohort_rows(session: Session) -> list[dict]:
    """Every cohort, oldest year first: name, year, quota, program, regions per stage and in all."""
    counts = stage_counts(session)
    rows = session.exec(select(Cohort, Program.name).join(Program).order_by(col(Cohort.year), col(Cohort.name))).all()
    return [
        {
            "name": c.name,
            "year": c.year,
            "quota": c.quota,
            "program": program,
            "stages": counts.get(c.name, {}),
            "regions": sum(counts.get(c.name, {}).values()),
        }
        for c, program in rows
    ]


def history(session: Session, region_code: str) -> list[dict]:
    """Every transition of a region, oldest first, across cohorts; `at` in UTC, `at_local` in WIB/WITA/WIT."""
    from smartcity.models.deadlines.workdays import format_local

    region = session.exec(select(Region).where(Region.bps_code == region_code)).first()
    if region is None:
        raise NotFound(f"region {region_code}: not in the registry")
    rows = session.exec(
        select(StageTransition, Cohort.name)
        .join(Enrollment, col(StageTransition.enrollment_id) == Enrollment.id)
        .join(Cohort)
        .where(Enrollment.region_id == region.id)
        .order_by(col(StageTransition.occurred_at), col(StageTransition.id))
    ).all()
    return [
        {
            "cohort": c,
            "version": t.version,
            "from": t.from_stage,
            "to": t.to_stage,
            "kind": t.kind,
            "actor": t.actor,
            "reason": t.reason,
            "at": t.occurred_at.isoformat(),
            "at_local": format_local(t.occurred_at, region.timezone),
            "flow_run_id": t.flow_run_id,
        }
        for t, c in rows
    ]


def replay(transitions: list[StageTransition], *, initial: str) -> str:
    """The stage that a list of one enrollment's transitions leads to from `initial`, checking each link."""
    stage = initial
    for t in sorted(transitions, key=lambda t: t.version):
        if t.from_stage != stage:
            raise ValueError(f"transition v{t.version} starts at {t.from_stage}, expected {stage}")
        stage = t.to_stage
    return stage


def region_label(session: Session, region_code: str) -> tuple[str, str] | None:
    """(name, province) of a region, for run names and tags."""
    row = session.exec(select(Region.name, Region.province).where(Region.bps_code == region_code)).first()
    return (row[0], row[1]) if row else None


def plan_advance(session: Session, cohort: str, to: str) -> tuple[list[tuple[str, int]], dict]:
    """Which regions of a cohort can move to `to` (code, version), and a summary of the others."""
    program = program_of_cohort(session, row_id(get_cohort(session, cohort)))
    to = program.parse_stage(to)
    plan = cohort_plan(session, cohort)
    eligible = set(program.sources_of(to))
    items = [(code, version) for code, stage, version in plan if stage in eligible]
    summary = {
        "cohort": cohort,
        "to": to,
        "applied": 0,
        "unchanged": 0,
        "refused": [],
        "already": sum(1 for _, stage, _ in plan if stage == to),
        "skipped": sum(1 for _, stage, _ in plan if stage not in eligible and stage != to),
    }
    return items, summary


def completed_stage(session: Session, region_code: str, cohort: str | None = None) -> str:
    """The stage where the region's program closes its file (the end of the main line)."""
    return program_of_cohort(session, find_enrollment(session, region_code, cohort).cohort_id).completed


def close_file(session: Session, region_code: str, *, cohort: str | None, at: datetime) -> bool:
    """Mark a delivered region's file closed, once: True the first time, False ever after.

    The marker is the `smartcity.region.file_closed` outbox event, whose deterministic key makes a
    second close (a trigger firing twice) a no-op enforced by the database.
    """
    from sqlalchemy.exc import IntegrityError

    from smartcity.models.core import events

    enr = find_enrollment(session, region_code, cohort)
    done = program_of_cohort(session, enr.cohort_id).completed
    if enr.stage != done:
        raise DomainRefused(f"region {region_code}: file stays open until {done} (now {enr.stage})")
    region = session.get_one(Region, enr.region_id)  # foreign keys: both rows exist
    cohort_row = session.get_one(Cohort, enr.cohort_id)
    try:
        with session.begin_nested():
            events.enqueue(
                session,
                key=f"file-closed:{enr.id}",
                event="smartcity.region.file_closed",
                resource=events.region_resource(region),
                related=events.related_for(region, cohort_row),
                payload={"region_code": region_code, "occurred_at": at.isoformat()},
                occurred_at=at,
            )
            session.flush()
    except IntegrityError:
        return False
    return True


Batch = list[tuple[str, int]]


async def advance_cohort_in_batches(
    *,
    cohort: str,
    to: str,
    actor: str,
    reason: str | None,
    now: datetime,
    batch_size: int,
    run_batch: Callable[[Batch], Awaitable[dict[str, list]]] | None = None,
) -> dict:
    """Plan from the database, then advance the eligible regions batch by batch; a summary of the outcome.

    `run_batch` applies one batch (the advance-cohort flow passes a retried task that also publishes the
    batch's events); by default each batch commits here through `advance_many`. Re-running after a crash
    finishes the job: regions already moved count as unchanged."""

    async def in_session(batch: Batch) -> dict[str, list]:
        with session_scope() as session:
            return advance_many(session, cohort=cohort, items=batch, to=to, actor=actor, reason=reason, now=now)

    apply = run_batch or in_session
    with session_scope() as session:
        items, summary = plan_advance(session, cohort, to)
    for start in range(0, len(items), batch_size):
        outcome = await apply(items[start : start + batch_size])
        summary["applied"] += len(outcome["applied"])
        summary["unchanged"] += len(outcome["unchanged"])
        summary["refused"] += outcome["refused"]
    return summary
