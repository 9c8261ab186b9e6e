"""Indicator values in the database, and the cohort selection built on them.

Import: a long CSV `bps_code,indicator,value,year,source` is validated whole (every bad line is
reported, nothing is written), then upserted per (region, indicator, year, source).
Selection: the cohort's nominee pool is read with its indicator values, scored by
`smartcity.models.selection.scoring.score`, and turned into stage changes that go through `change_stage`.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smartcity.models.core.errors import BadInput, DomainRefused, SmartCityError
from smartcity.models.core.program import get_cohort
from smartcity.models.core.regions import collect_valid
from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import Cohort, Enrollment, Region, StageTransition
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.selection.scoring import Nominee, SelectionPolicy, SelectionResult, score
from smartcity.models.selection.tables import IndicatorValue
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

COLUMNS = ("bps_code", "indicator", "value", "year", "source")
YEARS = (1950, 2100)
ILLUSTRATIVE_LABEL = "ILLUSTRATIVE (simulated) indicator values"
_INDICATOR = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# A plain decimal number; float() alone would also take "nan", "inf" and "1_000".
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class IndicatorRow:
    """One validated line of an indicator file."""

    bps_code: str
    indicator: str
    value: float
    year: int
    source: str

    @property
    def key(self) -> tuple[str, str, int, str]:
        """The version key: one value per region, indicator, year and source."""
        return (self.bps_code, self.indicator, self.year, self.source)


# ----------------------------------------------------------------------------------------- import


def parse_indicators(text: str, source_name: str, known_codes: set[str] | frozenset[str]) -> list[IndicatorRow]:
    """Validate every row; raise BadInput listing every bad line (by number), or return all rows."""
    if not text.strip():
        raise BadInput(f"{source_name}: the file is empty", [f"line 1: no header (need {','.join(COLUMNS)})"])
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise BadInput(f"{source_name}: missing column(s) {', '.join(missing)}, nothing imported",
                       [f"line 1: header {','.join(header)!r} lacks {', '.join(missing)} (need {','.join(COLUMNS)})"])
    reader.fieldnames = header
    rows, errors = collect_valid(
        ((reader.line_num, row) for row in reader), lambda row: _parse_row(row, known_codes),
        key=lambda r: r.key,
        duplicate=lambda r, first: f"duplicate of line {first} ({r.bps_code} {r.indicator} {r.year} {r.source!r})")
    if errors:
        raise BadInput(f"{source_name}: {len(errors)} error(s), nothing imported", errors)
    if not rows:
        raise BadInput(f"{source_name}: no data rows, nothing imported", ["line 2: no data rows after the header"])
    return rows


def _parse_row(row: dict, known_codes: set[str] | frozenset[str]) -> tuple[IndicatorRow | None, list[str]]:
    if None in row:
        return None, ["more fields than the header"]
    values = {k: (row.get(k) or "").strip() for k in COLUMNS}
    problems = [f"missing {k}" for k, v in values.items() if not v]
    code, indicator, raw, year, source = (values[k] for k in COLUMNS)
    if code and code not in known_codes:
        problems.append(f"unknown region {code!r} (not in the registry)")
    if indicator and not _INDICATOR.match(indicator):
        problems.append(f"bad indicator name {indicator!r} (lower-case letters, digits, _)")
    number = _number(raw, problems)
    if year and not (year.isascii() and year.isdigit() and YEARS[0] <= int(year) <= YEARS[1]):
        problems.append(f"bad year {year!r} (a year {YEARS[0]}-{YEARS[1]})")
    if len(source) > 200 or any(not ch.isprintable() for ch in source):
        problems.append("source has control characters or is over 200 characters")
    if problems or number is None:
        return None, problems
    return IndicatorRow(code, indicator, number, int(year), source), []


def _number(raw: str, problems: list[str]) -> float | None:
    if not raw:
        return None
    if not _NUMBER.match(raw):
        problems.append(f"value {raw!r} is not a number")
        return None
    value = float(raw)
    if not math.isfinite(value):  # "1e999" overflows to inf
        problems.append(f"value {raw!r} is not a finite number")
        return None
    return value


def known_region_codes(session: Session) -> set[str]:
    """The BPS codes of the registry."""
    return set(session.exec(select(Region.bps_code)).all())


def upsert_indicators(session: Session, rows: list[IndicatorRow], *, now: datetime) -> dict[str, int]:
    """Insert new versions, update changed values; returns counts of inserted/updated/unchanged. Caller commits."""
    region_ids = dict(session.exec(select(Region.bps_code, Region.id)).all())
    existing = {(v.region_id, v.indicator, v.year, v.source): v for v in session.exec(select(IndicatorValue)).all()}
    counts = Counter(inserted=0, updated=0, unchanged=0)
    for row in rows:
        region_id = region_ids[row.bps_code]
        current = existing.get((region_id, row.indicator, row.year, row.source))
        if current is None:
            session.add(IndicatorValue(region_id=region_id, indicator=row.indicator, value=row.value,
                                       year=row.year, source=row.source, imported_at=now))
            counts["inserted"] += 1
        elif current.value != row.value:
            current.value, current.imported_at = row.value, now
            session.add(current)
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    return dict(counts)


# ------------------------------------------------------------------------------------- nominee pool


@dataclass
class NomineePool:
    """A cohort's nominees with the indicator values chosen for them, and where those values came from."""

    cohort: str
    year: int
    exact_year: bool
    nominees: list[Nominee]
    sources: list[str]
    years: list[int]

    @property
    def illustrative(self) -> bool:
        """True when any value used comes from an illustrative (simulated) source."""
        return any("illustrative" in s.lower() or "simulated" in s.lower() for s in self.sources)

    def provenance(self) -> str:
        """One line: which years and sources the values come from."""
        rule = f"year {self.year}" if self.exact_year else f"latest year up to {self.year}"
        years = ", ".join(map(str, self.years)) or "none"
        return f"indicator values: {rule} (used: {years}); source(s): {'; '.join(self.sources) or 'none'}"


