"""The program report as data: funnel, stage durations, deadlines, reviews, quick wins, evaluation, population.

Pure reads from the database with `now` passed in; renderers live in `smartcity.models.reports.render`.
Tables added by later migrations (deadlines, review assignments, evaluation scores) are read only when their
model and their table both exist, so a report works on any schema revision.

Stages come from each cohort's program definition: their order (the main line, then the side exits), their
labels, colours and which of them close a file travel in the report (`Report.stages`), so a renderer needs
no definition and a cohort running another program renders with its own stages.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from itertools import cycle

import pendulum
import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session, SQLModel, col, func, select

from smartcity.models.core.errors import BadInput
from smartcity.models.core.program import get_cohort
from smartcity.models.core.tables import Cohort, Enrollment, Region, StageTransition
from smartcity.models.deadlines.tables import Deadline
from smartcity.models.deadlines.workdays import format_local
from smartcity.models.evaluation.ops import CohortIndex, evaluation_index, scored_years
from smartcity.models.infra.db import row_id
from smartcity.models.programs.definition import ProgramDefinition
from smartcity.models.programs.loading import DEFAULT_PROGRAM, shipped
from smartcity.models.programs.store import program_of_cohort
from smartcity.models.quickwins.ops import kpi_met
from smartcity.models.quickwins.tables import QuickWin, QuickWinEvidence, QuickWinKPI
from smartcity.models.reviews.tables import MasterplanRound, Review, ReviewAssignment, Reviewer
from smartcity.models.vocabulary import DeadlineKind, DeadlineStatus, Dimension, RoundStatus

POPULATION_YEAR = 2025
POPULATION_SOURCE = "Dukcapil 2025 (Kepmendagri 300.2.2-2138/2025), a 2025 count, not the cohort's year"
OPEN_DEADLINE = DeadlineStatus.open
NO_DEADLINE = "no deadline"
#: Colours for stages whose definition gives none, handed out in stage order (Okabe-Ito, then Tableau):
#: the same program always gets the same colours, and no two uncoloured stages of one report share one.
PALETTE: tuple[str, ...] = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#8c564b",
    "#17becf",
    "#7f7f7f",
)


class StageInfo(BaseModel):
    """A stage as a report shows it: labels (id, en), colour, on the main line, closing a file."""

    name: str
    label: dict[str, str]
    colour: str
    main: bool = False
    closed: bool = False


class CohortProgram(BaseModel):
    """What a cohort's program means for its progress: the stages its built-in steps lead to."""

    program: str
    initial: str
    main_line: list[str]
    selected: str | None = None  # where the quota-guarded edge leads
    completed: str | None = None  # where the review approval leads (the masterplan)
    delivered: str | None = None  # where the quick-win verification leads


def stage_infos(definitions: Sequence[ProgramDefinition]) -> list[StageInfo]:
    """The stages of every definition, each once: per definition its main line, then its other stages in file
    order. A stage without a colour gets the next palette colour that no stage declares."""
    first: dict[str, tuple[ProgramDefinition, bool]] = {}
    for d in definitions:
        for name in (*d.main_line, *(n for n in d.stage_names if n not in d.main_line)):
            first.setdefault(name, (d, name in d.main_line))
    declared = {c.lower() for d, _ in first.values() for s in d.stages if (c := s.colour)}
    free = cycle([c for c in PALETTE if c not in declared] or PALETTE)
    out = []
    for name, (d, main) in first.items():
        sd = d.stage(name)
        out.append(
            StageInfo(
                name=name,
                label={"id": sd.label.id, "en": sd.label.en},
                colour=sd.colour or next(free),
                main=main,
                closed=name in d.closed,
            )
        )
    return out


def cohort_program(d: ProgramDefinition) -> CohortProgram:
    """The stages a cohort's progress counts, from its definition's guarded edges."""

    def target(guard: str) -> str | None:
        edge = d.guarded_by(guard)
        return None if edge is None else edge.target

    return CohortProgram(
        program=d.name,
        initial=d.initial,
        main_line=list(d.main_line),
        selected=target("within_cohort_quota"),
        completed=target("review_quorum_approved"),
        delivered=target("quick_win_verified"),
    )


def default_stages() -> list[StageInfo]:
    """The shipped default program's stages (a report built without a database, as some tests do)."""
    return stage_infos([shipped(DEFAULT_PROGRAM)])


