"""`python -m benchmarks.table [FILE]`: the README's markdown table from a benchmark JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "n/a" if value is None else str(value)


def detail(name: str, fig: dict) -> str:
    """The absolute numbers behind a ratio, where the figure has them."""
    if name == "stage_change" and "by_n" in fig:
        ms = fig["by_n"].get("514", {}).get("per_region_ms", {})
        return f"per region at N=514: a {_fmt(ms.get('a'))} ms, b {_fmt(ms.get('b'))} ms, c {_fmt(ms.get('c'))} ms"
    if name == "flow_run_overhead" and "advance_stage" in fig:
        return (
            f"median advance-stage {_fmt(fig['advance_stage']['median_s'])} s vs empty async flow "
            f"{_fmt(fig['empty_async_flow']['median_s'])} s"
        )
    if name == "deadline_sweep" and "small" in fig:
        return (
            f"1000 due: {_fmt(fig['small']['sweep_s'])} s over 10k open, {_fmt(fig['large']['sweep_s'])} s "
            f"over 100k open"
        )
    if name == "cli_start" and "status_json" in fig:
        return (
            f"status --json {_fmt(fig['status_json']['median_s'])} s vs python -c pass "
            f"{_fmt(fig['baseline_python_pass']['median_s'])} s"
        )
    if name == "dispatch" and "messages_per_s" in fig:
        return f"{fig['messages_per_s']} msg/s at concurrency {fig.get('concurrency')}"
    if name == "test_suite":
        return fig.get("status") or f"{_fmt(fig.get('value'))} s"
    return ""


def table(data: dict) -> str:
    """One row per figure: value, unit, target, met, detail; then the machine it ran on."""
    rows = ["| figure | value | unit | target | met | detail |", "|---|---|---|---|---|---|"]
    for name, fig in data["figures"].items():
        met = {True: "yes", False: "**no**", None: "not measured"}[fig.get("met")]
        rows.append(
            f"| {name} | {_fmt(fig.get('value'))} | {fig.get('unit') or ''} | {fig.get('target')} | {met} "
            f"| {detail(name, fig)} |"
        )
    m = data["machine"]
    rows.append("")
    rows.append(
        f"Run {data['started_at'][:16]} UTC on {m['nproc']} cores ({m['cpu_model']}), {m['ram_gb']} GB, "
        f"Python {m['python']}, Prefect {m['prefect']}; load average at start {m['load_avg_at_start'][0]}."
    )
    return "\n".join(rows)


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-results/latest.json")
    print(table(json.loads(path.read_text(encoding="utf-8"))))
