"""The one way to change a stage: validate the edge and its guard, then write the enrollment,
the audit row and the event in one database transaction."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from smartcity.models.core import events
from smartcity.models.core.audit import GENESIS, chain_hash, transition_content
from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.errors import (
    BadInput,
    GuardFailed,
    InvalidTransition,
    NotEnrolled,
    ReasonRequired,
    StaleVersion,
)
from smartcity.models.core.guards import GUARDS
from smartcity.models.core.stages import EdgeKind
from smartcity.models.core.tables import Cohort, Enrollment, Region, StageTransition
from smartcity.models.deadlines.ops import open_stage_deadlines
from smartcity.models.infra.db import row_id, rows_matched
from smartcity.models.programs.definition import GUARD_PARAMS, Edge, ProgramDefinition
from smartcity.models.programs.store import program_of_cohort


@dataclass(frozen=True, kw_only=True)
class StageChange:
    """What the caller asked for: built once at the edge (CLI, flow, review, selection) and passed whole."""

    region_code: str
    to: str  # a stage of the cohort's program
    actor: str
    reason: str | None = None
    cohort: str | None = None
    expected_version: int | None = None
    idempotency_key: str | None = None
    flow_run_id: str | None = None
    force: bool = False  # override a soft guard (the definition's forceable ones); needs a reason, kind "force"

    def as_dict(self) -> dict[str, Any]:
        """Every field, for a copy with changes (`StageChange(**{**c.as_dict(), ...})`)."""
        return asdict(self)

    def flow_parameters(self) -> dict[str, Any]:
        """The advance-stage flow's parameters (the run id is the flow's own)."""
        return {k: v for k, v in asdict(self).items() if k != "flow_run_id"}


@dataclass(frozen=True)
class ChangeResult:
    """What happened: `applied`, `duplicate` (same idempotency key seen), or `unchanged`."""

    status: str
    region_code: str
    from_stage: str
    to_stage: str
    version: int
    transition_id: int | None = None

    def as_dict(self) -> dict:
        """Plain dict for JSON output and flow results."""
        return asdict(self)


def change_stage(session: Session, request: StageChange, *, now: datetime) -> ChangeResult:
    """Apply one stage change in its own transaction; raises a DomainRefused subclass when refused."""
    _validate(request, now)
    try:
        result = _apply(session, request, now.astimezone(UTC))
        session.commit()
        return result
    except IntegrityError:
        # Lost a race to a concurrent writer: the unique keys kept the record single.
        session.rollback()
        return _after_race(session, request)
    except BaseException:
        session.rollback()
        raise


def _validate(request: StageChange, now: datetime) -> None:
    if not request.actor or not request.actor.strip():
        raise BadInput("an actor is required for every stage change")
    if now.tzinfo is None or now.utcoffset() is None:
        raise BadInput("now must be timezone-aware")


def _apply(session: Session, req: StageChange, now: datetime) -> ChangeResult:
    if req.idempotency_key:
        done = _by_key(session, req.idempotency_key)
        if done is not None:
            return _duplicate(req, done)
    enr = find_enrollment(session, req.region_code, req.cohort, lock=True)
    program = program_of_cohort(session, enr.cohort_id)
    source = enr.stage
    if req.expected_version is not None and enr.version != req.expected_version:
        raise StaleVersion(
            f"region {req.region_code}: changed by someone else (version {enr.version}, "
            f"you had {req.expected_version}); now {source}"
        )
    if source == req.to and req.expected_version is None:
        return ChangeResult("unchanged", req.region_code, source, source, enr.version)
    edge = program.find_edge(source, req.to)
    if edge is None:
        raise InvalidTransition(f"region {req.region_code}: {program.explain_refusal(source, req.to)}")
    if edge.needs_reason and not (req.reason or "").strip():
        raise ReasonRequired(f"region {req.region_code}: {edge.kind} to {req.to} needs a reason (--reason)")
    if source in program.closed and req.to not in program.closed:
        _refuse_if_open_elsewhere(session, enr, req.region_code)
    kind = _guarded_kind(session, enr, req, edge, now)
    version = _bump(session, enr, req, now)
    row = _record(session, enr, req, kind, source, version, now)
    _emit(session, enr, row, program)
    open_stage_deadlines(session, enr, row.to_stage, now, actor=row.actor, advanced=row.kind == EdgeKind.advance)
    return ChangeResult("applied", req.region_code, source, req.to, version, row.id)


def _refuse_if_open_elsewhere(session: Session, enr: Enrollment, region_code: str) -> None:
    """A closed file reopens only while the region is open in no other cohort: one open enrollment at a time."""
    others = session.exec(
        select(Enrollment, Cohort).join(Cohort).where(Enrollment.region_id == enr.region_id, Enrollment.id != enr.id)
    ).all()
    for other, cohort in others:
        if other.stage not in program_of_cohort(session, row_id(cohort)).closed:
            raise InvalidTransition(
                f"region {region_code} is open in cohort {cohort.name}; close it there before reopening this file"
            )


def _guarded_kind(session: Session, enr: Enrollment, req: StageChange, edge: Edge, now: datetime) -> EdgeKind:
    """The edge's kind when its guard passes; "force" when a coordinator overrides a soft guard."""
    params = GUARD_PARAMS[edge.guard].model_validate(edge.params)
    failure = GUARDS[edge.guard](session, enr, params, now)
    if failure is None:
        return edge.kind
    where = f"region {req.region_code}: {edge.source} -> {req.to}"
    if not req.force:
        raise GuardFailed(f"{where} refused by guard {edge.guard}: {failure}")
    if not edge.forceable:
        raise GuardFailed(f"{where}: guard {edge.guard} cannot be forced ({failure})")
    if not (req.reason or "").strip():
        raise ReasonRequired(f"{where}: a forced change needs a reason (--reason)")
    return EdgeKind.force


