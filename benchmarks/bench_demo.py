"""The demo's speed (issue 15, item 6): `smartcity demo --ui` plays the 2017 story through the served registry;
its baseline, measured in the same run, is the domain-only `smartcity demo --no-prefect`.

    python -m benchmarks.bench_demo [--regions N | --registry] [--prefect-postgres URL] [--cap SECONDS]
                                    [--out PATH] [--keep]

The served demo runs with `--ui`, so its server is still up when the story ends: the runs are read through
Prefect's client (per deployment: how many, how long they waited for the serve loop, for their process to
start, and ran), then the demo is stopped with SIGTERM. Target: 25 regions within 180 s on 2 cores. The load
average of the machine is part of the record: other work on the same cores slows every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import REGISTRY, ROOT, figure, log, machine, ratio

TARGET_S = 180.0
DEMO = [sys.executable, "-m", "smartcity.deployments.cli.entry", "demo"]
#: Story lines whose time tells where the served demo's time went.
MILESTONES = {
    "story starts (server up, registry served)": r"replayed on a SIMULATED clock",
    "regions selected": r"regions selected",
    "drafting set up by triggers": r"drafting started by a drafting-setup run",
    "press release checkpoint": r"press release 223",
    "last simulated outcome": r"SIMULATED outcomes",
    "final board printed": r"^Final board",
    "closing lines (report and chain settled)": r"Event Feed",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_demo", description=__doc__.split("\n")[0])
    p.add_argument("--regions", type=int, default=None, help="the first N phase-1 regions (default: all 25)")
    p.add_argument("--registry", action="store_true", help=f"nominate all of {REGISTRY.name} (514)")
    p.add_argument("--cap", type=float, default=900, help="stop the served demo after this many seconds")
    p.add_argument("--out", type=Path, default=ROOT / "bench-results" / "demo.json")
    p.add_argument(
        "--prefect-postgres",
        metavar="URL",
        default=None,
        help="the served demo's Prefect server on this PostgreSQL server (demo --prefect-postgres); default SQLite",
    )
    p.add_argument("--keep", action="store_true", help="keep the demos' homes (databases, server logs)")
    return p.parse_args(argv)


def demo_args(args: argparse.Namespace) -> list[str]:
    """The story's size, as the demo's options."""
    if args.registry:
        return ["--registry", str(REGISTRY)]
    return ["--regions", str(args.regions)] if args.regions else []


def env() -> dict[str, str]:
    """The caller's environment without Prefect or smartcity settings: the demo brings its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SMARTCITY_"))}


