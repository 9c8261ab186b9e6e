"""Deterministic cohort-selection scoring for Gerakan Menuju 100 Smart City (pure Python, no I/O in `score`).

In 2017 the ministry chose the first 25 regions by weighing fiscal capacity, the high-performing list, the
Sustainable and Green City indices, leading sectors, readiness and Nawa Cita priorities, while making sure
the cohort reached all of Indonesia. This module replays such a choice from an explicit `SelectionPolicy`:
weighted normalised indicators, then two equity rules (a per-province cap and island-group floors).
Every step is explainable: each `RegionScore` carries its contributions, rank, reason and equity flag, and
the flag names the rule that decided the region whenever rank order alone does not explain its outcome.
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
from smartcity.models.infra.markdown import md_table

__all__ = [
    "DEFAULT_POLICY_PATH",
    "ILLUSTRATIVE_INDICATORS_PATH",
    "ISLAND_GROUPS",
    "TIE_BREAK_KEYS",
    "Flip",
    "InfeasiblePolicy",
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


class InfeasiblePolicy(BadInput, ValueError):
    """A valid policy whose equity rules cannot all be met by these nominees; one line naming the rule."""


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
    # The cohort's quota rules: the policy's `quota` is what `score` uses on a bare list of nominees, and
    # replaces a cohort's quota only with `quota_override = true` (never above the cohort's; see
    # `for_cohort`), so a cohort created with --quota 50 is not silently cut to a policy's 25.
    quota: int
    quota_override: bool = False
    max_per_province: int | None = None
    # The floor of every island group that has an eligible nominee; `island_group_floors` overrides it per
    # group and, being explicit, also applies to a group without nominees (which then cannot be met).
    min_per_island_group: int = 1
    island_group_floors: dict[str, int] = Field(default_factory=dict)
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

    @field_validator("min_per_island_group")
    @classmethod
    def _floor_not_negative(cls, floor: int) -> int:
        if floor < 0:
            raise ValueError(f"must be a whole number >= 0 (got {floor})")
        return floor

    @field_validator("island_group_floors")
    @classmethod
    def _group_floors_known(cls, floors: dict[str, int]) -> dict[str, int]:
        for group, floor in floors.items():
            if group not in ISLAND_GROUPS:
                raise ValueError(f"unknown island group '{group}' (valid: {', '.join(ISLAND_GROUPS)})")
            if floor < 0:
                raise ValueError(f"floor of {group} must be a whole number >= 0 (got {floor})")
        return floors

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

    @model_validator(mode="after")
    def _group_floors_fit_quota(self) -> SelectionPolicy:
        # Only the named floors are known before the nominees; `score` checks the rest when it has them.
        total = sum(self.island_group_floors.values())
        if total > self.quota:
            raise ValueError(f"island-group floors add up to {total}, more than the quota of {self.quota}")
        return self

    def for_cohort(self, cohort: str, cohort_quota: int) -> tuple[SelectionPolicy, str | None]:
        """This policy with the quota that rules for the cohort, and a note when policy and cohort disagree."""
        if self.quota == cohort_quota:
            return self, None
        if self.quota_override:
            return self, (
                f"quota: the policy's {self.quota} overrides cohort {cohort}'s quota of {cohort_quota} "
                "(quota_override = true)"
            )
        note = (
            f"quota: cohort {cohort}'s quota of {cohort_quota} rules; the policy's quota of {self.quota} is not "
            "applied (set quota_override = true in the policy to apply it)"
        )
        # model_copy skips validation: check the named floors against the quota actually used.
        named = sum(self.island_group_floors.values())
        if named > cohort_quota:
            raise InfeasiblePolicy(
                f"policy {self.name}: island-group floors add up to {named}, more than cohort "
                f"{cohort}'s quota of {cohort_quota}"
            )
        return self.model_copy(update={"quota": cohort_quota}), note

    def floor_of(self, group: str, has_nominee: bool = True) -> int:
        """The floor of one island group: its own floor, else the blanket floor if it has an eligible nominee."""
        if group in self.island_group_floors:
            return self.island_group_floors[group]
        return self.min_per_island_group if has_nominee else 0

    def floor_text(self) -> str:
        """The floors in words, for explanations (e.g. 'at least 3 region(s) per island group ...; Papua 2')."""
        parts = []
        if self.min_per_island_group:
            parts.append(
                f"at least {self.min_per_island_group} region(s) per island group that has an eligible nominee"
            )
        if self.island_group_floors:
            parts.append("per group: " + ", ".join(f"{group} {floor}" for group, floor in self._named_floors()))
        return "; ".join(parts) or "off"

    def _named_floors(self) -> list[tuple[str, int]]:
        """The per-group floors in island-group order."""
        return [
            (group, self.island_group_floors[group]) for group in ISLAND_GROUPS if group in self.island_group_floors
        ]

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
                "rank": r.rank,
                "bps_code": r.bps_code,
                "name": r.name,
                "province": r.province,
                "island_group": r.island_group,
                "total": r.total,
                "selected": r.selected,
                "equity_rule": r.equity_rule,
                "imputed": ",".join(r.imputed),
                "reason": r.reason,
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
        f"- quota: {policy.quota}; max per province: {cap}; island-group floor: {policy.floor_text()}",
        f"- tie-breaks: {', '.join([*policy.tie_breaks, 'bps_code'])}",
        "",
    ]
    rows = [
        [
            ind,
            f"{policy.weights[ind]:g}",
            f"{policy.weights[ind] / total_weight:.1%}",
            "higher" if policy.is_higher_better(ind) else "lower",
        ]
        for ind in sorted(policy.weights)
    ]
    return [
        *lines,
        *md_table(
            ["indicator", "weight", "share", "better when"], rows, align=[None, "right", "right", None]
        ).splitlines(),
    ]


def _region_line(r: RegionScore) -> str:
    flag = f" **[equity rule: {r.equity_rule}]**" if r.equity_rule else ""
    rank = f"rank {r.rank}" if r.rank is not None else "unranked"
    total = f", total {r.total:.3f}" if r.total is not None else ""
    imputed = f" (imputed: {', '.join(r.imputed)})" if r.imputed else ""
    return f"- **{r.name}** ({r.bps_code}, {r.province}, {r.island_group}) {rank}{total}: {r.reason}{imputed}{flag}"


def _notable_rejections(regions: list[RegionScore], runners_up: int = 3) -> list[RegionScore]:
    """Rejected regions worth explaining: moved by an equity rule, excluded, or just below the cut."""
    notable = [r for r in regions if not r.selected and r.equity_rule]
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
        filled = {i: fills.get(i) if i in missing else nominee.indicators.get(i) for i in indicators}
        unfillable = [i for i in missing if filled[i] is None]
        if unfillable:
            excluded.append((nominee, f"missing indicator {', '.join(unfillable)}"))
            continue
        values = {i: v for i, v in filled.items() if v is not None}  # every one, now that none is unfillable
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
            notes.append(
                f"indicator '{indicator}' has the same value for every eligible nominee: "
                "normalised to 0 for everyone (it contributes nothing)"
            )
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
#
# Floors first, then rank order: each island group's best-ranked nominees up to its floor are reserved
# (within the province cap), and the remaining places go by rank to nominees whose province is not full.
# The explanation is read off the outcome afterwards, so it cannot drift from what was decided: a region
# that is out while a lower-ranked region is in names the equity rule that kept it out, and a floor pick
# that jumped ahead of such a region is flagged as brought in by the floor.


def _floors(ranked: list[_Entry], policy: SelectionPolicy) -> dict[str, int]:
    """The floor each island group must reach with these eligible nominees (0 where none applies)."""
    present = {e.group for e in ranked}
    return {group: policy.floor_of(group, group in present) for group in ISLAND_GROUPS}


def _check_feasible(ranked: list[_Entry], policy: SelectionPolicy, floors: dict[str, int]) -> None:
    """Refuse floors that the quota, the eligible nominees or the province cap cannot meet (one line each)."""
    prefix = f"policy '{policy.name}': "
    total = sum(floors.values())
    if total > policy.quota:
        named = ", ".join(f"{group} {floor}" for group, floor in floors.items() if floor)
        raise InfeasiblePolicy(
            f"{prefix}the island-group floors add up to {total} ({named}), more than the quota of {policy.quota}"
        )
    per_province = Counter(e.nominee.province_key for e in ranked)
    for group, floor in floors.items():
        counts = [n for province, n in per_province.items() if island_group(province) == group]
        if floor > sum(counts):
            raise InfeasiblePolicy(
                f"{prefix}the island-group floor of {floor} for {group} cannot be met: only "
                f"{sum(counts)} eligible nominee(s) in {group}"
            )
        cap = policy.max_per_province
        room = sum(counts) if cap is None else sum(min(n, cap) for n in counts)
        if floor > room:
            raise InfeasiblePolicy(
                f"{prefix}the island-group floor of {floor} for {group} cannot be met under the "
                f"province cap of {cap}: its eligible nominees are in {len(counts)} province(s), "
                f"which allow at most {room}"
            )


def _has_room(selected_in_province: int, policy: SelectionPolicy) -> bool:
    """Whether a province with this many selected regions may take one more under the cap."""
    return policy.max_per_province is None or selected_in_province < policy.max_per_province


def _reserve_floors(ranked: list[_Entry], policy: SelectionPolicy, floors: dict[str, int]) -> list[_Entry]:
    """Each group's best-ranked nominees up to its floor, within the province cap, in rank order."""
    need = dict(floors)
    per_province: Counter[str] = Counter()
    picks = []
    for entry in ranked:
        province = entry.nominee.province_key
        if need[entry.group] > 0 and _has_room(per_province[province], policy):
            picks.append(entry)
            need[entry.group] -= 1
            per_province[province] += 1
    return picks


