"""Figure 5: scoring all 514 regions on 7 indicators with the default policy, against sorting 514 floats."""

from __future__ import annotations

import csv
import random
import statistics
import time

from benchmarks.common import REGISTRY, figure, log, ratio, stats

TARGET_S = 0.100


def nominees(n: int = 514, seed: int = 2017) -> list:
    """The first `n` registry regions with deterministic synthetic values for the policy's indicators."""
    from smartcity.models.selection.scoring import DEFAULT_POLICY_PATH, Nominee, SelectionPolicy

    indicators = sorted(SelectionPolicy.from_toml(DEFAULT_POLICY_PATH).weights)
    rng = random.Random(seed)
    with REGISTRY.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:n]
    out = []
    for row in rows:
        values = {
            i: float(rng.randint(0, 1)) if i == "high_performing" else round(rng.uniform(0, 100), 2) for i in indicators
        }
        out.append(
            Nominee(
                bps_code=row["bps_code"],
                name=row["name"],
                province=row["province"],
                province_code=row["province_code"],
                population=int(row["population_2025"] or 0),
                indicators=values,
            )
        )
    return out


def _median_time(fn, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def run(n: int = 514, runs: int = 15) -> dict:
    """Figure 5: median of `runs` calls of `smartcity.models.selection.scoring.score` over `n` nominees."""
    from smartcity.models.selection.scoring import DEFAULT_POLICY_PATH, SelectionPolicy, score

    policy = SelectionPolicy.from_toml(DEFAULT_POLICY_PATH)
    people = nominees(n)
    result = score(people, policy)  # warm-up, and a check that the run is a real selection
    if len(result.regions) != n or not result.selected_codes:
        raise RuntimeError(f"selection scored {len(result.regions)} of {n} and selected {result.selected_codes}")
    floats = [random.Random(1).random() for _ in range(n)]
    scoring = _median_time(lambda: score(people, policy), runs)
    sorting = _median_time(lambda: sorted(floats), max(runs, 101))
    value = round(statistics.median(scoring), 6)
    log(f"selection: score({n}) median {value * 1000:.1f} ms")
    return figure(
        value,
        "s (median)",
        f"< {TARGET_S} s",
        value < TARGET_S,
        regions=n,
        indicators=len(policy.weights),
        selected=len(result.selected_codes),
        score=stats(scoring),
        baseline_sort_floats=stats(sorting),
        ratio_vs_sorting_floats=ratio(statistics.median(scoring), statistics.median(sorting)),
        note="nominee objects are built before timing; synthetic indicator values from random.Random(2017)",
    )
