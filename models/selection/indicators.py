"""Indicator values in the database, and the cohort selection built on them.

Import: a long CSV `bps_code,indicator,value,year,source` is validated whole (every bad line is
reported, nothing is written), then upserted per (region, indicator, year, source).
Selection: the cohort's nominee pool is read with its indicator values, scored by
`smartcity.models.selection.scoring.score`, and turned into stage changes that go through `change_stage`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationInfo, field_validator
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from smartcity.models.core.errors import BadInput, DomainRefused, SmartCityError
from smartcity.models.core.program import get_cohort
from smartcity.models.core.tables import Cohort, Enrollment, Region, StageTransition
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.infra.csvfile import CsvRow, read_rows
from smartcity.models.infra.db import row_id
from smartcity.models.programs.store import program_of_cohort
from smartcity.models.selection.scoring import Nominee, SelectionPolicy, SelectionResult, score
from smartcity.models.selection.tables import IndicatorValue

YEARS = (1950, 2100)
ILLUSTRATIVE_LABEL = "ILLUSTRATIVE (simulated) indicator values"
_INDICATOR = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# A plain decimal number; float() alone would also take "nan", "inf" and "1_000".
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class IndicatorRow(CsvRow):
    """One line of an indicator file: bps_code,indicator,value,year,source.

    Validated with the registry's codes as context: `{"known_codes": ...}` (see `parse_indicators`)."""

    bps_code: str
    indicator: str
    value: float
    year: int
    source: str

    @field_validator("bps_code")
    @classmethod
    def _in_registry(cls, code: str, info: ValidationInfo) -> str:
        """A code of the region registry."""
        if code not in (info.context or {}).get("known_codes", ()):
            raise ValueError(f"unknown region {code!r} (not in the registry)")
        return code

    @field_validator("indicator")
    @classmethod
    def _name(cls, indicator: str) -> str:
        """A snake_case name, as the selection policy's weights use."""
        if not _INDICATOR.match(indicator):
            raise ValueError(f"bad indicator name {indicator!r} (lower-case letters, digits, _)")
        return indicator

    @field_validator("value", mode="before")
    @classmethod
    def _finite_number(cls, raw: object) -> float:
        """A plain, finite decimal number."""
        text = str(raw)
        if not _NUMBER.match(text):
            raise ValueError(f"value {text!r} is not a number")
        if not math.isfinite(value := float(text)):  # "1e999" overflows to inf
            raise ValueError(f"value {text!r} is not a finite number")
        return value

    @field_validator("year", mode="before")
    @classmethod
    def _year(cls, raw: object) -> int:
        """A year in YEARS, in ASCII digits."""
        text = str(raw)
        if not (text.isascii() and text.isdigit() and YEARS[0] <= int(text) <= YEARS[1]):
            raise ValueError(f"bad year {text!r} (a year {YEARS[0]}-{YEARS[1]})")
        return int(text)

    @field_validator("source")
    @classmethod
    def _printable(cls, source: str) -> str:
        """Printable text of at most 200 characters."""
        if len(source) > 200 or any(not ch.isprintable() for ch in source):
            raise ValueError("source has control characters or is over 200 characters")
        return source

    @property
    def key(self) -> tuple[str, str, int, str]:
        """The version key: one value per region, indicator, year and source."""
        return (self.bps_code, self.indicator, self.year, self.source)

    def row_key(self) -> tuple[str, str, int, str]:
        """One row per version key in a file."""
        return self.key

    def duplicate_of(self, first_line: int) -> str:
        """The problem of a second row with the same version key."""
        return f"duplicate of line {first_line} ({self.bps_code} {self.indicator} {self.year} {self.source!r})"


# ----------------------------------------------------------------------------------------- import


def parse_indicators(text: str, source_name: str, known_codes: set[str] | frozenset[str]) -> list[IndicatorRow]:
    """Validate every row; raise BadInput listing every bad line (by number), or return all rows."""
    return read_rows(text, IndicatorRow, source_name, context={"known_codes": known_codes})


def known_region_codes(session: Session) -> set[str]:
    """The BPS codes of the registry."""
    return set(session.exec(select(Region.bps_code)).all())


def upsert_indicators(session: Session, rows: list[IndicatorRow], *, now: datetime) -> dict[str, int]:
    """Insert new versions, update changed values; returns counts of inserted/updated/unchanged. Caller commits."""
    region_ids = {r.bps_code: row_id(r) for r in session.exec(select(Region)).all()}
    existing = {(v.region_id, v.indicator, v.year, v.source): v for v in session.exec(select(IndicatorValue)).all()}
    counts = Counter(inserted=0, updated=0, unchanged=0)
    for row in rows:
        region_id = region_ids[row.bps_code]
        current = existing.get((region_id, row.indicator, row.year, row.source))
        if current is None:
            session.add(
                IndicatorValue(
                    region_id=region_id,
                    indicator=row.indicator,
                    value=row.value,
                    year=row.year,
                    source=row.source,
                    imported_at=now,
                )
            )
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
    #: Nominees reconsidered after a not_selected decision: bps_code -> enrollment version now.
    reopened: dict[str, int] = field(default_factory=dict)
    #: The program's (pool, selected, declined) stages: nominated, selected, not_selected by default.
    stages: tuple[str, str, str] = ("nominated", "selected", "not_selected")

    @property
    def illustrative(self) -> bool:
        """True when any value used comes from an illustrative (simulated) source."""
        return any("illustrative" in s.lower() or "simulated" in s.lower() for s in self.sources)

    def provenance(self) -> str:
        """One line: which years and sources the values come from."""
        rule = f"year {self.year}" if self.exact_year else f"latest year up to {self.year}"
        years = ", ".join(map(str, self.years)) or "none"
        return f"indicator values: {rule} (used: {years}); source(s): {'; '.join(self.sources) or 'none'}"


