"""The program report as data: funnel, stage durations, deadlines, reviews, quick wins, population.

Pure reads from the database with `now` passed in; renderers live in `smartcity.models.reports.render`.
Tables added by other areas (deadlines, review assignments) are read only when their model and
their table both exist, so a report works on any schema revision.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import pendulum
import sqlalchemy as sa
from pydantic import BaseModel, Field
from smartcity.models.core.errors import BadInput
from smartcity.models.core.program import get_cohort
from smartcity.models.core.stages import MAIN_LINE, TERMINAL, Stage
from smartcity.models.core.tables import Cohort, Enrollment, Region, StageTransition
from smartcity.models.deadlines.workdays import format_local
from smartcity.models.quickwins.tables import QuickWin, QuickWinEvidence, QuickWinKPI
from sqlmodel import Session, select

#: Stage order of every table and chart: the main line, then the terminal side exits.
STAGE_ORDER: tuple[Stage, ...] = (*MAIN_LINE, Stage.not_selected, Stage.withdrawn)
POPULATION_YEAR = 2025
POPULATION_SOURCE = "Dukcapil 2025 (Kepmendagri 300.2.2-2138/2025), a 2025 count, not the cohort's year"
OPEN_DEADLINE = "open"
NO_DEADLINE = "no deadline"


class Period(BaseModel):
    """A stretch of time a region spent in one stage; `end` None means it is still there (or final)."""

    stage: str
    start: datetime
    end: datetime | None
    days: float | None


class RegionRow(BaseModel):
    """One enrollment: where it stands, how long each stage took, and what is due."""

    cohort: str
    bps_code: str
    name: str
    province: str
    timezone: str
    population: int | None
    stage: str
    since: datetime
    since_local: str
    days_in_stage: dict[str, float]
    periods: list[Period]
    deadline: str = NO_DEADLINE
    overdue: bool = False


class FunnelRow(BaseModel):
    """How many regions are at a stage now, how many ever reached it, and the population now there."""

    stage: str
    count: int
    reached: int
    population: int
    population_unknown: int = 0


class KPIRow(BaseModel):
    """One KPI of one quick win."""

    quick_win_id: int
    cohort: str
    bps_code: str
    region: str
    title: str
    dimension: str | None
    budget_idr: int | None
    verified_by: str | None
    evidence: int
    kpi: str
    unit: str
    target: float
    actual: float | None
    percent_of_target: float | None


class Report(BaseModel):
    """Everything a report shows; JSON-able (`model_dump(mode="json")`) and rebuilt with `model_validate`."""

    title: str
    cohort: str | None
    cohorts: list[str]
    generated_at: datetime
    simulated: bool = False
    population_year: int = POPULATION_YEAR
    population_source: str = POPULATION_SOURCE
    funnel: list[FunnelRow]
    regions: list[RegionRow]
    overdue: list[dict] = Field(default_factory=list)
    reviews_outstanding: list[dict] = Field(default_factory=list)
    quick_win_kpis: list[KPIRow] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def build_report(session: Session, *, now: datetime, cohort: str | None = None, simulated: bool = False) -> Report:
    """The report of one cohort (or of the whole program), as of `now`."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise BadInput("now must be timezone-aware")
    now = pendulum.instance(now).in_timezone("UTC")
    rows = _enrollments(session, cohort)
    history = _transitions(session, [e.id for e, _, _ in rows])
    notes: list[str] = []
    deadlines = _open_deadlines(session, [e.id for e, _, _ in rows], notes)
    regions, overdue = [], []
    for enr, region, coh in rows:
        periods = stage_periods(enr, history.get(enr.id, []), coh.created_at, now)
        row = _region_row(enr, region, coh, periods, now)
        _apply_deadlines(row, deadlines.get(enr.id, []), now, overdue)
        regions.append(row)
    cohorts = sorted({r.cohort for r in regions}) if cohort is None else [cohort]
    return Report(
        title=f"Gerakan Menuju 100 Smart City: {'cohort ' + cohort if cohort else 'program'} report",
        cohort=cohort, cohorts=cohorts, generated_at=now, simulated=simulated,
        funnel=funnel(regions, history, rows), regions=regions, overdue=overdue,
        reviews_outstanding=_reviews_outstanding(session, rows, now, notes),
        quick_win_kpis=_quick_win_kpis(session, rows), notes=notes,
    )


def _enrollments(session: Session, cohort: str | None) -> list[tuple[Enrollment, Region, Cohort]]:
    query = (select(Enrollment, Region, Cohort).join(Region, Enrollment.region_id == Region.id)
             .join(Cohort, Enrollment.cohort_id == Cohort.id).order_by(Cohort.year, Cohort.name, Region.bps_code))
    if cohort is not None:
        query = query.where(Cohort.id == get_cohort(session, cohort).id)
    return [tuple(r) for r in session.exec(query).all()]  # type: ignore[misc]