_DECIDED = (Stage.selected.value, Stage.not_selected.value)


def _pool_regions(session: Session, cohort: Cohort) -> list[Region]:
    """Regions nominated to the cohort: still nominated, or whose first move was the selection decision.

    Counting already-decided regions keeps the pool the same when a selection is re-run (after a crash
    half-way, say), so the ranking and each region's decision do not change under a re-run.
    """
    first = aliased(StageTransition)
    rows = session.exec(
        select(Region, Enrollment.stage, first.to_stage)
        .join(Enrollment, Enrollment.region_id == Region.id)
        .outerjoin(first, (first.enrollment_id == Enrollment.id) & (first.version == 1))
        .where(Enrollment.cohort_id == cohort.id).order_by(Region.bps_code)
    ).all()
    return [r for r, stage, to in rows if (to is None and stage == Stage.nominated.value) or to in _DECIDED]


def _chosen_values(session: Session, region_ids: list[int], year: int, exact: bool,
                   source: str | None) -> list[IndicatorValue]:
    """Per (region, indicator): the value of the latest eligible year, then the latest import, then source."""
    query = select(IndicatorValue).where(IndicatorValue.region_id.in_(region_ids))  # type: ignore[attr-defined]
    query = query.where(IndicatorValue.year == year if exact else IndicatorValue.year <= year)
    if source is not None:
        query = query.where(IndicatorValue.source == source)
    rows = session.exec(query).all()
    rows = sorted(rows, key=lambda v: (v.region_id, v.indicator, -v.year, -v.imported_at.timestamp(), v.source))
    chosen: dict[tuple[int, str], IndicatorValue] = {}
    for row in rows:
        chosen.setdefault((row.region_id, row.indicator), row)
    return list(chosen.values())


def nominee_pool(session: Session, cohort: str, year: int | None = None, source: str | None = None) -> NomineePool:
    """The cohort's nominees with their indicator values (cohort year unless `year`), and provenance."""
    target = get_cohort(session, cohort)
    regions = _pool_regions(session, target)
    if not regions:
        raise DomainRefused(f"cohort {cohort}: no nominated regions to select from")
    values = _chosen_values(session, [r.id for r in regions], year or target.year, year is not None, source)
    if not values:
        which = f" from source {source!r}" if source else ""
        raise DomainRefused(f"cohort {cohort}: no indicator values for year {'' if year else '<= '}"
                            f"{year or target.year}{which}; import some with `smartcity indicators import`")
    per_region: dict[int, dict[str, float | None]] = {}
    for v in values:
        per_region.setdefault(v.region_id, {})[v.indicator] = v.value
    # Absent indicators stay absent: the policy's explicit `missing` rule decides, never a silent zero.
    nominees = [Nominee(bps_code=r.bps_code, name=r.name, province=r.province, population=r.population,
                        indicators=per_region.get(r.id, {})) for r in regions]
    return NomineePool(cohort=target.name, year=year or target.year, exact_year=year is not None,
                       nominees=nominees, sources=sorted({v.source for v in values}),
                       years=sorted({v.year for v in values}))


def nominees_for_cohort(session: Session, cohort: str, year: int | None = None,
                        source: str | None = None) -> list[Nominee]:
    """Nominees of a cohort built from the database (see `nominee_pool`)."""
    return nominee_pool(session, cohort, year, source).nominees


# ---------------------------------------------------------------------------------------- selection


