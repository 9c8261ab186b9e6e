"""Run every benchmark once and print one JSON object (also written to --out).

    python -m benchmarks.run [--quick] [--with-tests] [--only a,b] [--out bench-results/latest.json]

Each figure carries `value`, `unit`, `target` and `met` (null when not measured), its baseline measured
in the same run, and the absolute times. All data lives in a temp directory: fresh SQLite files, a temp
PREFECT_HOME and a real `prefect server start` on a free port.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import ROOT, Workspace, isolate, log, machine, not_measured

FULL = {
    "stage_sizes": (25, 100, 514),
    "stage_sample": 50,
    "overhead_runs": 30,
    "sweep_sizes": (10_000, 100_000),
    "sweep_due": 1_000,
    "dispatch": 1_000,
    "selection_runs": 15,
    "cli_runs": 5,
    "definition_regions": 100,
    "definition_rounds": 3,
}
QUICK = {
    "stage_sizes": (5, 25),
    "stage_sample": 10,
    "overhead_runs": 5,
    "sweep_sizes": (1_000, 10_000),
    "sweep_due": 100,
    "dispatch": 100,
    "selection_runs": 5,
    "cli_runs": 2,
    "definition_regions": 10,
    "definition_rounds": 1,
}
SERVER_FIGURES = ("stage_change", "flow_run_overhead")
LOCAL_FIGURES = ("selection", "cli_start", "dispatch", "deadline_sweep", "program_definition", "test_suite")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a minute or two")
    p.add_argument("--with-tests", action="store_true", help="also time `bash scripts/test.sh` (minutes)")
    p.add_argument("--only", default="", help="comma-separated figure names to run (default: all)")
    p.add_argument("--out", type=Path, default=ROOT / "bench-results" / "latest.json")
    p.add_argument("--keep", action="store_true", help="keep the temp directory (databases, server log)")
    return p.parse_args(argv)


def guarded(name: str, target: str, fn: Callable[[], dict]) -> dict:
    """Run one figure; an exception becomes a 'not measured' figure with the error, not a lost run."""
    started = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - one broken figure must not lose the others
        log(f"{name}: FAILED {type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
        result = not_measured(target, f"{type(exc).__name__}: {str(exc)[:300]}")
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


def server_figures(ws: Workspace, sizes: dict, wanted: set[str], home: Path) -> dict:
    """Figures that need a real Prefect server: start one, warm the client up, measure, stop it."""
    import asyncio

    from tests.prefect_server import point_prefect_at, prefect_server

    out: dict = {}
    log("starting a real Prefect server (temp PREFECT_HOME) ...")
    with prefect_server(home) as api:
        point_prefect_at(api)
        from benchmarks import flow_overhead, stage_change

        warm = asyncio.run(flow_overhead.warm_up())
        log(f"server at {api}; warm-up of 2 empty flow runs took {warm:.1f}s (not measured)")
        if "flow_run_overhead" in wanted:
            out["flow_run_overhead"] = guarded(
                "flow_run_overhead", "<= 1.5", lambda: flow_overhead.run(ws, runs=sizes["overhead_runs"])
            )
        if "stage_change" in wanted:
            out["stage_change"] = guarded(
                "stage_change", "<= 3", lambda: stage_change.run(ws, sizes["stage_sizes"], sizes["stage_sample"])
            )
    return out


def local_figures(ws: Workspace, sizes: dict, wanted: set[str], args: argparse.Namespace) -> dict:
    """Figures that need no Prefect server (run after it stopped, so its background work adds no noise)."""
    from benchmarks import cli_start, deadline_sweep, dispatch, program_definition, selection, suite_time

    plan = {
        "selection": ("< 0.1 s", lambda: selection.run(runs=sizes["selection_runs"])),
        "cli_start": ("<= 5", lambda: cli_start.run(ws, runs=sizes["cli_runs"])),
        "dispatch": ("0 duplicates", lambda: dispatch.run(ws, total=sizes["dispatch"])),
        "deadline_sweep": (
            "< 1 s, ratio < 2",
            lambda: deadline_sweep.run(ws, sizes["sweep_sizes"], sizes["sweep_due"]),
        ),
        "program_definition": (
            "load < 50 ms; change ratio <= 1.1",
            lambda: program_definition.run(ws, n=sizes["definition_regions"], rounds=sizes["definition_rounds"]),
        ),
        "test_suite": (
            "< 300 s",
            lambda: (
                suite_time.measure(args.out.parent / "test-suite.json")
                if args.with_tests
                else suite_time.from_record(args.out.parent / "test-suite.json")
            ),
        ),
    }
    return {name: guarded(name, target, fn) for name, (target, fn) in plan.items() if name in wanted}


def summary(figures: dict) -> dict:
    """Which figures met their target, which missed, which were not measured."""
    return {
        "met": [n for n, f in figures.items() if f["met"] is True],
        "missed": [n for n, f in figures.items() if f["met"] is False],
        "not_measured": [n for n, f in figures.items() if f["met"] is None],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the figures, print the JSON, write it to --out."""
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    wanted = set(args.only.split(",")) - {""} or set(SERVER_FIGURES + LOCAL_FIGURES)
    unknown = wanted - set(SERVER_FIGURES + LOCAL_FIGURES)
    if unknown:
        print(f"error: unknown figure(s) {sorted(unknown)}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="smartcity-bench-"))
    isolate(root)  # before anything imports Prefect or reads settings
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    started, t0 = datetime.now(UTC), time.perf_counter()
    report: dict = {
        "benchmark": "smartcity",
        "started_at": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in sizes.items()},
        "machine": machine(),
        "figures": {},
    }
    try:
        ws = Workspace(root)
        if wanted & set(SERVER_FIGURES):
            report["figures"].update(server_figures(ws, sizes, wanted, root / "prefect-home"))
        report["figures"].update(local_figures(ws, sizes, wanted, args))
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    order = [n for n in SERVER_FIGURES + LOCAL_FIGURES if n in report["figures"]]
    report["figures"] = {n: report["figures"][n] for n in order}
    report["summary"] = summary(report["figures"])
    report["duration_s"] = round(time.perf_counter() - t0, 1)
    report["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2, ensure_ascii=False)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