def _bump(session: Session, enr: Enrollment, req: StageChange, now: datetime) -> int:
    """Compare-and-set on the version: the database, not this process, decides who wins."""
    res = session.execute(
        update(Enrollment)
        .where(col(Enrollment.id) == enr.id, col(Enrollment.version) == enr.version)
        .values(stage=req.to, version=enr.version + 1, entered_stage_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_matched(res) != 1:
        raise StaleVersion(f"region {req.region_code}: changed by someone else while advancing")
    return enr.version + 1


def _record(
    session: Session, enr: Enrollment, req: StageChange, kind: EdgeKind, source: str, version: int, now: datetime
) -> StageTransition:
    prev = session.exec(
        select(StageTransition.row_hash)
        .where(StageTransition.enrollment_id == enr.id)
        .order_by(col(StageTransition.version).desc())
        .limit(1)
    ).first()
    key = req.idempotency_key or f"{enr.id}:v{version}:{req.to}"
    row = StageTransition(
        enrollment_id=row_id(enr),
        version=version,
        from_stage=source,
        to_stage=req.to,
        kind=kind,
        actor=req.actor.strip(),
        reason=req.reason,
        occurred_at=now,
        flow_run_id=req.flow_run_id,
        idempotency_key=key,
        prev_hash=prev or GENESIS,
        row_hash="",
    )
    row.row_hash = chain_hash(row.prev_hash, transition_content(row))
    session.add(row)
    session.flush()
    return row


def _emit(session: Session, enr: Enrollment, row: StageTransition, program: ProgramDefinition) -> None:
    region = session.get(Region, enr.region_id)
    cohort = session.get(Cohort, enr.cohort_id)
    assert region is not None and cohort is not None
    payload = {
        "region_code": region.bps_code,
        "occurred_at": row.occurred_at.isoformat(),
        "from": row.from_stage,
        "to": row.to_stage,
        "kind": row.kind,
        "actor": row.actor,
        "reason": row.reason,
        "version": row.version,
        "cohort": cohort.name,
        "province": region.province,
        "transition_id": row.id,
        "program": program.name,
    }
    events.enqueue(
        session,
        key=f"transition:{row.id}:{row.idempotency_key}",
        event=f"smartcity.region.{row.to_stage}",
        resource=events.region_resource(region, **_labels(program, row.to_stage)),
        related=events.related_for(region, cohort),
        payload=payload,
        occurred_at=row.occurred_at,
    )
    if row.to_stage in program.closed and _cohort_finished(session, cohort, program):
        events.enqueue(
            session,
            key=f"cohort-completed:{cohort.id}",
            event="smartcity.cohort.completed",
            resource={
                "prefect.resource.id": f"smartcity.cohort.{events.slug(cohort.name)}",
                "prefect.resource.name": cohort.name,
            },
            related=[],
            payload={"cohort": cohort.name, "occurred_at": row.occurred_at.isoformat()},
            occurred_at=row.occurred_at,
        )


def _labels(program: ProgramDefinition, stage: str) -> dict[str, str]:
    """The region resource's labels: the stage entered, and the follow-up deployment it calls for (the event
    triggers of the registry match on that label, so a program's own stages need no registry change)."""
    follow_up = program.follow_up(stage)
    return {"smartcity.stage": stage, **({"smartcity.follow-up": follow_up.value} if follow_up else {})}


def _cohort_finished(session: Session, cohort: Cohort, program: ProgramDefinition) -> bool:
    open_count = session.exec(
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.cohort_id == cohort.id, col(Enrollment.stage).not_in(sorted(program.closed)))
    ).one()
    return open_count == 0


def _by_key(session: Session, key: str) -> StageTransition | None:
    return session.exec(select(StageTransition).where(StageTransition.idempotency_key == key)).first()


def _duplicate(req: StageChange, done: StageTransition) -> ChangeResult:
    return ChangeResult("duplicate", req.region_code, done.from_stage, done.to_stage, done.version, done.id)


def _after_race(session: Session, req: StageChange) -> ChangeResult:
    if req.idempotency_key:
        done = _by_key(session, req.idempotency_key)
        if done is not None:
            return _duplicate(req, done)
    raise StaleVersion(f"region {req.region_code}: changed by someone else while advancing")


def advance_many(
    session: Session,
    *,
    cohort: str,
    items: list[tuple[str, int]],
    to: str,
    actor: str,
    reason: str | None,
    now: datetime,
    flow_run_id: str | None = None,
) -> dict[str, list]:
    """Advance many regions, each in its own transaction; sort outcomes into applied/unchanged/refused.

    `items` holds (bps_code, version seen when planning). A region that someone else already moved
    to `to` counts as unchanged, so a re-run after a crash finishes the job without doubling it.
    """
    out: dict[str, list] = {"applied": [], "unchanged": [], "refused": []}
    for code, version in items:
        request = StageChange(
            region_code=code,
            to=to,
            actor=actor,
            reason=reason,
            cohort=cohort,
            expected_version=version,
            flow_run_id=flow_run_id,
            idempotency_key=f"cohort:{cohort}:{code}:v{version}->{to}",
        )
        try:
            result = change_stage(session, request, now=now)
            out["applied" if result.status == "applied" else "unchanged"].append(code)
        except StaleVersion as exc:
            current = find_enrollment(session, code, cohort)
            session.rollback()
            (out["unchanged"] if current.stage == to else out["refused"]).append(
                code if current.stage == to else f"{code}: {exc}"
            )
        except (InvalidTransition, GuardFailed, NotEnrolled) as exc:
            out["refused"].append(f"{code}: {exc}")
    return out


def automatic_change(
    session: Session, *, region_code: str, entered: str | None, event_id: str | None, actor: str
) -> StageChange | str:
    """The change the engine makes by itself after a region entered `entered`: its program's automatic edge out
    of that stage, pinned to the version read now. A string says why there is nothing to do.

    A trigger that arrives after the region moved on (an event published late) changes nothing: from a later
    stage, the same target may be a revise edge, which only a person may take."""
    enrollment = find_enrollment(session, region_code)
    program = program_of_cohort(session, enrollment.cohort_id)
    stage = enrollment.stage
    # Without the stage entered (a run started by hand), the automatic edge out of, or else into, the current one.
    edge = program.automatic_from(entered or stage) or (
        None if entered else next((e for e in program.edge_list if e.automatic and e.target == stage), None)
    )
    if edge is None:
        return f"program {program.name} takes no automatic edge out of {entered or stage}"
    if stage == edge.target and event_id is None:
        return f"region is already {stage}"
    if stage not in (edge.source, edge.target):
        return f"region is {stage}: a late {edge.source} event starts nothing"
    return StageChange(
        region_code=region_code,
        to=edge.target,
        actor=actor,
        reason=f"{edge.source}: {edge.target} starts",
        # From the source, pin the version read here: a region moved meanwhile is refused, never revised. At the
        # target already, the event id finds the move this event (or the reconciler, under its key) made.
        expected_version=enrollment.version if stage == edge.source else None,
        idempotency_key=f"drafting-setup:{event_id}" if event_id else None,
    )