def _greedy(ranked: list[_Entry], policy: SelectionPolicy, reserved: list[_Entry]) -> list[str]:
    """Fill the quota by rank after `reserved`, skipping provinces that reached the cap."""
    chosen = [e.nominee.bps_code for e in reserved]
    taken = set(chosen)
    per_province = Counter(e.nominee.province_key for e in reserved)
    for entry in ranked:
        if len(chosen) >= policy.quota:
            break
        code, province = entry.nominee.bps_code, entry.nominee.province_key
        if code not in taken and _has_room(per_province[province], policy):
            chosen.append(code)
            taken.add(code)
            per_province[province] += 1
    return chosen


@dataclass
class _Outcome:
    """The decisions of one selection run and, per eligible region, the equity rule that decided it."""

    policy: SelectionPolicy
    floors: dict[str, int]
    selected: set[str]
    baseline: set[str]  # chosen by rank order and the cap alone: only for wording a floor displacement
    rules: dict[str, EquityRule | None] = field(default_factory=dict)
    above_in_province: dict[str, int] = field(default_factory=dict)
    jumping_picks: list[_Entry] = field(default_factory=list)

    @classmethod
    def decide(cls, ranked: list[_Entry], policy: SelectionPolicy, notes: list[str]) -> _Outcome:
        """Check the floors can be met, reserve them, fill by rank under the cap, then attribute each outcome."""
        floors = _floors(ranked, policy)
        _check_feasible(ranked, policy, floors)
        reserved = _reserve_floors(ranked, policy, floors)
        chosen = _greedy(ranked, policy, reserved)
        baseline = _greedy(ranked, policy, []) if reserved else chosen
        _note_selection(ranked, policy, chosen, notes)
        outcome = cls(policy, floors, set(chosen), set(baseline))
        outcome._attribute(ranked, {e.nominee.bps_code for e in reserved})
        return outcome

    def _attribute(self, ranked: list[_Entry], floor_picks: set[str]) -> None:
        """Name the rule behind every outcome that rank order alone does not explain."""
        last_in = max((e.rank for e in ranked if e.nominee.bps_code in self.selected), default=0)
        quota_left = len(self.selected) < self.policy.quota
        per_province: Counter[str] = Counter()
        first_floor_loss: int | None = None
        for entry in ranked:  # rank order, so the counter holds the selected regions ranked above
            code, province = entry.nominee.bps_code, entry.nominee.province_key
            self.above_in_province[code] = per_province[province]
            if code in self.selected:
                per_province[province] += 1
                continue
            lower_in = entry.rank < last_in
            if not _has_room(per_province[province], self.policy) and (lower_in or quota_left):
                self.rules[code] = "province_cap"  # rank alone would have let it in: its province was full
            elif lower_in:
                self.rules[code] = "island_floor"  # a floor pick ranked below took the place it would have had
                first_floor_loss = entry.rank if first_floor_loss is None else first_floor_loss
            else:
                self.rules[code] = None
        for entry in ranked:
            code = entry.nominee.bps_code
            if code in self.selected:
                jumped = first_floor_loss is not None and entry.rank > first_floor_loss
                self.rules[code] = "island_floor" if jumped and code in floor_picks else None
                if self.rules[code]:
                    self.jumping_picks.append(entry)

    def groups_brought_in_below(self, rank: int) -> str:
        """The island groups of floor picks ranked below `rank`, best first (e.g. 'Papua, Maluku')."""
        groups = dict.fromkeys(e.group for e in self.jumping_picks if e.rank > rank)
        return ", ".join(groups)