def default_program_name() -> str:
    """The shipped default program's own name, which titles its reports."""
    return shipped(DEFAULT_PROGRAM).title.id


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
    days_in_stage: dict[str, float]  # by stage name
    periods: list[Period]
    deadline: str = NO_DEADLINE
    overdue: bool = False
    # The earliest open deadline's parts, so a renderer can say it in its own language (None: no deadline).
    deadline_key: str | None = None
    deadline_kind: str | None = None
    deadline_due_at: datetime | None = None


class FunnelRow(BaseModel):
    """How many regions are at a stage now, how many ever reached it, and the population now there."""

    stage: str  # a stage's name
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
    dimension: Dimension | None
    budget_idr: int | None
    verified_by: str | None
    evidence: int
    kpi: str
    unit: str
    target: float
    actual: float | None
    percent_of_target: float | None  # higher-is-better KPIs only: for a ceiling, a percentage misleads
    lower_is_better: bool = False
    met: bool | None = None  # None until measured


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
    # The stages of the cohorts' programs, in chart order, and each cohort's program.
    stages: list[StageInfo] = Field(default_factory=default_stages)
    programs: dict[str, CohortProgram] = Field(default_factory=dict)
    program_name: str = Field(default_factory=default_program_name)
    evaluation: list[CohortIndex] = Field(default_factory=list)  # per cohort and year, oldest year first

    def stage_label(self, stage: str, lang: str) -> str:
        """A stage as the reader calls it, from its program's definition ('masterplan selesai')."""
        info = next((s for s in self.stages if s.name == stage), None)
        return info.label.get(lang, stage) if info else stage.replace("_", " ")

    def stage_colour(self, stage: str) -> str:
        """The stage's colour in charts (grey for a stage no program of the report knows)."""
        return next((s.colour for s in self.stages if s.name == stage), "#7f7f7f")

    def program_of(self, cohort: str) -> CohortProgram:
        """The cohort's program as its progress counts it (the default program's when not recorded)."""
        return self.programs.get(cohort) or cohort_program(shipped(DEFAULT_PROGRAM))