def _transitions(session: Session, enrollment_ids: list[int | None]) -> dict[int, list[StageTransition]]:
    out: dict[int, list[StageTransition]] = defaultdict(list)
    if not enrollment_ids:
        return out
    query = (select(StageTransition).where(StageTransition.enrollment_id.in_(enrollment_ids))  # type: ignore
             .order_by(StageTransition.enrollment_id, StageTransition.version))
    for t in session.exec(query).all():
        out[t.enrollment_id].append(t)
    return out


def stage_periods(enr: Enrollment, transitions: list[StageTransition], opened_at: datetime,
                  now: datetime) -> list[Period]:
    """The stretches an enrollment spent in each stage, from its transitions.

    The nomination time is not kept once a region moves on, so its first stage counts from when its
    cohort opened (or from its first move, if earlier). The current stage counts until `now`, except a
    final stage, which has no duration.
    """
    if not transitions:
        return [_period(enr.stage, enr.entered_stage_at, None, now)]
    ordered = sorted(transitions, key=lambda t: t.version)
    start = min(opened_at, ordered[0].occurred_at)
    periods, stage = [], ordered[0].from_stage
    for t in ordered:
        periods.append(_period(stage, start, t.occurred_at, now))
        stage, start = t.to_stage, t.occurred_at
    periods.append(_period(stage, start, None, now))
    return periods


def _period(stage: str, start: datetime, end: datetime | None, now: datetime) -> Period:
    final = Stage(stage) in TERMINAL
    if end is None and final:
        return Period(stage=stage, start=start, end=None, days=None)
    stop = end if end is not None else now
    days = max(0.0, (stop - start).total_seconds() / 86400)
    return Period(stage=stage, start=start, end=end, days=round(days, 2))


def _region_row(enr: Enrollment, region: Region, coh: Cohort, periods: list[Period], now: datetime) -> RegionRow:
    days: dict[str, float] = {}
    for p in periods:
        if p.days is not None:
            days[p.stage] = round(days.get(p.stage, 0.0) + p.days, 2)
    return RegionRow(cohort=coh.name, bps_code=region.bps_code, name=region.name, province=region.province,
                     timezone=region.timezone, population=region.population, stage=enr.stage,
                     since=enr.entered_stage_at, since_local=local_time(enr.entered_stage_at, region.timezone),
                     days_in_stage=days, periods=periods)


def local_time(instant: datetime, tz: str) -> str:
    """'2017-09-01 17:00 WIB' in the region's zone (the zone name for a non-Indonesian zone)."""
    try:
        return format_local(instant, tz)
    except ValueError:
        return pendulum.instance(instant).in_timezone(tz).strftime("%Y-%m-%d %H:%M ") + tz


def funnel(regions: list[RegionRow], history: dict[int, list[StageTransition]],
           rows: list[tuple[Enrollment, Region, Cohort]]) -> list[FunnelRow]:
    """Per stage: regions there now, regions that ever reached it, and the population there now."""
    reached: dict[str, set[int]] = defaultdict(set)
    for enr, _, _ in rows:
        reached[Stage.nominated.value].add(enr.id)  # type: ignore[arg-type]
        reached[enr.stage].add(enr.id)  # type: ignore[arg-type]
        for t in history.get(enr.id, []):  # type: ignore[arg-type]
            reached[t.to_stage].add(enr.id)  # type: ignore[arg-type]
    out = []
    for stage in STAGE_ORDER:
        here = [r for r in regions if r.stage == stage.value]
        out.append(FunnelRow(stage=stage.value, count=len(here), reached=len(reached[stage.value]),
                             population=sum(r.population or 0 for r in here),
                             population_unknown=sum(1 for r in here if r.population is None)))
    return out


def _model(module: str, name: str) -> type | None:
    """A table model another area may not have shipped yet."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def _has_table(session: Session, model: type | None) -> bool:
    if model is None:
        return False
    return sa.inspect(session.connection()).has_table(model.__tablename__)  # type: ignore[attr-defined]


def _open_deadlines(session: Session, ids: list[int | None], notes: list[str]) -> dict[int, list]:
    model = _model("smartcity.models.deadlines.tables", "Deadline")
    if not _has_table(session, model):
        notes.append("deadlines: not tracked in this database yet (every region shows 'no deadline')")
        return {}
    out: dict[int, list] = defaultdict(list)
    if ids:
        query = select(model).where(model.enrollment_id.in_(ids), model.status == OPEN_DEADLINE)  # type: ignore
        for d in session.exec(query.order_by(model.due_at)).all():  # type: ignore[union-attr]
            out[d.enrollment_id].append(d)
    return out


def _apply_deadlines(row: RegionRow, deadlines: list, now: datetime, overdue: list[dict]) -> None:
    """Set the region's deadline line (its earliest open deadline) and collect its overdue items."""
    if not deadlines:
        return
    first = min(deadlines, key=lambda d: d.due_at)
    row.deadline = deadline_text(first.kind, first.key, first.due_at, row.timezone, now)
    for d in deadlines:
        if d.due_at < now:
            row.overdue = True
            overdue.append({"cohort": row.cohort, "bps_code": row.bps_code, "region": row.name,
                            "stage": row.stage, "kind": d.kind, "key": d.key,
                            "due_at": d.due_at.isoformat(), "due_local": local_time(d.due_at, row.timezone),
                            "days_overdue": round((now - d.due_at).total_seconds() / 86400, 1)})


