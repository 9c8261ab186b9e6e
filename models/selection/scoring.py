"""Deterministic cohort-selection scoring for Gerakan Menuju 100 Smart City (pure Python, no I/O in `score`).

In 2017 the ministry chose the first 25 regions by weighing fiscal capacity, the high-performing list, the
Sustainable and Green City indices, leading sectors, readiness and Nawa Cita priorities, while making sure
the cohort reached all of Indonesia. This module replays such a choice from an explicit `SelectionPolicy`:
weighted normalised indicators, then two equity rules (a per-province cap and an island-group floor).
Every step is explainable: each `RegionScore` carries its contributions, rank, reason and equity flag.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from smartcity.models import DATA_DIR, POLICIES_DIR
from smartcity.models.core.errors import BadInput

__all__ = [
    "DEFAULT_POLICY_PATH",
    "ILLUSTRATIVE_INDICATORS_PATH",
    "ISLAND_GROUPS",
    "TIE_BREAK_KEYS",
    "Flip",
    "Nominee",
    "PolicyError",
    "RegionScore",
    "SelectionPolicy",
    "SelectionResult",
    "island_group",
    "load_nominees",
    "score",
    "whatif",
]

DEFAULT_POLICY_PATH = POLICIES_DIR / "selection_default.toml"
ILLUSTRATIVE_INDICATORS_PATH = DATA_DIR / "indicators_illustrative_2017.csv"

ISLAND_GROUPS: tuple[str, ...] = (
    "Sumatra",
    "Java",
    "Bali and Nusa Tenggara",
    "Kalimantan",
    "Sulawesi",
    "Maluku",
    "Papua",
)

# BPS province prefixes (first two digits of a region code) per island group. Ranges are inclusive and
# cover every province code of the 2018 region list (Papua Barat is 91, Papua is 94).
_GROUP_RANGES: tuple[tuple[int, int, str], ...] = (
    (11, 21, "Sumatra"),
    (31, 36, "Java"),
    (51, 53, "Bali and Nusa Tenggara"),
    (61, 65, "Kalimantan"),
    (71, 76, "Sulawesi"),
    (81, 82, "Maluku"),
    (91, 94, "Papua"),
)

TIE_BREAK_KEYS: tuple[str, ...] = ("population_desc", "population_asc", "bps_code")

EquityRule = Literal["province_cap", "island_floor", "excluded_missing"]


class PolicyError(BadInput, ValueError):
    """A selection policy file is unreadable or invalid; the message is one line naming the file."""


def island_group(province_code_or_bps_code: str | int) -> str:
    """Return the island group of a 2-digit province code or 4-digit BPS code (e.g. "3273" -> "Java")."""
    text = str(province_code_or_bps_code).strip().replace(".", "")
    if len(text) < 2 or not text[:2].isdigit():
        raise ValueError(f"not a BPS province/region code: {province_code_or_bps_code!r}")
    prefix = int(text[:2])
    for low, high, group in _GROUP_RANGES:
        if low <= prefix <= high:
            return group
    raise ValueError(f"no island group for code {province_code_or_bps_code!r} (province prefix {prefix})")


# --------------------------------------------------------------------------------------------- policy


class SelectionPolicy(BaseModel):
    """How nominees are weighed and how many are chosen; loaded from TOML so the weights are auditable."""

    # strict: a policy file with quota = "25" or weight = true is a typo, not something to coerce.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1)
    source: str = Field(min_length=1)
    weights: dict[str, float]
    normalisation: Literal["minmax", "zscore"] = "minmax"
    quota: int
    max_per_province: int | None = None
    min_per_island_group: Literal[0, 1] = 1
    missing: Literal["exclude", "impute_median", "impute_min"] = "exclude"
    tie_breaks: list[str] = Field(default_factory=list)
    higher_is_better: dict[str, bool] = Field(default_factory=dict)

    @field_validator("weights")
    @classmethod
    def _weights_positive(cls, weights: dict[str, float]) -> dict[str, float]:
        if not weights:
            raise ValueError("weights must name at least one indicator")
        for indicator, weight in weights.items():
            if not math.isfinite(weight) or weight <= 0:
                raise ValueError(f"weight of '{indicator}' must be a finite number > 0 (got {weight})")
        return weights

    @field_validator("quota")
    @classmethod
    def _quota_positive(cls, quota: int) -> int:
        if quota < 1:
            raise ValueError(f"quota must be >= 1 (got {quota})")
        return quota

    @field_validator("max_per_province")
    @classmethod
    def _cap_positive(cls, cap: int | None) -> int | None:
        if cap is not None and cap < 1:
            raise ValueError(f"max_per_province must be >= 1 or absent (got {cap})")
        return cap

    @field_validator("min_per_island_group", mode="before")
    @classmethod
    def _floor_not_bool(cls, value: Any) -> Any:
        # Literal[0, 1] would accept true/false (True == 1); the file should say 0 or 1.
        if isinstance(value, bool):
            raise ValueError(f"must be 0 or 1, not {str(value).lower()}")  # noqa: TRY004 (pydantic needs ValueError)
        return value

    @field_validator("tie_breaks")
    @classmethod
    def _known_tie_breaks(cls, keys: list[str]) -> list[str]:
        for key in keys:
            if key not in TIE_BREAK_KEYS:
                raise ValueError(f"unknown tie-break key '{key}' (allowed: {', '.join(TIE_BREAK_KEYS)})")
        if len(set(keys)) != len(keys):
            raise ValueError(f"tie-break keys repeat: {keys}")
        return keys

    @model_validator(mode="after")
    def _directions_known(self) -> SelectionPolicy:
        unknown = sorted(set(self.higher_is_better) - set(self.weights))
        if unknown:
            raise ValueError(f"higher_is_better names indicators without a weight: {', '.join(unknown)}")
        return self

    def is_higher_better(self, indicator: str) -> bool:
        """Whether a larger raw value of `indicator` is better (default True)."""
        return self.higher_is_better.get(indicator, True)

    @classmethod
    def from_toml(cls, path: str | Path) -> SelectionPolicy:
        """Load a policy from TOML; raise PolicyError with one line (file name + problem) when invalid."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PolicyError(f"{path.name}: file not found ({path})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PolicyError(f"{path.name}: invalid TOML: {_one_line(str(exc))}") from None
        except OSError as exc:
            raise PolicyError(f"{path.name}: cannot read ({exc.strerror or exc})") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise PolicyError(f"{path.name}: {_describe_validation(exc)}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe_validation(exc: ValidationError) -> str:
    """Turn pydantic's multi-line report into '; '-joined phrases a coordinator can act on."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{loc}'")
        elif err["type"] == "missing":
            parts.append(f"missing required key '{loc}'")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            shown = repr(err.get("input"))
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            got = "" if "(got " in msg else f" (got {shown})"  # our own validators already say it
            parts.append(f"{loc or 'policy'}: {msg}{got}")
    return _one_line("; ".join(parts))


# -------------------------------------------------------------------------------------------- nominees


class Nominee(BaseModel):
    """A region put forward for the cohort, with its raw indicator values (None = missing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bps_code: str = Field(pattern=r"^\d{4}$")
    name: str
    province: str
    province_code: str | None = Field(default=None, pattern=r"^\d{2}$")
    population: int | None = Field(default=None, ge=0)
    indicators: dict[str, float | None] = Field(default_factory=dict)

    @field_validator("indicators")
    @classmethod
    def _finite_or_missing(cls, values: dict[str, float | None]) -> dict[str, float | None]:
        # NaN is how spreadsheets say "no value": treat it as missing, never as a number.
        cleaned: dict[str, float | None] = {}
        for key, value in values.items():
            if value is not None and math.isinf(value):
                raise ValueError(f"indicator '{key}' is infinite")
            cleaned[key] = None if value is None or math.isnan(value) else value
        return cleaned

    @model_validator(mode="after")
    def _group_known(self) -> Nominee:
        island_group(self.province_key)  # raises for a code outside every island group
        return self

    @property
    def province_key(self) -> str:
        """Two-digit province code used for the province cap (given, or the BPS code prefix)."""
        return self.province_code or self.bps_code[:2]

    @property
    def island_group(self) -> str:
        """Island group derived from the province code."""
        return island_group(self.province_key)


def load_nominees(indicators_csv: str | Path, regions_csv: str | Path) -> list[Nominee]:
    """Build nominees from a long `bps_code,indicator,value,...` CSV joined to the regions CSV."""
    regions = {row["bps_code"]: row for row in _read_csv(regions_csv)}
    values: dict[str, dict[str, float | None]] = {}
    for line, row in enumerate(_read_csv(indicators_csv), start=2):
        code, indicator = row["bps_code"].strip(), row["indicator"].strip()
        if code not in regions:
            raise ValueError(f"{Path(indicators_csv).name}:{line}: unknown bps_code {code!r}")
        per_region = values.setdefault(code, {})
        if indicator in per_region:
            raise ValueError(f"{Path(indicators_csv).name}:{line}: {code} {indicator} given twice")
        raw = row["value"].strip()
        per_region[indicator] = float(raw) if raw else None
    return [_nominee_from_region(regions[code], inds) for code, inds in sorted(values.items())]


def _read_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _nominee_from_region(region: dict[str, str], indicators: dict[str, float | None]) -> Nominee:
    population = (region.get("population_2025") or "").strip()
    return Nominee(
        bps_code=region["bps_code"],
        name=region["name"],
        province=region["province"],
        province_code=region.get("province_code") or None,
        population=int(population) if population else None,
        indicators=indicators,
    )


# --------------------------------------------------------------------------------------------- results


@dataclass
class RegionScore:
    """One nominee's outcome: score, rank (None if not eligible), selection and the reason for it."""

    bps_code: str
    name: str
    province: str
    island_group: str
    total: float | None
    contributions: dict[str, float]
    imputed: list[str]
    rank: int | None
    selected: bool
    reason: str
    equity_rule: EquityRule | None = None
    population: int | None = None


@dataclass
class SelectionResult:
    """All region scores sorted by rank (ineligible last), the selected codes and run notes."""

    policy_name: str
    policy: SelectionPolicy
    regions: list[RegionScore]
    selected_codes: list[str]
    notes: list[str] = field(default_factory=list)

    def by_code(self, bps_code: str) -> RegionScore:
        """Return the score of one region (KeyError if it was not a nominee)."""
        for region in self.regions:
            if region.bps_code == bps_code:
                return region
        raise KeyError(bps_code)

    def to_rows(self) -> list[dict[str, Any]]:
        """Flat rows (one per region, contribution columns per indicator) for a table or CSV."""
        indicators = sorted(self.policy.weights)
        rows = []
        for r in self.regions:
            row: dict[str, Any] = {
                "rank": r.rank, "bps_code": r.bps_code, "name": r.name, "province": r.province,
                "island_group": r.island_group, "total": r.total, "selected": r.selected,
                "equity_rule": r.equity_rule, "imputed": ",".join(r.imputed), "reason": r.reason,
            }
            row.update({f"contrib_{ind}": r.contributions.get(ind) for ind in indicators})
            rows.append(row)
        return rows

    def explain_markdown(self) -> str:
        """A markdown 'why' text: the policy, then each selected and each notable rejected region."""
        lines = _policy_markdown(self.policy)
        selected = [r for r in self.regions if r.selected]
        lines += ["", f"## Selected ({len(selected)} of quota {self.policy.quota})", ""]
        lines += [_region_line(r) for r in selected]
        notable = _notable_rejections(self.regions)
        if notable:
            lines += ["", "## Notable rejections", ""]
            lines += [_region_line(r) for r in notable]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _policy_markdown(policy: SelectionPolicy) -> list[str]:
    total_weight = math.fsum(policy.weights.values())
    cap = policy.max_per_province if policy.max_per_province is not None else "none"
    lines = [
        f"# Cohort selection: {policy.name}",
        "",
        f"**Source of the weights:** {policy.source}",
        "",
        f"- normalisation: {policy.normalisation}; missing indicators: {policy.missing}",
        (f"- quota: {policy.quota}; max per province: {cap}; "
         f"island-group floor: {'on' if policy.min_per_island_group else 'off'}"),
        f"- tie-breaks: {', '.join([*policy.tie_breaks, 'bps_code'])}",
        "",
        "| indicator | weight | share | better when |",
        "|---|---:|---:|---|",
    ]
    for ind in sorted(policy.weights):
        share = policy.weights[ind] / total_weight
        direction = "higher" if policy.is_higher_better(ind) else "lower"
        lines.append(f"| {ind} | {policy.weights[ind]:g} | {share:.1%} | {direction} |")
    return lines


def _region_line(r: RegionScore) -> str:
    flag = f" **[equity rule: {r.equity_rule}]**" if r.equity_rule else ""
    rank = f"rank {r.rank}" if r.rank is not None else "unranked"
    total = f", total {r.total:.3f}" if r.total is not None else ""
    imputed = f" (imputed: {', '.join(r.imputed)})" if r.imputed else ""
    return f"- **{r.name}** ({r.bps_code}, {r.province}, {r.island_group}) {rank}{total}: {r.reason}{imputed}{flag}"


def _notable_rejections(regions: list[RegionScore], runners_up: int = 3) -> list[RegionScore]:
    """Rejected regions worth explaining: moved by an equity rule, excluded, or just below the cut."""
    notable = [r for r in regions if not r.selected and (r.equity_rule or "displaced" in r.reason)]
    seen = {r.bps_code for r in notable}
    below = [r for r in regions if not r.selected and r.rank is not None and r.bps_code not in seen]
    return sorted(notable + below[:runners_up], key=lambda r: (r.rank is None, r.rank or 0, r.bps_code))


@dataclass(frozen=True)
class Flip:
    """A region selected under one policy and not the other, with its rank under each."""

    bps_code: str
    name: str
    selected_a: bool
    selected_b: bool
    rank_a: int | None
    rank_b: int | None


# ------------------------------------------------------------------------------------------ scoring


@dataclass
class _Entry:
    """Internal per-eligible-nominee working record."""

    nominee: Nominee
    group: str
    values: dict[str, float]
    imputed: list[str]
    total: float = 0.0
    contributions: dict[str, float] = field(default_factory=dict)
    rank: int = 0


def score(nominees: Iterable[Nominee], policy: SelectionPolicy) -> SelectionResult:
    """Score, rank and select nominees under `policy`; pure and independent of input order."""
    ordered = _sorted_unique(nominees)
    notes: list[str] = []
    entries, excluded = _apply_missing(ordered, policy, notes)
    _compute_totals(entries, policy, notes)
    ranked = sorted(entries, key=_rank_key(policy))
    for position, entry in enumerate(ranked, start=1):
        entry.rank = position
    outcome = _Outcome.decide(ranked, policy, notes)
    regions = [_region_score(e, outcome, policy) for e in ranked]
    regions += [_excluded_score(n, why) for n, why in excluded]
    selected_codes = [r.bps_code for r in regions if r.selected]
    return SelectionResult(policy.name, policy, regions, selected_codes, notes)


def _sorted_unique(nominees: Iterable[Nominee]) -> list[Nominee]:
    # Sorting by code first makes every later step independent of the caller's order.
    ordered = sorted(nominees, key=lambda n: n.bps_code)
    for before, after in pairwise(ordered):
        if before.bps_code == after.bps_code:
            raise ValueError(f"nominee {after.bps_code} appears more than once")
    return ordered


def _apply_missing(
    nominees: list[Nominee], policy: SelectionPolicy, notes: list[str]
) -> tuple[list[_Entry], list[tuple[Nominee, str]]]:
    """Apply the policy's explicit missing-value rule; return eligible entries and exclusions."""
    indicators = sorted(policy.weights)
    fills = _imputation_values(nominees, indicators, policy.missing)
    entries, excluded = [], []
    for nominee in nominees:
        missing = [i for i in indicators if nominee.indicators.get(i) is None]
        unfillable = [i for i in missing if fills.get(i) is None]
        if unfillable:
            excluded.append((nominee, f"missing indicator {', '.join(unfillable)}"))
            continue
        values = {i: nominee.indicators[i] if i not in missing else fills[i] for i in indicators}
        entries.append(_Entry(nominee, nominee.island_group, values, missing))
    _note_missing(entries, excluded, policy, notes)
    return entries, excluded


def _imputation_values(nominees: list[Nominee], indicators: list[str], rule: str) -> dict[str, float | None]:
    """Per-indicator fill value from observed values (None: rule is 'exclude' or nothing observed)."""
    if rule == "exclude":
        return {}
    fills: dict[str, float | None] = {}
    for indicator in indicators:
        observed = sorted(v for n in nominees if (v := n.indicators.get(indicator)) is not None)
        if not observed:
            fills[indicator] = None
        elif rule == "impute_min":
            fills[indicator] = observed[0]
        else:
            mid = len(observed) // 2
            odd = len(observed) % 2
            fills[indicator] = observed[mid] if odd else (observed[mid - 1] + observed[mid]) / 2
    return fills


def _note_missing(
    entries: list[_Entry], excluded: list[tuple[Nominee, str]], policy: SelectionPolicy, notes: list[str]
) -> None:
    if excluded:
        notes.append(f"{len(excluded)} nominee(s) not eligible because of missing indicators (rule '{policy.missing}')")
    imputed = sum(len(e.imputed) for e in entries)
    if imputed:
        method = "median" if policy.missing == "impute_median" else "minimum"
        notes.append(f"{imputed} missing value(s) imputed with the observed {method} of the indicator")


def _compute_totals(entries: list[_Entry], policy: SelectionPolicy, notes: list[str]) -> None:
    """Normalise each indicator over eligible entries; total = sum(w * norm) / sum(w)."""
    if not entries:
        return
    weight_sum = math.fsum(policy.weights.values())
    for indicator in sorted(policy.weights):
        column = [e.values[indicator] for e in entries]
        normed = _normalise(column, policy.normalisation, policy.is_higher_better(indicator))
        if normed is None:
            notes.append(f"indicator '{indicator}' has the same value for every eligible nominee: "
                         "normalised to 0 for everyone (it contributes nothing)")
            normed = [0.0] * len(column)
        share = policy.weights[indicator] / weight_sum
        for entry, value in zip(entries, normed, strict=True):
            entry.contributions[indicator] = share * value
    for entry in entries:
        # Sum in sorted indicator order so equal inputs give bit-identical totals.
        entry.total = math.fsum(entry.contributions[i] for i in sorted(entry.contributions))


def _normalise(column: list[float], method: str, higher_is_better: bool) -> list[float] | None:
    """Min-max to [0, 1] or z-score, oriented so larger is better; None when all values are equal."""
    low, high = min(column), max(column)
    if low == high:
        return None
    if method == "minmax":
        span = high - low
        # Compute the inverted form directly (not 1 - x) so an inverted minimum is exactly 1.
        if higher_is_better:
            return [(v - low) / span for v in column]
        return [(high - v) / span for v in column]
    mean = math.fsum(column) / len(column)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in column) / len(column))
    sign = 1.0 if higher_is_better else -1.0
    return [sign * (v - mean) / sd for v in column]