def _note_selection(ranked: list[_Entry], policy: SelectionPolicy, chosen: list[str], notes: list[str]) -> None:
    """Notes on a selection that is smaller than asked or whose blanket floor has groups without nominees."""
    if policy.quota >= len(ranked):
        notes.append(
            f"quota {policy.quota} is not smaller than the {len(ranked)} eligible nominee(s): every "
            "eligible nominee is selected unless the province cap forbids it"
        )
    present = {e.group for e in ranked}
    uncovered = [g for g in ISLAND_GROUPS if g not in present and g not in policy.island_group_floors]
    if policy.min_per_island_group and uncovered:
        notes.append(
            f"island-group floor: no eligible nominee from {', '.join(uncovered)}, so the floor cannot apply there"
        )
    if len(chosen) < min(policy.quota, len(ranked)):
        notes.append(
            f"only {len(chosen)} selected for quota {policy.quota}: the province cap "
            f"({policy.max_per_province}) blocks the remaining eligible nominees"
        )


def _region_score(entry: _Entry, outcome: _Outcome, policy: SelectionPolicy) -> RegionScore:
    nominee = entry.nominee
    reason, rule = _reason(entry, outcome, policy)
    return RegionScore(
        bps_code=nominee.bps_code,
        name=nominee.name,
        province=nominee.province,
        island_group=entry.group,
        total=entry.total,
        contributions=dict(entry.contributions),
        imputed=list(entry.imputed),
        rank=entry.rank,
        selected=nominee.bps_code in outcome.selected,
        reason=reason,
        equity_rule=rule,
        population=nominee.population,
    )


