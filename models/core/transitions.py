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
from smartcity.models.core.stages import TERMINAL, Edge, EdgeKind, Stage, explain_refusal, find_edge
from smartcity.models.core.tables import Cohort, Enrollment, Region, StageTransition
from smartcity.models.deadlines.ops import open_stage_deadlines
from smartcity.models.infra.db import row_id, rows_matched


@dataclass(frozen=True, kw_only=True)
class StageChange:
    """What the caller asked for: built once at the edge (CLI, flow, review, selection) and passed whole."""

    region_code: str
    to: Stage
    actor: str
    reason: str | None = None
    cohort: str | None = None
    expected_version: int | None = None
    idempotency_key: str | None = None
    flow_run_id: str | None = None
    force: bool = False  # override a soft guard (FORCEABLE); needs a reason, recorded as kind "force"

    def as_dict(self) -> dict[str, Any]:
        """Every field, for a copy with changes (`StageChange(**{**c.as_dict(), ...})`)."""
        return asdict(self)

    def flow_parameters(self) -> dict[str, Any]:
        """The advance-stage flow's parameters (the run id is the flow's own)."""
        return {k: v for k, v in asdict(self).items() if k != "flow_run_id"}


#: Guards a coordinator may override with a reason. Review approval and quick-win verification never.
FORCEABLE = frozenset({"within_cohort_quota"})


@dataclass(frozen=True)
class ChangeResult:
    """What happened: `applied`, `duplicate` (same idempotency key seen), or `unchanged`."""

    status: str
    region_code: str
    from_stage: Stage
    to_stage: Stage
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
    source = enr.stage
    if req.expected_version is not None and enr.version != req.expected_version:
        raise StaleVersion(
            f"region {req.region_code}: changed by someone else (version {enr.version}, "
            f"you had {req.expected_version}); now {source}"
        )
    if source == req.to and req.expected_version is None:
        return ChangeResult("unchanged", req.region_code, source, source, enr.version)
    edge = find_edge(source, req.to)
    if edge is None:
        raise InvalidTransition(f"region {req.region_code}: {explain_refusal(source, req.to)}")
    if edge.needs_reason and not (req.reason or "").strip():
        raise ReasonRequired(f"region {req.region_code}: {edge.kind} to {req.to} needs a reason (--reason)")
    kind = _guarded_kind(session, enr, req, edge, source)
    version = _bump(session, enr, req, now)
    row = _record(session, enr, req, kind, source, version, now)
    _emit(session, enr, row)
    open_stage_deadlines(session, enr, row.to_stage, now, actor=row.actor, advanced=row.kind == EdgeKind.advance)
    return ChangeResult("applied", req.region_code, source, req.to, version, row.id)


def _guarded_kind(session: Session, enr: Enrollment, req: StageChange, edge: Edge, source: Stage) -> EdgeKind:
    """The edge's kind when its guard passes; "force" when a coordinator overrides a soft guard."""
    failure = GUARDS[edge.guard](session, enr)
    if failure is None:
        return edge.kind
    where = f"region {req.region_code}: {source} -> {req.to}"
    if not req.force:
        raise GuardFailed(f"{where} refused by guard {edge.guard}: {failure}")
    if edge.guard not in FORCEABLE:
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
    session: Session, enr: Enrollment, req: StageChange, kind: EdgeKind, source: Stage, version: int, now: datetime
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


def _emit(session: Session, enr: Enrollment, row: StageTransition) -> None:
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
    }
    events.enqueue(
        session,
        key=f"transition:{row.id}:{row.idempotency_key}",
        event=f"smartcity.region.{row.to_stage}",
        resource=events.region_resource(region, **{"smartcity.stage": row.to_stage}),
        related=events.related_for(region, cohort),
        payload=payload,
        occurred_at=row.occurred_at,
    )
    if row.to_stage in TERMINAL and _cohort_finished(session, cohort):
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


def _cohort_finished(session: Session, cohort: Cohort) -> bool:
    open_count = session.exec(
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.cohort_id == cohort.id, col(Enrollment.stage).not_in(sorted(TERMINAL)))
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
    to: Stage,
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