@dataclass
class SelectionPlan:
    """A scored cohort: the pool it was scored on, the result, and the stage changes it implies."""

    pool: NomineePool
    result: SelectionResult

    @property
    def cohort(self) -> str:
        """The cohort's name."""
        return self.pool.cohort

    def changes(self, actor: str, flow_run_id: str | None = None) -> list[StageChange]:
        """`selected` for the chosen (in rank order), then `not_selected` for the others.

        The idempotency key names cohort, region and target, so a re-run is recorded once; a re-run
        that would decide differently is refused by the stage machine instead of silently ignored.
        """
        if not actor or not actor.strip():
            raise BadInput("an actor is required to apply a selection")
        ordered = [r for r in self.result.regions if r.selected] + [r for r in self.result.regions if not r.selected]
        out = []
        for r in ordered:
            to = Stage.selected if r.selected else Stage.not_selected
            reason = f"{self.result.policy_name}: {r.reason}"[:2000]
            out.append(StageChange(r.bps_code, to, actor, reason, self.cohort, None,
                                   f"select:{self.cohort}:{r.bps_code}->{to.value}", flow_run_id))
        return out

    def ranking_rows(self) -> list[dict[str, Any]]:
        """One row per nominee for a table artifact or JSON, floats rounded for reading."""
        return [{k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
                for row in self.result.to_rows()]

    def why_markdown(self) -> str:
        """The 'why' text: a plain illustrative banner if needed, provenance, equity rules, then the scorer's text."""
        lines = []
        if self.pool.illustrative:
            lines += [f"> **{ILLUSTRATIVE_LABEL}.** The numbers are simulated, not official data about any "
                      "region; the ranking shows how the policy works, not how the ministry decided.", ""]
        lines += [f"**Cohort:** {self.cohort}  ", f"**Nominees:** {len(self.result.regions)}  ",
                  f"**{self.pool.provenance()}**", "", "## Equity rules", ""]
        lines += _equity_lines(self.result)
        return "\n".join(lines) + "\n\n" + self.result.explain_markdown()

    def summary(self, outcomes: list[dict]) -> dict[str, Any]:
        """What a selection run did, for the CLI and the flow's return value."""
        status = Counter(o["status"] for o in outcomes)
        return {
            "cohort": self.cohort, "policy": self.result.policy_name, "illustrative": self.pool.illustrative,
            "sources": self.pool.sources, "years": self.pool.years, "selected": self.result.selected_codes,
            "applied": status["applied"], "duplicate": status["duplicate"], "unchanged": status["unchanged"],
            "refused": [f"{o['region_code']}: {o['error']}" for o in outcomes if o["status"] == "refused"],
            "notes": self.result.notes, "ranking": self.ranking_rows(),
        }


def _equity_lines(result: SelectionResult) -> list[str]:
    policy = result.policy
    capped = [r for r in result.regions if r.equity_rule == "province_cap"]
    floored = [r for r in result.regions if r.equity_rule == "island_floor"]
    cap = (f"at most {policy.max_per_province} region(s) per province" if policy.max_per_province
           else "off (no per-province limit)")
    floor = "at least one region per island group with an eligible nominee" if policy.min_per_island_group else "off"
    return [
        f"- **Province cap:** {cap}; kept out by it: "
        + (", ".join(f"{r.name} ({r.bps_code}, rank {r.rank})" for r in capped) or "none"),
        f"- **Island floor:** {floor}; brought in by it: "
        + (", ".join(f"{r.name} ({r.bps_code}, rank {r.rank})" for r in floored) or "none"),
    ]


def plan_selection(session: Session, cohort: str, policy: SelectionPolicy, *, year: int | None = None,
                   source: str | None = None) -> SelectionPlan:
    """Score a cohort's nominees under `policy`; refuses a policy quota above the cohort's quota."""
    target = get_cohort(session, cohort)
    if policy.quota > target.quota:
        raise BadInput(f"policy {policy.name} selects {policy.quota} regions but cohort {target.name} has a quota "
                       f"of {target.quota}; lower the policy's quota")
    pool = nominee_pool(session, cohort, year, source)
    return SelectionPlan(pool, score(pool.nominees, policy))


def apply_selection(session: Session, plan: SelectionPlan, actor: str, *, now: datetime,
                    flow_run_id: str | None = None) -> dict[str, Any]:
    """Apply the plan region by region through `change_stage` (each in its own transaction)."""
    outcomes = [apply_one(session, change, now=now) for change in plan.changes(actor, flow_run_id)]
    return plan.summary(outcomes)


def apply_one(session: Session, change: StageChange, *, now: datetime) -> dict[str, Any]:
    """One change as a dict; a refusal is an answer (status `refused`), not an exception."""
    try:
        return change_stage(session, change, now=now).as_dict()
    except SmartCityError as exc:
        return {"status": "refused", "region_code": change.region_code, "error": str(exc),
                "exit_code": exc.exit_code}