def _reason(entry: _Entry, outcome: _Outcome, policy: SelectionPolicy) -> tuple[str, EquityRule | None]:
    """Explain the decision with the rule that made it; rank words only where rank order decided."""
    code, rank, quota = entry.nominee.bps_code, entry.rank, policy.quota
    rule = outcome.rules[code]
    place = f"rank {rank} is {'within' if rank <= quota else 'outside'} the quota of {quota}"
    if code in outcome.selected:
        if rule == "island_floor":
            return (
                f"selected by the island-group floor: {entry.group} must have at least "
                f"{outcome.floors[entry.group]} region(s), and rank {rank} is among its best-ranked eligible "
                "nominees"
            ), rule
        if rank <= quota:
            return f"selected: {place}", None
        return f"selected: {place}, but higher-ranked regions were kept out by the province cap", None
    above = outcome.above_in_province[code]
    full = f"{entry.nominee.province} already has {above} selected region(s) ranked above it"
    if rule == "province_cap":
        return f"not selected: {place}, but {full} (province cap of {policy.max_per_province})", rule
    if rule == "island_floor":
        groups = outcome.groups_brought_in_below(rank)
        if code in outcome.baseline:
            return (
                f"not selected: rank {rank} would qualify under rank order and the cap, but its place was "
                f"displaced by an island-group floor pick for {groups}"
            ), rule
        return (
            f"not selected: {place}, and the island-group floor gave places to lower-ranked regions of {groups}"
        ), rule
    also_full = "" if _has_room(above, policy) else f" ({full}, at the province cap, too)"
    return f"not selected: rank {rank} is below the cut-off of the quota of {quota}{also_full}", None


def _excluded_score(nominee: Nominee, why: str) -> RegionScore:
    return RegionScore(
        bps_code=nominee.bps_code,
        name=nominee.name,
        province=nominee.province,
        island_group=nominee.island_group,
        total=None,
        contributions={},
        imputed=[],
        rank=None,
        selected=False,
        reason=f"not eligible: {why}",
        equity_rule="excluded_missing",
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