def _rank_key(policy: SelectionPolicy):
    """Sort key: best total first, then the policy's tie-breaks, then bps_code for determinism."""

    def key(entry: _Entry) -> tuple:
        nominee = entry.nominee
        parts: list[Any] = [-entry.total]
        for tie_break in policy.tie_breaks:
            pop = nominee.population
            if tie_break == "population_desc":
                parts += [pop is None, -(pop or 0)]  # unknown population sorts last
            elif tie_break == "population_asc":
                parts += [pop is None, pop or 0]
            else:
                parts.append(nominee.bps_code)
        parts.append(nominee.bps_code)
        return tuple(parts)

    return key


# ---------------------------------------------------------------------------------------- selection


def _greedy(ranked: list[_Entry], policy: SelectionPolicy, reserved: list[_Entry]) -> tuple[list[str], set[str]]:
    """Fill the quota by rank after `reserved`, skipping full provinces; return (chosen, cap-skipped)."""
    chosen = [e.nominee.bps_code for e in reserved]
    taken = set(chosen)
    per_province = Counter(e.nominee.province_key for e in reserved)
    cap = policy.max_per_province
    cap_skipped: set[str] = set()
    for entry in ranked:
        code, province = entry.nominee.bps_code, entry.nominee.province_key
        if code in taken:
            continue
        if cap is not None and per_province[province] >= cap:
            # Checked before the quota so a region inside the quota but blocked by the cap is known.
            cap_skipped.add(code)
        elif len(chosen) < policy.quota:
            chosen.append(code)
            taken.add(code)
            per_province[province] += 1
    return chosen, cap_skipped