def children_cpu() -> float:
    """CPU seconds used so far by finished child processes (and the descendants they waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def domain_demo(home: Path, size: list[str]) -> dict:
    """The baseline: `demo --no-prefect`, timed."""
    log(f"baseline: demo --no-prefect {' '.join(size)} ...")
    cpu, start = children_cpu(), time.perf_counter()
    done = subprocess.run(
        [*DEMO, "--no-prefect", "--home", str(home), *size], env=env(), cwd=ROOT, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"demo --no-prefect exited {done.returncode}: {done.stderr[-500:]}")
    return {"wall_s": round(elapsed, 1), "cpu_s": round(children_cpu() - cpu, 1)}


def served_demo(home: Path, size: list[str], cap: float, prefect_postgres: str | None = None) -> dict:
    """`demo --ui`: timed to its closing lines, the runs read from its server, then stopped with SIGTERM."""
    where = ["--prefect-postgres", prefect_postgres] if prefect_postgres else []
    log(f"served: demo --ui {' '.join(size)} (Prefect on {'PostgreSQL' if where else 'SQLite'}, cap {cap:.0f}s) ...")
    cpu, start = children_cpu(), time.perf_counter()
    proc = subprocess.Popen(
        [*DEMO, "--ui", "--home", str(home), *size, *where],
        env=env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend((time.perf_counter() - start, x) for x in proc.stdout or []))
    reader.start()
    try:
        elapsed = _wait_for(lines, MILESTONES["closing lines (report and chain settled)"], proc, start + cap)
        result: dict = {"wall_s": None if elapsed is None else round(elapsed, 1)}
        if elapsed is None:
            result["status"] = f"cut at {cap:.0f}s" if proc.poll() is None else f"exited {proc.returncode}"
        else:
            api = re.search(r"Deployments \(Run buttons.*?(http://127\.0\.0\.1:\d+)/deployments", _text(lines))
            result["runs"] = asyncio.run(run_figures(f"{api.group(1)}/api")) if api else "no UI link printed"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        reader.join(timeout=10)
    result["cpu_s_including_server_and_runs"] = round(children_cpu() - cpu, 1)
    result["milestones_s"] = {name: _first(lines, pattern) for name, pattern in MILESTONES.items()}
    result["tail"] = _text(lines)[-600:] if result["wall_s"] is None else None
    return result


def _wait_for(lines: list[tuple[float, str]], pattern: str, proc: subprocess.Popen, deadline: float) -> float | None:
    while time.perf_counter() < deadline and proc.poll() is None:
        found = _first(lines, pattern)
        if found is not None:
            return found
        time.sleep(0.5)
    return _first(lines, pattern)


def _first(lines: list[tuple[float, str]], pattern: str) -> float | None:
    return next((round(t, 1) for t, line in list(lines) if re.search(pattern, line)), None)


def _text(lines: list[tuple[float, str]]) -> str:
    return "".join(line for _, line in list(lines))


async def run_figures(api: str) -> dict:
    """Per deployment (or in-process flow): runs, and the median and max seconds of each step of a run."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    steps: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[str, int] = defaultdict(int)
    with temporary_settings({PREFECT_API_URL: api}):
        async with get_client() as client:
            names: dict[object, str] = {d.id: d.name for d in await client.read_deployments()}
            runs: list = []
            while batch := await client.read_flow_runs(limit=200, offset=len(runs)):
                runs += batch
            for run in runs:
                kind = names.get(run.deployment_id, "in-process flow runs")
                counts[kind] += 1
                _steps(await client.read_flow_run_states(run.id), steps[kind])
    return {
        "total": len(runs),
        "by_deployment": {
            kind: {"runs": counts[kind], **{step: _summary(v) for step, v in steps[kind].items()}} for kind in counts
        },
    }


def _steps(states: list, into: dict[str, list[float]]) -> None:
    """Each attempt's waits: scheduled -> pending (the serve loop's poll and a free slot), pending -> running
    (a Python process starts and imports the flow), running -> its end (the flow's own work)."""
    previous: dict[str, float] = {}
    for state in sorted(states, key=lambda s: s.timestamp):
        kind, at = state.type.value, state.timestamp.timestamp()
        if kind == "PENDING" and "SCHEDULED" in previous:
            into["queued_s"].append(at - previous.pop("SCHEDULED"))
        elif kind == "RUNNING" and "PENDING" in previous:
            into["process_start_s"].append(at - previous.pop("PENDING"))
        elif kind in ("COMPLETED", "PAUSED", "FAILED", "CRASHED", "CANCELLED") and "RUNNING" in previous:
            into["running_s"].append(at - previous.pop("RUNNING"))
        previous[kind] = at


def _summary(values: list[float]) -> dict:
    return {"n": len(values), "median": round(statistics.median(values), 2), "max": round(max(values), 2)}


def main(argv: list[str] | None = None) -> int:
    """Measure the baseline and the served demo, print the JSON, write it to --out."""
    args = parse_args(argv)
    if args.registry and args.regions:
        print("error: --registry nominates all 514; it takes no --regions", file=sys.stderr)
        return 2
    size = demo_args(args)
    root = Path(tempfile.mkdtemp(prefix="smartcity-bench-demo-"))
    report: dict = {
        "benchmark": "demo",
        "size": " ".join(size) or "25 phase-1 regions",
        # never the URL: it may hold a password
        "prefect_database": "postgresql" if args.prefect_postgres else "sqlite",
        "machine": machine(),
    }
    try:
        base = domain_demo(root / "domain", size)
        served = served_demo(root / "served", size, args.cap, args.prefect_postgres)
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    wall = served["wall_s"]
    report["figures"] = {
        "served_demo": figure(
            wall,
            "s",
            f"<= {TARGET_S:.0f} s for 25 regions on 2 cores" if not args.registry else "reported (514 nominated)",
            None if wall is None or args.registry or args.regions else wall <= TARGET_S,
            baseline_domain_only=base,
            ratio_to_domain_only=None if wall is None else ratio(wall, base["wall_s"]),
            **served,
        )
    }
    report["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2, ensure_ascii=False)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