def build_report(session: Session, *, now: datetime, cohort: str | None = None, simulated: bool = False) -> Report:
    """The report of one cohort (or of the whole program), as of `now`."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise BadInput("now must be timezone-aware")
    now = pendulum.instance(now).in_timezone("UTC")
    rows = _enrollments(session, cohort)
    definitions = _definitions(session, rows, cohort)
    history = _transitions(session, [row_id(e) for e, _, _ in rows])
    notes: list[str] = []
    deadlines = _open_deadlines(session, [row_id(e) for e, _, _ in rows], notes)
    regions: list[RegionRow] = []
    overdue: list[dict] = []
    for enr, region, coh in rows:
        closed = definitions[row_id(coh)].closed
        periods = stage_periods(enr, history.get(row_id(enr), []), coh.created_at, now, closed)
        row = _region_row(enr, region, coh, periods, now)
        _apply_deadlines(row, deadlines.get(row_id(enr), []), now, overdue)
        regions.append(row)
    cohorts = sorted({r.cohort for r in regions}) if cohort is None else [cohort]
    names = {coh.name: definitions[row_id(coh)] for _, _, coh in rows}
    stages = stage_infos(list({d.name: d for d in definitions.values()}.values()) or [shipped(DEFAULT_PROGRAM)])
    initial = {cid: d.initial for cid, d in definitions.items()}
    program_name = _program_name(list(definitions.values()))
    return Report(
        title=f"{program_name}: {'cohort ' + cohort if cohort else 'program'} report",
        cohort=cohort,
        cohorts=cohorts,
        generated_at=now,
        simulated=simulated,
        funnel=funnel(regions, history, rows, stages, initial),
        regions=regions,
        overdue=overdue,
        reviews_outstanding=_reviews_outstanding(session, rows, now, notes),
        quick_win_kpis=_quick_win_kpis(session, rows),
        notes=notes,
        stages=stages,
        programs={name: cohort_program(d) for name, d in names.items()},
        program_name=program_name,
        evaluation=_evaluation(session, cohort),
    )


def _definitions(session: Session, rows: Rows, cohort: str | None) -> dict[int, ProgramDefinition]:
    """The definition of each cohort in the report, by cohort id (a named cohort's even when it is empty)."""
    ids = {row_id(coh) for _, _, coh in rows}
    if cohort is not None:
        ids.add(row_id(get_cohort(session, cohort)))
    return {cid: program_of_cohort(session, cid) for cid in sorted(ids)}


def _program_name(definitions: list[ProgramDefinition]) -> str:
    """The program's own name for the title: the cohorts' one program, or each of them joined."""
    names = list(dict.fromkeys(d.title.id for d in definitions))
    return " / ".join(names) if names else default_program_name()


def _evaluation(session: Session, cohort: str | None) -> list[CohortIndex]:
    """The ranked evaluation index of every scored year (of one cohort, when given); none on an older schema."""
    if not _has_tables(session, "smartcity.models.evaluation.tables", "EvaluationScore"):
        return []
    return [
        g for year in scored_years(session, cohort) for g in evaluation_index(session=session, year=year, cohort=cohort)
    ]


def latest_activity(session: Session) -> datetime | None:
    """When the program last changed (business time): its latest nomination or stage change, masterplan
    submission, round closing or review."""
    columns = (
        Enrollment.entered_stage_at,
        MasterplanRound.submitted_at,
        MasterplanRound.closed_at,
        Review.submitted_at,
    )
    times = [session.exec(select(func.max(c))).one() for c in columns]
    return max((pendulum.instance(t).in_timezone("UTC") for t in times if t is not None), default=None)


def _enrollments(session: Session, cohort: str | None) -> list[tuple[Enrollment, Region, Cohort]]:
    query = (
        select(Enrollment, Region, Cohort)
        .join(Region, col(Enrollment.region_id) == Region.id)
        .join(Cohort, col(Enrollment.cohort_id) == Cohort.id)
        .order_by(col(Cohort.year), Cohort.name, Region.bps_code)
    )
    if cohort is not None:
        query = query.where(Cohort.id == get_cohort(session, cohort).id)
    return [(enr, region, coh) for enr, region, coh in session.exec(query).all()]


def _transitions(session: Session, enrollment_ids: list[int]) -> dict[int, list[StageTransition]]:
    out: dict[int, list[StageTransition]] = defaultdict(list)
    if not enrollment_ids:
        return out
    query = (
        select(StageTransition)
        .where(col(StageTransition.enrollment_id).in_(enrollment_ids))
        .order_by(col(StageTransition.enrollment_id), col(StageTransition.version))
    )
    for t in session.exec(query).all():
        out[t.enrollment_id].append(t)
    return out


def stage_periods(
    enr: Enrollment,
    transitions: list[StageTransition],
    opened_at: datetime,
    now: datetime,
    closed: Collection[str] = frozenset(),
) -> list[Period]:
    """The stretches an enrollment spent in each stage, from its transitions.

    The nomination time is not kept once a region moves on, so its first stage counts from when its
    cohort opened (or from its first move, if earlier). The current stage counts until `now`, except a
    stage that closes the file (`closed`, from the cohort's program), which has no duration.
    """
    if not transitions:
        return [_period(enr.stage, enr.entered_stage_at, None, now, closed)]
    ordered = sorted(transitions, key=lambda t: t.version)
    start = min(opened_at, ordered[0].occurred_at)
    periods, stage = [], ordered[0].from_stage
    for t in ordered:
        periods.append(_period(stage, start, t.occurred_at, now, closed))
        stage, start = t.to_stage, t.occurred_at
    periods.append(_period(stage, start, None, now, closed))
    return periods


def _period(stage: str, start: datetime, end: datetime | None, now: datetime, closed: Collection[str]) -> Period:
    if end is None and stage in closed:
        return Period(stage=stage, start=start, end=None, days=None)
    stop = end if end is not None else now
    days = max(0.0, (stop - start).total_seconds() / 86400)
    return Period(stage=stage, start=start, end=end, days=round(days, 2))


def _region_row(enr: Enrollment, region: Region, coh: Cohort, periods: list[Period], now: datetime) -> RegionRow:
    days: dict[str, float] = {}
    for p in periods:
        if p.days is not None:
            days[p.stage] = round(days.get(p.stage, 0.0) + p.days, 2)
    return RegionRow(
        cohort=coh.name,
        bps_code=region.bps_code,
        name=region.name,
        province=region.province,
        timezone=region.timezone,
        population=region.population,
        stage=enr.stage,
        since=enr.entered_stage_at,
        since_local=local_time(enr.entered_stage_at, region.timezone),
        days_in_stage=days,
        periods=periods,
    )


def local_time(instant: datetime, tz: str) -> str:
    """'2017-09-01 17:00 WIB' in the region's zone (the zone name for a non-Indonesian zone)."""
    try:
        return format_local(instant, tz)
    except ValueError:
        return pendulum.instance(instant).in_timezone(tz).strftime("%Y-%m-%d %H:%M ") + tz


def funnel(
    regions: list[RegionRow],
    history: dict[int, list[StageTransition]],
    rows: list[tuple[Enrollment, Region, Cohort]],
    stages: Sequence[StageInfo],
    initial: dict[int, str],
) -> list[FunnelRow]:
    """Per stage (in `stages` order): regions there now, regions that ever reached it, and the population there
    now. Every region reached its program's first stage (`initial`, by cohort id)."""
    reached: dict[str, set[int]] = defaultdict(set)
    for enr, _, _ in rows:
        enrollment_id = row_id(enr)
        reached[initial[enr.cohort_id]].add(enrollment_id)
        reached[enr.stage].add(enrollment_id)
        for t in history.get(enrollment_id, []):
            reached[t.to_stage].add(enrollment_id)
    out = []
    for stage in (s.name for s in stages):
        here = [r for r in regions if r.stage == stage]
        out.append(
            FunnelRow(
                stage=stage,
                count=len(here),
                reached=len(reached[stage]),
                population=sum(r.population or 0 for r in here),
                population_unknown=sum(1 for r in here if r.population is None),
            )
        )
    return out


def _model(module: str, name: str) -> type[SQLModel] | None:
    """A table model by module and name, None when it is not there (tests hide one this way)."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def _has_tables(session: Session, module: str, *names: str) -> bool:
    """True when every named model exists and the database has its table (an older revision may not)."""
    inspector = sa.inspect(session.connection())
    models = [_model(module, name) for name in names]
    return all(m is not None and inspector.has_table(sa.inspect(m).local_table.name) for m in models)


def _open_deadlines(session: Session, ids: list[int], notes: list[str]) -> dict[int, list[Deadline]]:
    if not _has_tables(session, "smartcity.models.deadlines.tables", "Deadline"):
        notes.append("deadlines: not tracked in this database yet (every region shows 'no deadline')")
        return {}
    out: dict[int, list[Deadline]] = defaultdict(list)
    if ids:
        query = select(Deadline).where(col(Deadline.enrollment_id).in_(ids), Deadline.status == OPEN_DEADLINE)
        for d in session.exec(query.order_by(col(Deadline.due_at))).all():
            out[d.enrollment_id].append(d)
    return out


def _apply_deadlines(row: RegionRow, deadlines: list[Deadline], now: datetime, overdue: list[dict]) -> None:
    """Set the region's deadline line (its earliest open deadline) and collect its overdue items."""
    if not deadlines:
        return
    first = min(deadlines, key=lambda d: d.due_at)
    row.deadline = deadline_text(first.kind, first.key, first.due_at, row.timezone, now)
    row.deadline_key, row.deadline_kind, row.deadline_due_at = first.key, first.kind, first.due_at
    for d in deadlines:
        if d.due_at < now:
            row.overdue = True
            overdue.append(
                {
                    "cohort": row.cohort,
                    "bps_code": row.bps_code,
                    "region": row.name,
                    "stage": row.stage,
                    "kind": d.kind,
                    "key": d.key,
                    "due_at": d.due_at.isoformat(),
                    "due_local": local_time(d.due_at, row.timezone),
                    "days_overdue": round((now - d.due_at).total_seconds() / 86400, 1),
                }
            )


def deadline_text(kind: DeadlineKind, key: str, due_at: datetime, tz: str, now: datetime) -> str:
    """'masterplan due 2017-09-01 17:00 WIB (in 3.0 days)' or '... OVERDUE by 2.0 days'."""
    days = (due_at - now).total_seconds() / 86400
    when = f"in {days:.1f} days" if days >= 0 else f"OVERDUE by {-days:.1f} days"
    return f"{key} ({kind}) due {local_time(due_at, tz)} ({when})"


Rows = list[tuple[Enrollment, Region, Cohort]]


def _reviews_outstanding(session: Session, rows: Rows, now: datetime, notes: list[str]) -> list[dict]:
    """Open masterplan review rounds, with assigned reviewers who have not answered yet."""
    by_id = {row_id(enr): (region, coh) for enr, region, coh in rows}
    if not by_id:
        return []
    rounds = session.exec(
        select(MasterplanRound)
        .where(col(MasterplanRound.enrollment_id).in_(list(by_id)), MasterplanRound.status == RoundStatus.open)
        .order_by(col(MasterplanRound.submitted_at))
    ).all()
    pending = _pending_reviewers(session, [row_id(r) for r in rounds], notes)
    out = []
    for rnd in rounds:
        region, coh = by_id[rnd.enrollment_id]
        waiting = pending.get(row_id(rnd)) if pending is not None else None
        out.append(
            {
                "cohort": coh.name,
                "bps_code": region.bps_code,
                "region": region.name,
                "round": rnd.round_no,
                "submitted_local": local_time(rnd.submitted_at, region.timezone),
                "days_waiting": round((now - rnd.submitted_at).total_seconds() / 86400, 1),
                "reviewers_pending": waiting,
            }
        )
    return out


def _pending_reviewers(session: Session, round_ids: list[int], notes: list[str]) -> dict[int, list[str]] | None:
    """Per round, the names of assigned reviewers without a review; None when not tracked."""
    if not _has_tables(session, "smartcity.models.reviews.tables", "ReviewAssignment", "Review", "Reviewer"):
        notes.append("review assignments: not tracked in this database yet")
        return None
    if not round_ids:
        return {}
    done = set(
        session.exec(select(Review.round_id, Review.reviewer_id).where(col(Review.round_id).in_(round_ids))).all()
    )
    out: dict[int, list[str]] = defaultdict(list)
    query = (
        select(ReviewAssignment.round_id, ReviewAssignment.reviewer_id, Reviewer.name)
        .join(Reviewer, col(ReviewAssignment.reviewer_id) == Reviewer.id)
        .where(col(ReviewAssignment.round_id).in_(round_ids))
        .order_by(Reviewer.name)
    )
    for round_id, reviewer_id, name in session.exec(query).all():
        if (round_id, reviewer_id) not in done:
            out[round_id].append(name)
    return out


def _quick_win_kpis(session: Session, rows: Rows) -> list[KPIRow]:
    by_id = {row_id(enr): (region, coh) for enr, region, coh in rows}
    if not by_id:
        return []
    wins = session.exec(
        select(QuickWin).where(col(QuickWin.enrollment_id).in_(list(by_id))).order_by(col(QuickWin.id))
    ).all()
    out = []
    for qw in wins:
        region, coh = by_id[qw.enrollment_id]
        n_evidence = len(session.exec(select(QuickWinEvidence.id).where(QuickWinEvidence.quick_win_id == qw.id)).all())
        kpis = select(QuickWinKPI).where(QuickWinKPI.quick_win_id == qw.id).order_by(col(QuickWinKPI.id))
        for k in session.exec(kpis):
            measured = k.actual is not None and k.target and not k.lower_is_better
            pct = round(100 * k.actual / k.target, 1) if measured and k.actual is not None else None
            out.append(
                KPIRow(
                    quick_win_id=row_id(qw),
                    cohort=coh.name,
                    bps_code=region.bps_code,
                    region=region.name,
                    title=qw.title,
                    dimension=qw.dimension,
                    budget_idr=qw.budget_idr,
                    verified_by=qw.verified_by,
                    evidence=n_evidence,
                    kpi=k.name,
                    unit=k.unit,
                    target=k.target,
                    actual=k.actual,
                    percent_of_target=pct,
                    lower_is_better=k.lower_is_better,
                    met=kpi_met(k.target, k.actual, k.lower_is_better),
                )
            )
    return out


def cohort_progress(report: Report, cohort: str) -> tuple[int, int, str]:
    """(done, of, sentence) for a cohort's progress bar: masterplans completed of regions selected (a program
    without a masterplan review: regions at the end of its main line)."""
    regions = [r for r in report.regions if r.cohort == cohort]
    program = report.program_of(cohort)

    def reached(r: RegionRow, stage: str | None) -> bool:
        return stage is not None and (r.stage == stage or any(p.stage == stage for p in r.periods))

    selected = [r for r in regions if reached(r, program.selected)]
    of = len(selected) or len(regions)
    of_whom = f"{'selected ' if selected else ''}regions"
    if program.completed is None or program.delivered is None:
        last = program.main_line[-1]
        done = sum(1 for r in (selected or regions) if reached(r, last))
        return done, of, f"cohort {cohort}: {done} of {of} {of_whom} reached {report.stage_label(last, 'en')}"
    done = sum(1 for r in selected if reached(r, program.completed))
    delivered = sum(1 for r in regions if r.stage == program.delivered)
    return (
        done,
        of,
        f"cohort {cohort}: masterplans completed {done} of {of} {of_whom}; quick wins delivered {delivered}",
    )