def _pool_regions(session: Session, cohort: Cohort, stages: tuple[str, str, str]) -> list[tuple[Region, str, int]]:
    """Regions nominated to the cohort (with stage and version): still nominated, or whose first move was
    the selection decision (a region reconsidered after not_selected is nominated again, and in the pool).

    Counting already-decided regions keeps the pool the same when a selection is re-run (after a crash
    half-way, say), so the ranking and each region's decision do not change under a re-run.
    """
    first = aliased(StageTransition)
    rows = session.exec(
        select(Region, Enrollment.stage, first.to_stage, Enrollment.version)
        .join(Enrollment, col(Enrollment.region_id) == Region.id)
        .outerjoin(first, (col(first.enrollment_id) == Enrollment.id) & (col(first.version) == 1))
        .where(Enrollment.cohort_id == cohort.id)
        .order_by(col(Region.bps_code))
    ).all()
    pool, selected, declined = stages
    return [
        (r, stage, version)
        for r, stage, to, version in rows
        if (to is None and stage == pool) or to in (selected, declined)
    ]


def _chosen_values(
    session: Session, region_ids: list[int], year: int, exact: bool, source: str | None
) -> list[IndicatorValue]:
    """Per (region, indicator): the value of the latest eligible year, then the latest import, then source."""
    query = select(IndicatorValue).where(col(IndicatorValue.region_id).in_(region_ids))
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
    stages = program_of_cohort(session, row_id(target)).selection_stages()
    pooled = _pool_regions(session, target, stages)
    regions = [r for r, _, _ in pooled]
    if not regions:
        raise DomainRefused(f"cohort {cohort}: no nominated regions to select from")
    values = _chosen_values(session, [row_id(r) for r in regions], year or target.year, year is not None, source)
    if not values:
        which = f" from source {source!r}" if source else ""
        raise DomainRefused(
            f"cohort {cohort}: no indicator values for year {'' if year else '<= '}"
            f"{year or target.year}{which}; import some with `smartcity indicators import`"
        )
    per_region: dict[int, dict[str, float | None]] = {}
    for v in values:
        per_region.setdefault(v.region_id, {})[v.indicator] = v.value
    # Absent indicators stay absent: the policy's explicit `missing` rule decides, never a silent zero.
    nominees = [
        Nominee(
            bps_code=r.bps_code,
            name=r.name,
            province=r.province,
            population=r.population,
            indicators=per_region.get(row_id(r), {}),
        )
        for r in regions
    ]
    return NomineePool(
        cohort=target.name,
        year=year or target.year,
        exact_year=year is not None,
        nominees=nominees,
        sources=sorted({v.source for v in values}),
        years=sorted({v.year for v in values}),
        reopened={r.bps_code: version for r, stage, version in pooled if stage == stages[0] and version > 0},
        stages=stages,
    )


def nominees_for_cohort(
    session: Session, cohort: str, year: int | None = None, source: str | None = None
) -> list[Nominee]:
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
            to = self.pool.stages[1] if r.selected else self.pool.stages[2]
            reason = f"{self.result.policy_name}: {r.reason}"[:2000]
            # A reconsidered region is decided anew: its key names the version it was reopened at, so the
            # first decision's key (which would answer "duplicate" and leave it nominated) does not match.
            again = f":v{self.pool.reopened[r.bps_code]}" if r.bps_code in self.pool.reopened else ""
            out.append(
                StageChange(
                    region_code=r.bps_code,
                    to=to,
                    actor=actor,
                    reason=reason,
                    cohort=self.cohort,
                    expected_version=None,
                    idempotency_key=f"select:{self.cohort}:{r.bps_code}{again}->{to}",
                    flow_run_id=flow_run_id,
                )
            )
        return out

    def ranking_rows(self) -> list[dict[str, Any]]:
        """One row per nominee for a table artifact or JSON, floats rounded for reading."""
        return [
            {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()} for row in self.result.to_rows()
        ]

    def why_markdown(self) -> str:
        """The 'why' text: a plain illustrative banner if needed, provenance, equity rules, then the scorer's text."""
        lines = []
        if self.pool.illustrative:
            lines += [
                f"> **{ILLUSTRATIVE_LABEL}.** The numbers are simulated, not official data about any "
                "region; the ranking shows how the policy works, not how the ministry decided.",
                "",
            ]
        lines += [
            f"**Cohort:** {self.cohort}  ",
            f"**Nominees:** {len(self.result.regions)}  ",
            f"**{self.pool.provenance()}**",
            "",
            "## Equity rules",
            "",
        ]
        lines += _equity_lines(self.result)
        return "\n".join(lines) + "\n\n" + self.result.explain_markdown()

    def summary(self, outcomes: list[dict]) -> dict[str, Any]:
        """What a selection run did, for the CLI and the flow's return value."""
        status = Counter(o["status"] for o in outcomes)
        return {
            "cohort": self.cohort,
            "policy": self.result.policy_name,
            "illustrative": self.pool.illustrative,
            "sources": self.pool.sources,
            "years": self.pool.years,
            "selected": self.result.selected_codes,
            "applied": status["applied"],
            "duplicate": status["duplicate"],
            "unchanged": status["unchanged"],
            "refused": [f"{o['region_code']}: {o['error']}" for o in outcomes if o["status"] == "refused"],
            "notes": self.result.notes,
            "ranking": self.ranking_rows(),
            "quota": self.result.policy.quota,
            "warnings": missing_data_warnings(self.pool.nominees, self.result),
        }


