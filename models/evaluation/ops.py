"""The yearly implementation evaluation: import scores (all or nothing), the weighted index and its rank, the guard.

A region's index in a year is the weighted sum of its dimension scores, with the weights of its cohort's
program `evaluation` policy; weights sum to 1, so the index lies on the scores' own 0..scale_max scale. A
region that lacks a dimension has no index: it is listed as incomplete, never counted as a zero.

Importing the same scores again changes nothing. A score that differs from the stored one needs a reason;
the audit record keeps the old value next to the new one, so nothing is overwritten silently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator
from sqlmodel import Session, col, select

from smartcity.models.core import audit
from smartcity.models.core.errors import BadInput, NotFound
from smartcity.models.core.tables import Cohort, Enrollment, Region
from smartcity.models.evaluation.tables import EvaluationScore
from smartcity.models.infra.csvfile import CsvRow, read_csv_text, read_rows, write_rows
from smartcity.models.infra.db import row_id
from smartcity.models.programs.definition import EvaluationPolicy
from smartcity.models.programs.store import program_of_cohort

COLUMNS = ("year", "cohort", "bps_code", "dimension", "score", "source")
#: Indexes are kept to 6 decimals: enough for any published figure, and it rids the weighted sum of float
#: noise (0.1*3 + ... = 2.9999999999999996), so equal indexes tie instead of ranking by rounding error.
INDEX_DIGITS = 6
MIN_YEAR, MAX_YEAR = 2000, 2100


def dimension_name(value: str) -> str:
    """A dimension as a coordinator may write it ('Quick Win', 'quick-win') in the policy's spelling."""
    return "_".join(value.strip().lower().replace("-", " ").split())


def marks_simulated(source: str | None) -> bool:
    """True when a score's source says it is simulated (the engine has no real scores)."""
    return "simulated" in (source or "").lower()


# --------------------------------------------------------------------------------------------- import


@dataclass(frozen=True)
class _CohortFacts:
    id: int
    year: int
    program: str
    policy: EvaluationPolicy | None


@dataclass
class _Known:
    """What the rows are checked against, read once before the first row (the validation context)."""

    session: Session
    reason: str | None
    simulated: bool
    regions: dict[str, int]
    enrolled: dict[tuple[int, int], int]  # (cohort id, region id) -> enrollment id
    stored: dict[tuple[int, int, str], EvaluationScore]  # (enrollment id, year, dimension) -> row
    cohorts: dict[str, _CohortFacts | None] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, *, reason: str | None, simulated: bool) -> _Known:
        """The registry's codes, every enrollment and every stored score."""
        return cls(
            session=session,
            reason=reason,
            simulated=simulated,
            regions={code: rid for code, rid in session.exec(select(Region.bps_code, Region.id)).all() if rid},
            enrolled={
                (c, r): e
                for e, c, r in session.exec(select(Enrollment.id, Enrollment.cohort_id, Enrollment.region_id))
                if e is not None
            },
            stored={(s.enrollment_id, s.year, s.dimension): s for s in session.exec(select(EvaluationScore)).all()},
        )

    def cohort(self, name: str) -> _CohortFacts | None:
        """A cohort's id, year and evaluation policy, read on first use."""
        if name not in self.cohorts:
            row = self.session.exec(select(Cohort).where(Cohort.name == name)).first()
            if row is None:
                self.cohorts[name] = None
            else:
                definition = program_of_cohort(self.session, row_id(row))
                self.cohorts[name] = _CohortFacts(row_id(row), row.year, definition.name, definition.evaluation)
        return self.cohorts[name]

    def enrollment(self, row: ScoreRow) -> int | None:
        """The enrollment a row scores, None when the cohort, region or enrollment is unknown."""
        facts, region = self.cohort(row.cohort), self.regions.get(row.bps_code)
        return None if facts is None or region is None else self.enrolled.get((facts.id, region))