def _floor_picks(ranked: list[_Entry], policy: SelectionPolicy) -> tuple[list[_Entry], list[str]]:
    """Best-ranked eligible nominee per island group, in rank order, at most `quota` of them."""
    if policy.min_per_island_group == 0:
        return [], []
    best: dict[str, _Entry] = {}
    for entry in ranked:  # rank order, so the first seen per group is its best
        best.setdefault(entry.group, entry)
    # One pick per group means one per province, so a cap >= 1 can never block a floor pick.
    picks = list(best.values())
    return picks[: policy.quota], [group for group in ISLAND_GROUPS if group not in best]


@dataclass
class _Outcome:
    """The decisions of one selection run plus the baselines used to flag equity rules."""

    quota: int
    selected: set[str]
    floor: set[str]
    cap_skipped: set[str]
    baseline_with_cap: set[str]

    @classmethod
    def decide(cls, ranked: list[_Entry], policy: SelectionPolicy, notes: list[str]) -> _Outcome:
        """Reserve island-floor picks, fill greedily by rank under the cap, and record baselines."""
        floor, uncovered = _floor_picks(ranked, policy)
        chosen, cap_skipped = _greedy(ranked, policy, floor)
        baseline, _ = _greedy(ranked, policy, [])
        _note_selection(ranked, policy, floor, uncovered, chosen, notes)
        return cls(
            quota=policy.quota,
            selected=set(chosen),
            floor={e.nominee.bps_code for e in floor},
            cap_skipped=cap_skipped,
            baseline_with_cap=set(baseline),
        )