def deadline_text(kind: str, key: str, due_at: datetime, tz: str, now: datetime) -> str:
    """'masterplan due 2017-09-01 17:00 WIB (in 3.0 days)' or '... OVERDUE by 2.0 days'."""
    days = (due_at - now).total_seconds() / 86400
    when = f"in {days:.1f} days" if days >= 0 else f"OVERDUE by {-days:.1f} days"
    return f"{key} ({kind}) due {local_time(due_at, tz)} ({when})"


def _reviews_outstanding(session: Session, rows: list, now: datetime, notes: list[str]) -> list[dict]:
    """Open masterplan review rounds, with assigned reviewers who have not answered yet."""
    from smartcity.models.reviews.tables import MasterplanRound

    by_id = {enr.id: (region, coh) for enr, region, coh in rows}
    if not by_id:
        return []
    rounds = session.exec(select(MasterplanRound).where(
        MasterplanRound.enrollment_id.in_(list(by_id)), MasterplanRound.status == "open")  # type: ignore
        .order_by(MasterplanRound.submitted_at)).all()
    pending = _pending_reviewers(session, [r.id for r in rounds], notes)
    out = []
    for rnd in rounds:
        region, coh = by_id[rnd.enrollment_id]
        waiting = pending.get(rnd.id) if pending is not None else None
        out.append({"cohort": coh.name, "bps_code": region.bps_code, "region": region.name,
                    "round": rnd.round_no, "submitted_local": local_time(rnd.submitted_at, region.timezone),
                    "days_waiting": round((now - rnd.submitted_at).total_seconds() / 86400, 1),
                    "reviewers_pending": waiting})
    return out


def _pending_reviewers(session: Session, round_ids: list, notes: list[str]) -> dict[int, list[str]] | None:
    """Per round, the names of assigned reviewers without a review; None when not tracked."""
    assignment = _model("smartcity.models.reviews.tables", "ReviewAssignment")
    review = _model("smartcity.models.reviews.tables", "Review")
    reviewer = _model("smartcity.models.reviews.tables", "Reviewer")
    if not (_has_table(session, assignment) and _has_table(session, review) and _has_table(session, reviewer)):
        notes.append("review assignments: not tracked in this database yet")
        return None
    if not round_ids:
        return {}
    done = set(session.exec(select(review.round_id, review.reviewer_id)  # type: ignore[union-attr]
                            .where(review.round_id.in_(round_ids))).all())  # type: ignore[union-attr]
    out: dict[int, list[str]] = defaultdict(list)
    query = (select(assignment.round_id, assignment.reviewer_id, reviewer.name)  # type: ignore[union-attr]
             .join(reviewer, assignment.reviewer_id == reviewer.id)  # type: ignore[union-attr]
             .where(assignment.round_id.in_(round_ids)).order_by(reviewer.name))  # type: ignore[union-attr]
    for round_id, reviewer_id, name in session.exec(query).all():
        if (round_id, reviewer_id) not in done:
            out[round_id].append(name)
    return out


def _quick_win_kpis(session: Session, rows: list) -> list[KPIRow]:
    by_id = {enr.id: (region, coh) for enr, region, coh in rows}
    if not by_id:
        return []
    wins = session.exec(select(QuickWin).where(QuickWin.enrollment_id.in_(list(by_id)))  # type: ignore
                        .order_by(QuickWin.id)).all()
    out = []
    for qw in wins:
        region, coh = by_id[qw.enrollment_id]
        n_evidence = len(session.exec(select(QuickWinEvidence.id).where(QuickWinEvidence.quick_win_id == qw.id)).all())
        for k in session.exec(select(QuickWinKPI).where(QuickWinKPI.quick_win_id == qw.id).order_by(QuickWinKPI.id)):
            pct = round(100 * k.actual / k.target, 1) if k.actual is not None and k.target else None
            out.append(KPIRow(quick_win_id=qw.id, cohort=coh.name, bps_code=region.bps_code, region=region.name,
                              title=qw.title, dimension=qw.dimension, budget_idr=qw.budget_idr,
                              verified_by=qw.verified_by, evidence=n_evidence, kpi=k.name, unit=k.unit,
                              target=k.target, actual=k.actual, percent_of_target=pct))
    return out


def cohort_progress(report: Report, cohort: str) -> tuple[int, int, str]:
    """(done, of, sentence) for a cohort's progress bar: masterplans completed of regions selected."""
    regions = [r for r in report.regions if r.cohort == cohort]

    def reached(r: RegionRow, stage: Stage) -> bool:
        return r.stage == stage.value or any(p.stage == stage.value for p in r.periods)

    selected = [r for r in regions if reached(r, Stage.selected)]
    done = sum(1 for r in selected if reached(r, Stage.masterplan_completed))
    delivered = sum(1 for r in regions if r.stage == Stage.quick_win_delivered.value)
    of = len(selected) or len(regions)
    return done, of, (f"cohort {cohort}: masterplans completed {done} of {of} "
                      f"{'selected ' if selected else ''}regions; quick wins delivered {delivered}")