class ScoreRow(CsvRow):
    """One line of an evaluation file: `year,cohort,bps_code,dimension,score[,source]`."""

    year: int
    cohort: str = Field(max_length=100)
    bps_code: str
    dimension: str = Field(max_length=32)
    score: float = Field(allow_inf_nan=False)
    source: str | None = Field(default=None, max_length=500)

    @field_validator("year")
    @classmethod
    def _year(cls, v: int) -> int:
        if not MIN_YEAR <= v <= MAX_YEAR:
            raise ValueError(f"year {v} is out of range {MIN_YEAR}-{MAX_YEAR}")
        return v

    @field_validator("dimension", mode="before")
    @classmethod
    def _dimension(cls, v: Any) -> Any:
        return dimension_name(v) if isinstance(v, str) else v

    def row_key(self) -> tuple[int, str, str, str]:
        """A region has one score per cohort, year and dimension in a file."""
        return (self.year, self.cohort, self.bps_code, self.dimension)

    def is_simulated(self, flag: bool) -> bool:
        """Simulated when the import says so or the row's source does."""
        return flag or marks_simulated(self.source)

    @model_validator(mode="after")
    def _against_the_database(self, info: ValidationInfo) -> ScoreRow:
        known = (info.context or {}).get("known")
        if isinstance(known, _Known) and (problems := _problems(self, known)):
            raise ValueError("; ".join(problems))
        return self


def _problems(row: ScoreRow, known: _Known) -> list[str]:
    """Why a well-formed row cannot be imported: every reason, in the order a coordinator fixes them."""
    facts = known.cohort(row.cohort)
    if facts is None:
        return [f"unknown cohort {row.cohort!r}"]
    out = []
    if facts.policy is None:
        out.append(f"cohort {row.cohort} runs program {facts.program}, which has no evaluation policy")
    if row.year < facts.year:
        out.append(f"year {row.year} is before cohort {row.cohort} began ({facts.year})")
    if row.bps_code not in known.regions:
        out.append(f"unknown region {row.bps_code!r}")
    elif known.enrollment(row) is None:
        out.append(f"region {row.bps_code} is not enrolled in cohort {row.cohort}")
    if facts.policy is not None:
        policy = facts.policy
        if row.dimension not in policy.weights:
            out.append(f"unknown dimension {row.dimension!r} (policy {policy.name}: {', '.join(policy.weights)})")
        if not 0 <= row.score <= policy.scale_max:
            out.append(f"score {row.score:g} is outside 0..{policy.scale_max:g}")
    if not out and known.reason is None and (old := _stored(row, known)) is not None and _differs(old, row, known):
        out.append(
            f"{row.bps_code} {row.year} {row.dimension}: {_show(old)} is already recorded; changing it to "
            f"{row.score:g} needs a reason (--reason)"
        )
    return out


def _stored(row: ScoreRow, known: _Known) -> EvaluationScore | None:
    enrollment = known.enrollment(row)
    return None if enrollment is None else known.stored.get((enrollment, row.year, row.dimension))


def _differs(old: EvaluationScore, row: ScoreRow, known: _Known) -> bool:
    return (old.score, old.source, old.simulated) != (row.score, row.source, row.is_simulated(known.simulated))


def _show(s: EvaluationScore) -> str:
    return f"{s.score:g}" + (f" ({s.source})" if s.source else "") + (" [simulated]" if s.simulated else "")


def import_scores(
    *,
    session: Session,
    path: str | Path | None = None,
    rows: Sequence[Mapping[str, Any]] | None = None,
    actor: str,
    now: datetime,
    reason: str | None = None,
    simulated: bool = False,
) -> dict[str, Any]:
    """Import scores from a CSV file (or rows with the same columns), all or nothing; the caller commits.

    BadInput lists every bad line ('line 4: unknown region 9999') and nothing is written. One audit record
    names what was added and what changed (old and new value, with the reason); none when nothing changed."""
    who = audit.actor_name(actor)
    why = (reason or "").strip() or None
    text, source = _input(path, rows)
    known = _Known.load(session, reason=why, simulated=simulated)
    parsed = read_rows(text, ScoreRow, source, context={"known": known})
    added, changed = _write(session, parsed, known, who, now)
    summary = {
        "source": source,
        "rows": len(parsed),
        "added": len(added),
        "changed": len(changed),
        "unchanged": len(parsed) - len(added) - len(changed),
        "simulated": any(r.is_simulated(simulated) for r in parsed),
    }
    if added or changed:
        session.flush()
        years = sorted({a[2] for a in added} | {c["year"] for c in changed})
        audit.record(
            session,
            kind="evaluation_imported",
            subject=f"evaluation {', '.join(map(str, years))}",
            actor=who,
            at=now,
            content={**summary, "reason": why, "added_scores": added, "changed_scores": changed},
        )
    return summary