def _note_selection(
    ranked: list[_Entry], policy: SelectionPolicy, floor: list[_Entry], uncovered: list[str],
    chosen: list[str], notes: list[str],
) -> None:
    groups_with_nominee = len({e.group for e in ranked})
    if policy.quota >= len(ranked):
        notes.append(f"quota {policy.quota} is not smaller than the {len(ranked)} eligible nominee(s): every "
                     "eligible nominee is selected unless the province cap forbids it")
    if policy.min_per_island_group and groups_with_nominee > policy.quota:
        notes.append(f"island-group floor: {groups_with_nominee} groups have eligible nominees but the quota is "
                     f"{policy.quota}; reserved the groups whose best nominee ranks highest")
    if policy.min_per_island_group and uncovered:
        notes.append(f"island-group floor: no eligible nominee from {', '.join(uncovered)}, so the floor "
                     "cannot apply there")
    if len(chosen) < min(policy.quota, len(ranked)):
        notes.append(f"only {len(chosen)} selected for quota {policy.quota}: the province cap "
                     f"({policy.max_per_province}) blocks the remaining eligible nominees")


def _region_score(entry: _Entry, outcome: _Outcome, policy: SelectionPolicy) -> RegionScore:
    nominee = entry.nominee
    reason, rule = _reason(entry, outcome, policy)
    return RegionScore(
        bps_code=nominee.bps_code, name=nominee.name, province=nominee.province, island_group=entry.group,
        total=entry.total, contributions=dict(entry.contributions), imputed=list(entry.imputed),
        rank=entry.rank, selected=nominee.bps_code in outcome.selected, reason=reason,
        equity_rule=rule, population=nominee.population,
    )


