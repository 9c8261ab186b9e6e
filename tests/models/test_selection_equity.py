"""Equity rules of cohort selection: whole-number and per-group floors, refusing infeasible policies, and
explanations that name the rule which actually decided each region (issue 13, items 2 and 3)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcity.models.core.errors import BadInput
from smartcity.models.selection.scoring import (
    DEFAULT_POLICY_PATH,
    ISLAND_GROUPS,
    InfeasiblePolicy,
    Nominee,
    PolicyError,
    RegionScore,
    SelectionPolicy,
    SelectionResult,
    island_group,
    score,
)

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def policy(**overrides) -> SelectionPolicy:
    """A small test policy: two indicators, no equity rules unless asked."""
    base: dict[str, object] = {
        "name": "test",
        "source": "unit test",
        "weights": {"a": 1.0, "b": 1.0},
        "quota": 2,
        "max_per_province": None,
        "min_per_island_group": 0,
    }
    base.update(overrides)
    return SelectionPolicy(**base)


def nominee(code: str, **indicators: float | None) -> Nominee:
    return Nominee(bps_code=code, name=f"Region {code}", province=f"Province {code[:2]}", indicators=indicators)


def ranked(*codes: str) -> list[Nominee]:
    """Nominees whose rank is their position in `codes` (first is best)."""
    return [nominee(code, a=len(codes) - i, b=len(codes) - i) for i, code in enumerate(codes)]


# ------------------------------------------------------------------------------- floors: policy shape


def test_floor_is_any_whole_number_and_groups_can_have_their_own() -> None:
    pol = policy(min_per_island_group=3, island_group_floors={"Papua": 2, "Bali and Nusa Tenggara": 0})
    assert pol.floor_of("Java") == 3 and pol.floor_of("Papua") == 2 and pol.floor_of("Bali and Nusa Tenggara") == 0


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "floors.toml"
    path.write_text('name = "p"\nsource = "s"\nquota = 10\n' + text + "\n[weights]\na = 1.0\n", encoding="utf-8")
    return path


def test_policy_file_with_floor_three_and_a_group_table(tmp_path: Path) -> None:
    pol = SelectionPolicy.from_toml(
        write(tmp_path, 'min_per_island_group = 3\n[island_group_floors]\nPapua = 2\n"Bali and Nusa Tenggara" = 1')
    )
    assert pol.min_per_island_group == 3 and pol.island_group_floors == {"Papua": 2, "Bali and Nusa Tenggara": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("min_per_island_group = -1", "min_per_island_group: must be a whole number >= 0 (got -1)"),
        ("min_per_island_group = true", "min_per_island_group: Input should be a valid integer"),
        ("min_per_island_group = 1.5", "min_per_island_group: Input should be a valid integer"),
        (
            "[island_group_floors]\nIrian = 2",
            "unknown island group 'Irian' (valid: Sumatra, Java, Bali and Nusa "
            "Tenggara, Kalimantan, Sulawesi, Maluku, Papua)",
        ),
        ("[island_group_floors]\nPapua = -2", "floor of Papua must be a whole number >= 0 (got -2)"),
        ("[island_group_floors]\nJava = 6\nPapua = 5", "island-group floors add up to 11, more than the quota of 10"),
    ],
)
def test_bad_floor_in_policy_file_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        SelectionPolicy.from_toml(write(tmp_path, text))
    assert str(info.value).startswith("floors.toml: ") and expected in str(info.value)
    assert "\n" not in str(info.value)


def test_shipped_policy_keeps_its_floor_of_one() -> None:
    pol = SelectionPolicy.from_toml(DEFAULT_POLICY_PATH)
    assert pol.min_per_island_group == 1 and pol.island_group_floors == {}
    assert pol.floor_text() == "at least 1 region(s) per island group that has an eligible nominee"


# ------------------------------------------------------------------------------ floors: selection


def test_floor_of_three_brings_in_three_per_group() -> None:
    java = [f"32{i:02d}" for i in range(1, 9)]
    result = score(ranked(*java, "9401", "9402", "9403", "9404"), policy(quota=6, min_per_island_group=3))
    assert set(result.selected_codes) == {"3201", "3202", "3203", "9401", "9402", "9403"}
    assert [result.by_code(c).equity_rule for c in ("9401", "9402", "9403")] == ["island_floor"] * 3
    assert result.by_code("3204").equity_rule == "island_floor"  # displaced: would be in by rank alone
    assert "island-group floor" in result.by_code("3204").reason


def test_group_floor_overrides_the_blanket_floor() -> None:
    codes = ("3201", "3202", "3203", "3204", "7101", "9401", "9402")
    result = score(ranked(*codes), policy(quota=4, min_per_island_group=1, island_group_floors={"Papua": 2}))
    assert set(result.selected_codes) == {"3201", "7101", "9401", "9402"}
    zero = score(
        ranked(*codes), policy(quota=4, min_per_island_group=1, island_group_floors={"Papua": 0, "Sulawesi": 0})
    )
    assert set(zero.selected_codes) == {"3201", "3202", "3203", "3204"}


def test_floor_within_the_province_cap_uses_the_next_province() -> None:
    # Papua's two best are both in province 94; with a cap of 1 the floor of 2 takes 9101 as the second.
    result = score(
        ranked("3201", "3301", "3501", "9401", "9402", "9101"),
        policy(quota=3, max_per_province=1, island_group_floors={"Papua": 2}),
    )
    assert set(result.selected_codes) == {"3201", "9401", "9101"}
    assert result.by_code("9402").equity_rule == "province_cap"


# ------------------------------------------------------------------------------ floors: infeasible


@pytest.mark.parametrize(
    ("pol", "expected"),
    [
        (
            policy(quota=4, min_per_island_group=2),
            "policy 'test': the island-group floors add up to 6 (Java 2, Sulawesi 2, Papua 2), "
            "more than the quota of 4",
        ),
        (
            policy(quota=6, max_per_province=1, min_per_island_group=0, island_group_floors={"Java": 3}),
            "policy 'test': the island-group floor of 3 for Java cannot be met under the province cap of 1: its "
            "eligible nominees are in 2 province(s), which allow at most 2",
        ),
        (
            policy(quota=8, min_per_island_group=0, island_group_floors={"Sulawesi": 2}),
            "policy 'test': the island-group floor of 2 for Sulawesi cannot be met: only 1 eligible nominee(s) in "
            "Sulawesi",
        ),
        (
            policy(quota=8, min_per_island_group=0, island_group_floors={"Maluku": 1}),
            "policy 'test': the island-group floor of 1 for Maluku cannot be met: only 0 eligible nominee(s) in Maluku",
        ),
    ],
    ids=["floors-over-quota", "cap-too-tight", "too-few-nominees", "no-nominee-for-named-group"],
)
def test_infeasible_policy_is_refused_with_the_rule_that_cannot_be_met(pol: SelectionPolicy, expected: str) -> None:
    regions = ranked("3201", "3202", "3301", "7101", "9401", "9402")
    with pytest.raises(InfeasiblePolicy) as info:
        score(regions, pol)
    assert str(info.value) == expected
    assert isinstance(info.value, BadInput) and info.value.exit_code == 2


def test_blanket_floor_skips_groups_without_nominees_and_notes_them() -> None:
    result = score(ranked("3201", "3202", "9401"), policy(quota=2, min_per_island_group=1))
    assert set(result.selected_codes) == {"3201", "9401"}
    assert any("no eligible nominee from Sumatra, Bali and Nusa Tenggara" in note for note in result.notes)


# --------------------------------------------------------------------------- the explanation (item 3)


def regions_514(pol: SelectionPolicy) -> list[Nominee]:
    """All 514 regions of 2018 with generated (deterministic, non-official) indicator values."""
    with open(SHARED_DATA / "regions_2018.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [
        Nominee(
            bps_code=row["bps_code"],
            name=row["name"],
            province=row["province"],
            province_code=row["province_code"],
            population=int(row["population_2025"]),
            indicators={ind: float((i * 7919 + k * 104729) % 1000) for k, ind in enumerate(sorted(pol.weights))},
        )
        for i, row in enumerate(rows)
    ]


@pytest.mark.parametrize("normalisation", ["minmax", "zscore"])
def test_capped_region_below_the_quota_names_the_province_cap(normalisation: str) -> None:
    pol = SelectionPolicy.from_toml(DEFAULT_POLICY_PATH).model_copy(
        update={"quota": 100, "max_per_province": 5, "normalisation": normalisation}
    )
    result = score(regions_514(pol), pol)
    chosen = [r for r in result.regions if r.selected]
    last = max(r.rank for r in chosen)
    assert len(chosen) == 100 and last > 101  # the cap skipped regions, so places went further down
    skipped = [r for r in result.regions if not r.selected and r.rank < last]
    assert skipped and any(r.rank > 100 for r in skipped)
    for region in skipped:
        assert region.equity_rule == "province_cap", region
        assert f"{region.province} already has 5 selected region(s) ranked above it" in region.reason
        assert "province cap" in region.reason
    below = [r for r in result.regions if not r.selected and r.rank is not None and r.rank > last]
    assert all(r.equity_rule is None and "below the cut-off" in r.reason for r in below)
    assert_explanations_match(result)


def test_issue_example_100_of_514_with_at_least_3_per_island_group() -> None:
    pol = SelectionPolicy.from_toml(DEFAULT_POLICY_PATH).model_copy(
        update={"quota": 100, "max_per_province": 5, "min_per_island_group": 3}
    )
    result = score(regions_514(pol), pol)
    chosen = [r for r in result.regions if r.selected]
    assert len(chosen) == 100
    assert min(Counter(r.island_group for r in chosen).get(g, 0) for g in ISLAND_GROUPS) >= 3
    assert max(Counter(r.province for r in chosen).values()) <= 5
    assert_explanations_match(result)


def test_region_displaced_past_the_cut_by_a_floor_names_the_floor() -> None:
    # Quota 2, floor 1: Papua's 9401 takes the second place; 3202 would have had it, 3301 is below the
    # cut-off but still outranks a selected region, so the floor is what kept it out too.
    result = score(
        ranked("3201", "3202", "3301", "9401"), policy(quota=2, min_per_island_group=1, island_group_floors={"Java": 0})
    )
    assert set(result.selected_codes) == {"3201", "9401"}
    for code in ("3202", "3301"):
        assert result.by_code(code).equity_rule == "island_floor"
        assert "Papua" in result.by_code(code).reason
    assert_explanations_match(result)


# ------------------------------------------------------------------------------------- properties


def assert_explanations_match(result: SelectionResult) -> None:
    """Every region that is out while a lower-ranked one is in names the equity rule that kept it out, and
    every region that is in while a higher-ranked one is out for a reason other than the cap was moved in
    by a floor; flags are never spurious."""
    pol = result.policy
    eligible = [r for r in result.regions if r.rank is not None]
    chosen = [r for r in eligible if r.selected]
    last_in = max((r.rank for r in chosen), default=0)
    for r in eligible:
        assert r.reason.startswith("selected") == r.selected, r
        if r.equity_rule == "province_cap":
            assert "province cap" in r.reason, r
        if r.equity_rule == "island_floor":
            assert "island-group floor" in r.reason, r
    for out in (r for r in eligible if not r.selected):
        above = sum(1 for s in chosen if s.province == out.province and s.rank < out.rank)
        lower_in = [s for s in chosen if s.rank > out.rank]
        if out.equity_rule == "province_cap":
            assert pol.max_per_province is not None and above >= pol.max_per_province, out
            assert lower_in or len(chosen) < pol.quota, out  # the cap, not the quota, decided it
        elif out.equity_rule == "island_floor":
            assert any(s.equity_rule == "island_floor" for s in lower_in), out
        else:
            assert out.equity_rule is None and out.rank > last_in and len(chosen) == pol.quota, out
    for inside in chosen:
        jumped = [r for r in eligible if not r.selected and r.rank < inside.rank and r.equity_rule != "province_cap"]
        if inside.equity_rule == "island_floor":
            assert jumped and pol.floor_of(inside.island_group) > 0, inside
        else:
            assert inside.equity_rule is None and not jumped, inside
            if inside.rank > pol.quota:
                assert "province cap" in inside.reason, inside


PROVINCES = ["11", "12", "31", "32", "33", "71", "94", "91"]  # Sumatra, Java, Sulawesi, Papua


@st.composite
def nominee_sets(draw) -> list[Nominee]:
    """Distinct regions, crowded into a few provinces of a few island groups; some lack an indicator."""
    keys = draw(
        st.lists(st.tuples(st.sampled_from(PROVINCES), st.integers(1, 9)), min_size=3, max_size=24, unique=True)
    )
    value = st.integers(0, 9)
    return [
        nominee(f"{prov}0{idx}", a=draw(value), b=draw(st.none() | value if idx == 9 else value)) for prov, idx in keys
    ]


@st.composite
def policies(draw) -> SelectionPolicy:
    """Policies with any floors the file would accept (named floors within the quota), feasible or not."""
    # Maluku has no nominee here: a floor named for it must be refused.
    groups = st.sampled_from(["Sumatra", "Java", "Sulawesi", "Papua", "Maluku"])
    own = draw(st.dictionaries(groups, st.integers(0, 3), max_size=2))
    return policy(
        quota=draw(st.integers(max(1, sum(own.values())), 12)),
        max_per_province=draw(st.none() | st.integers(1, 3)),
        min_per_island_group=draw(st.sampled_from([0, 1, 1, 2])),
        island_group_floors=own,
        normalisation=draw(st.sampled_from(["minmax", "zscore"])),
    )


def expected_refusal(regions: list[RegionScore], pol: SelectionPolicy) -> str | None:
    """Independent feasibility check: which rule cannot be met (a word), or None when all can."""
    eligible = [r for r in regions if r.rank is not None]
    per_group = Counter(r.island_group for r in eligible)
    per_province = Counter(r.bps_code[:2] for r in eligible)
    cap = pol.max_per_province or len(regions)
    floors = {g: pol.island_group_floors.get(g, pol.min_per_island_group if per_group[g] else 0) for g in ISLAND_GROUPS}
    if sum(floors.values()) > pol.quota:
        return "add up to"
    for group, floor in floors.items():
        if floor > per_group[group]:
            return f"floor of {floor} for {group} cannot be met: only"
        room = sum(min(n, cap) for p, n in per_province.items() if island_group(p) == group)
        if floor > room:
            return f"floor of {floor} for {group} cannot be met under the province cap"
    return None


@settings(max_examples=400, deadline=None)
@given(nominees=nominee_sets(), pol=policies())
def test_selection_and_its_explanations_agree(nominees: list[Nominee], pol: SelectionPolicy) -> None:
    plain = score(nominees, policy(quota=1))  # no equity rules: who is eligible and the groups
    refusal = expected_refusal(plain.regions, pol)
    if refusal is not None:
        with pytest.raises(InfeasiblePolicy) as info:
            score(nominees, pol)
        assert refusal in str(info.value) and "\n" not in str(info.value)
        return
    result = score(nominees, pol)
    chosen = [r for r in result.regions if r.selected]
    cap = pol.max_per_province or len(nominees)
    per_province = Counter(r.province for r in chosen)
    assert max(per_province.values(), default=0) <= cap
    eligible = Counter(r.province for r in result.regions if r.rank is not None)
    assert len(chosen) == min(pol.quota, sum(min(n, cap) for n in eligible.values()))
    per_group = Counter(r.island_group for r in chosen)
    groups_present = {r.island_group for r in result.regions if r.rank is not None}
    for group in ISLAND_GROUPS:
        floor = pol.island_group_floors.get(group, pol.min_per_island_group if group in groups_present else 0)
        assert per_group[group] >= floor, group
    assert all(r.equity_rule == "excluded_missing" for r in result.regions if r.rank is None)
    assert_explanations_match(result)