def _write(
    session: Session, rows: list[ScoreRow], known: _Known, who: str, now: datetime
) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    """Add the new scores and update the changed ones (validated rows only); what was added and changed."""
    added: list[list[Any]] = []
    changed: list[dict[str, Any]] = []
    for row in rows:
        sim = row.is_simulated(known.simulated)
        old = _stored(row, known)
        if old is None:
            session.add(_new_score(row, known.enrollment(row), sim, who, now))
            added.append([row.cohort, row.bps_code, row.year, row.dimension, row.score])
        elif _differs(old, row, known):
            changed.append(_change(row, old))
            old.score, old.source, old.simulated = row.score, row.source, sim
            old.recorded_at, old.recorded_by = now, who
            session.add(old)
    return added, changed


def _input(path: str | Path | None, rows: Sequence[Mapping[str, Any]] | None) -> tuple[str, str]:
    """(CSV text, the name errors give it) from a file or from rows."""
    if (path is None) == (rows is None):
        raise BadInput("give either a file or rows of scores")
    if path is not None:
        return read_csv_text(Path(path)), Path(path).name
    return write_rows(list(rows or []), header=list(COLUMNS), dialect="en"), "rows"


def _new_score(row: ScoreRow, enrollment: int | None, simulated: bool, who: str, now: datetime) -> EvaluationScore:
    assert enrollment is not None  # the row validated, so its enrollment exists
    return EvaluationScore(
        enrollment_id=enrollment,
        year=row.year,
        dimension=row.dimension,
        score=row.score,
        source=row.source,
        simulated=simulated,
        recorded_at=now,
        recorded_by=who,
    )


def _change(row: ScoreRow, old: EvaluationScore) -> dict[str, Any]:
    return {
        "cohort": row.cohort,
        "bps_code": row.bps_code,
        "year": row.year,
        "dimension": row.dimension,
        "from": old.score,
        "to": row.score,
        "from_source": old.source,
        "to_source": row.source,
    }


# --------------------------------------------------------------------------------------------- index


class IndexRow(BaseModel):
    """A region's evaluation in one year: its scores, and its index and rank when every dimension is scored."""

    cohort: str
    year: int
    bps_code: str
    region: str
    scores: dict[str, float]
    missing: list[str] = Field(default_factory=list)
    index: float | None = None  # None: incomplete (never a zero)
    rank: int | None = None
    simulated: bool = False


class CohortIndex(BaseModel):
    """One cohort's evaluation in one year, ranked, with the policy that weighed it."""

    cohort: str
    year: int
    program: str
    policy: str
    policy_source: str = ""
    scale_max: float
    weights: dict[str, float]
    rows: list[IndexRow]
    simulated: bool = False


def weighted_index(scores: Mapping[str, float], policy: EvaluationPolicy) -> tuple[float | None, list[str]]:
    """(the index, []) when every dimension of the policy is scored, else (None, the missing dimensions)."""
    missing = [d for d in policy.weights if d not in scores]
    if missing:
        return None, missing
    return round(sum(w * scores[d] for d, w in policy.weights.items()), INDEX_DIGITS), []


def ranked(rows: Sequence[IndexRow]) -> list[IndexRow]:
    """Complete rows by index, highest first, equal indexes sharing a rank (1, 2, 2, 4) in bps_code order; then
    the incomplete ones (no rank) in bps_code order."""
    complete = sorted((r for r in rows if r.index is not None), key=lambda r: (-(r.index or 0.0), r.bps_code))
    out = []
    for r in complete:
        better = sum(1 for o in complete if (o.index or 0.0) > (r.index or 0.0))
        out.append(r.model_copy(update={"rank": better + 1}))
    incomplete = sorted((r for r in rows if r.index is None), key=lambda r: r.bps_code)
    return out + [r.model_copy(update={"rank": None}) for r in incomplete]