def _equity_lines(result: SelectionResult) -> list[str]:
    policy = result.policy
    capped = [r for r in result.regions if r.equity_rule == "province_cap"]
    floored = [r for r in result.regions if r.equity_rule == "island_floor" and r.selected]  # not those it kept out
    cap = (
        f"at most {policy.max_per_province} region(s) per province"
        if policy.max_per_province
        else "off (no per-province limit)"
    )
    floor = policy.floor_text()
    return [
        f"- **Province cap:** {cap}; kept out by it: "
        + (", ".join(f"{r.name} ({r.bps_code}, rank {r.rank})" for r in capped) or "none"),
        f"- **Island floor:** {floor}; brought in by it: "
        + (", ".join(f"{r.name} ({r.bps_code}, rank {r.rank})" for r in floored) or "none"),
    ]


def plan_selection(
    session: Session, cohort: str, policy: SelectionPolicy, *, year: int | None = None, source: str | None = None
) -> SelectionPlan:
    """Score a cohort's nominees with the cohort's quota (the policy's only with quota_override, never above
    the cohort's); a disagreement between the two is a note of the result."""
    target = get_cohort(session, cohort)
    if policy.quota_override and policy.quota > target.quota:
        raise BadInput(
            f"policy {policy.name} selects {policy.quota} regions but cohort {target.name} has a quota "
            f"of {target.quota}; lower the policy's quota"
        )
    ruling, note = policy.for_cohort(target.name, target.quota)
    pool = nominee_pool(session, cohort, year, source)
    result = score(pool.nominees, ruling)
    if note:
        result.notes.insert(0, note)
    return SelectionPlan(pool, result)


def missing_data_warnings(nominees: list[Nominee], result: SelectionResult) -> list[str]:
    """Loud lines when nominees are excluded for missing indicators: how many, which indicators, and every
    island group or province that loses all its nominees that way."""
    missing = {n.bps_code: [i for i in sorted(result.policy.weights) if n.indicators.get(i) is None] for n in nominees}
    out_codes = {r.bps_code for r in result.regions if r.rank is None and missing.get(r.bps_code)}
    if not out_codes:
        return []
    gaps = Counter(i for code in out_codes for i in missing[code])
    named = ", ".join(f"{i} ({n})" for i, n in sorted(gaps.items()))
    lines = [
        f"{len(out_codes)} of {len(nominees)} nominee(s) excluded for missing data (missing: {named}); "
        "a decision made on them now is not_selected (reconsider it with `smartcity region reconsider`)"
    ]
    for what, key in (("island group", lambda n: n.island_group), ("province", lambda n: n.province)):
        groups: dict[str, list[Nominee]] = {}
        for n in nominees:
            groups.setdefault(key(n), []).append(n)
        for name, members in sorted(groups.items()):
            # A lone nominee's province is already in the count above; a whole island group never is.
            if all(m.bps_code in out_codes for m in members) and (what == "island group" or len(members) > 1):
                which = sorted({i for m in members for i in missing[m.bps_code]})
                lines.append(f"whole {what} {name} excluded ({len(members)} nominee(s)) for missing {', '.join(which)}")
    return lines


def apply_selection(
    session: Session, plan: SelectionPlan, actor: str, *, now: datetime, flow_run_id: str | None = None
) -> dict[str, Any]:
    """Apply the plan region by region through `change_stage` (each in its own transaction)."""
    outcomes = [apply_one(session, change, now=now) for change in plan.changes(actor, flow_run_id)]
    return plan.summary(outcomes)


def apply_one(session: Session, change: StageChange, *, now: datetime) -> dict[str, Any]:
    """One change as a dict; a refusal is an answer (status `refused`), not an exception."""
    try:
        return change_stage(session, change, now=now).as_dict()
    except SmartCityError as exc:
        return {"status": "refused", "region_code": change.region_code, "error": str(exc), "exit_code": exc.exit_code}