def _reason(entry: _Entry, outcome: _Outcome, policy: SelectionPolicy) -> tuple[str, EquityRule | None]:
    """Explain the decision and flag the equity rule that changed it, if any."""
    code, rank, quota = entry.nominee.bps_code, entry.rank, outcome.quota
    if code in outcome.selected:
        if code in outcome.floor and code not in outcome.baseline_with_cap:
            return f"selected by the island-group floor: best-ranked nominee of {entry.group}", "island_floor"
        if rank <= quota:
            return f"selected: rank {rank} is within the quota of {quota}", None
        return (f"selected: rank {rank} is outside the quota of {quota}, but higher-ranked regions were "
                "blocked by the province cap"), None
    if code in outcome.cap_skipped:
        full = f"{entry.nominee.province} already has {policy.max_per_province} selected region(s)"
        if rank <= quota:
            return f"not selected: rank {rank} is within the quota of {quota} but {full}", "province_cap"
        return f"not selected: rank {rank} is outside the quota of {quota} (and {full})", None
    if code in outcome.baseline_with_cap:
        return (f"not selected: rank {rank} would qualify under rank order and the cap, but its place was "
                "displaced by an island-group floor pick"), None
    return f"not selected: rank {rank} is below the cut-off of the quota of {quota}", None


def _excluded_score(nominee: Nominee, why: str) -> RegionScore:
    return RegionScore(
        bps_code=nominee.bps_code, name=nominee.name, province=nominee.province,
        island_group=nominee.island_group, total=None, contributions={}, imputed=[], rank=None,
        selected=False, reason=f"not eligible: {why}", equity_rule="excluded_missing",
        population=nominee.population,
    )


def whatif(nominees: Sequence[Nominee], policy_a: SelectionPolicy, policy_b: SelectionPolicy) -> list[Flip]:
    """Regions whose selected flag differs between two policies, with both ranks, by bps_code."""
    result_a, result_b = score(nominees, policy_a), score(nominees, policy_b)
    b_by_code = {r.bps_code: r for r in result_b.regions}
    flips = []
    for a in sorted(result_a.regions, key=lambda r: r.bps_code):
        b = b_by_code[a.bps_code]
        if a.selected != b.selected:
            flips.append(Flip(a.bps_code, a.name, a.selected, b.selected, a.rank, b.rank))
    return flips