def evaluation_index(*, session: Session, year: int, cohort: str | None = None) -> list[CohortIndex]:
    """Every cohort's ranked index in `year` (or one cohort's), oldest cohort first. A region is listed when it
    has at least one score that year; one missing a dimension is listed as incomplete."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise BadInput(f"year {year} is out of range {MIN_YEAR}-{MAX_YEAR}")
    query = (
        select(EvaluationScore, Region, Cohort)
        .join(Enrollment, col(EvaluationScore.enrollment_id) == Enrollment.id)
        .join(Region, col(Enrollment.region_id) == Region.id)
        .join(Cohort, col(Enrollment.cohort_id) == Cohort.id)
        .where(EvaluationScore.year == year)
        .order_by(col(Cohort.year), col(Cohort.name), col(Region.bps_code))
    )
    if cohort is not None:
        if session.exec(select(Cohort.id).where(Cohort.name == cohort)).first() is None:
            raise NotFound(f"cohort {cohort!r} does not exist (see `smartcity cohort list`)")
        query = query.where(Cohort.name == cohort)
    grouped: dict[int, tuple[Cohort, dict[str, tuple[Region, list[EvaluationScore]]]]] = {}
    for score, region, coh in session.exec(query).all():
        _, regions = grouped.setdefault(row_id(coh), (coh, {}))
        regions.setdefault(region.bps_code, (region, []))[1].append(score)
    return [_cohort_index(session, coh, year, regions) for coh, regions in grouped.values()]


def _cohort_index(
    session: Session, coh: Cohort, year: int, regions: dict[str, tuple[Region, list[EvaluationScore]]]
) -> CohortIndex:
    definition = program_of_cohort(session, row_id(coh))
    policy = definition.evaluation
    if policy is None:  # the import refuses such scores; a definition cannot lose its policy later
        raise BadInput(f"cohort {coh.name}: program {definition.name} has no evaluation policy")
    rows = []
    for code, (region, scores) in regions.items():
        by_dim = {s.dimension: s.score for s in scores}
        index, missing = weighted_index(by_dim, policy)
        rows.append(
            IndexRow(
                cohort=coh.name,
                year=year,
                bps_code=code,
                region=region.name,
                scores=by_dim,
                missing=missing,
                index=index,
                simulated=any(s.simulated for s in scores),
            )
        )
    return CohortIndex(
        cohort=coh.name,
        year=year,
        program=definition.name,
        policy=policy.name,
        policy_source=policy.source,
        scale_max=policy.scale_max,
        weights=dict(policy.weights),
        rows=ranked(rows),
        simulated=any(r.simulated for r in rows),
    )


def scored_years(session: Session, cohort: str | None = None) -> list[int]:
    """The years with at least one score (in `cohort`, when given), oldest first."""
    query = select(EvaluationScore.year).distinct()
    if cohort is not None:
        query = (
            query.join(Enrollment, col(EvaluationScore.enrollment_id) == Enrollment.id)
            .join(Cohort, col(Enrollment.cohort_id) == Cohort.id)
            .where(Cohort.name == cohort)
        )
    return sorted(session.exec(query).all())


# --------------------------------------------------------------------------------------------- guard


def evaluation_scored(session: Session, enrollment: Enrollment, params: Any, now: datetime) -> str | None:
    """The guard `evaluation_scored`: None when the region has a complete index in some year (at least
    `params.min_index` when given), counting the scores recorded by `now`; else why not."""
    min_index = params.get("min_index") if isinstance(params, Mapping) else getattr(params, "min_index", None)
    definition = program_of_cohort(session, enrollment.cohort_id)
    if definition.evaluation is None:
        return f"program {definition.name} has no evaluation policy"
    by_year: dict[int, dict[str, float]] = defaultdict(dict)
    query = select(EvaluationScore).where(
        EvaluationScore.enrollment_id == enrollment.id, col(EvaluationScore.recorded_at) <= now
    )
    for s in session.exec(query).all():
        by_year[s.year][s.dimension] = s.score
    indexes = {y: weighted_index(scores, definition.evaluation) for y, scores in sorted(by_year.items())}
    complete = {y: index for y, (index, _) in indexes.items() if index is not None}
    if not complete:
        if not indexes:
            return "no implementation evaluation scores yet"
        year, (_, missing) = max(indexes.items())
        return f"evaluation {year} is incomplete: no score for {', '.join(missing)}"
    year = max(complete, key=lambda y: (complete[y], y))
    if min_index is not None and complete[year] < min_index:
        return f"best evaluation index {complete[year]:.2f} ({year}) is below the {min_index:g} this program needs"
    return None
