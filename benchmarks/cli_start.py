"""Figure 6: a cold `smartcity status --json` over 514 enrolled regions, against a cold `python -c pass`."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time

from benchmarks.common import ROOT, Workspace, enroll, figure, log, ratio, registry_codes, stats

TARGET_RATIO = 5.0
STATUS = [
    sys.executable,
    "-m",
    "smartcity.deployments.cli.entry",
    "status",
    "--json",
]  # what the `smartcity` script runs
PASS = [sys.executable, "-c", "pass"]
# What a raw-sqlite3 fast path for `status --json` would cost: same rows, no SQLAlchemy, no Typer.
RAW_SQLITE = [
    sys.executable,
    "-c",
    """
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute('''select r.bps_code, r.name, r.province, r.timezone, c.name, e.stage, e.version,
  e.entered_stage_at from region r join enrollment e on e.region_id = r.id join cohort c on c.id = e.cohort_id
  order by c.year, c.name, r.bps_code''').fetchall()
counts = {}
for *_, cohort, stage, _v, _s in rows:
    counts.setdefault(cohort, {}).setdefault(stage, 0)
    counts[cohort][stage] += 1
keys = ("bps_code", "name", "province", "timezone", "cohort", "stage", "version", "since")
print(json.dumps({"cohorts": counts, "regions": [dict(zip(keys, r)) for r in rows]}, indent=2, ensure_ascii=False))
""",
]


def _time(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return elapsed, done.stdout


def import_profile(env: dict[str, str], top: int = 12) -> dict:
    """`python -X importtime` of the status command: costliest top-level imports and packages (cumulative ms)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *STATUS[1:]],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = []
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            lines.append((len(m.group(3)), m.group(4), int(m.group(2)) / 1000))
    roots = sorted(((name, ms) for indent, name, ms in lines if indent == 1), key=lambda r: -r[1])
    return {
        "tool": "python -X importtime",
        "total_top_level_import_ms": round(sum(ms for _, ms in roots), 1),
        "top_imports_ms": [{"module": name, "cumulative_ms": round(ms, 1)} for name, ms in roots[:top]],
        "by_package_ms": _by_package(lines, top),
    }


def _by_package(lines: list[tuple[int, str, float]], top: int) -> list[dict]:
    """Time spent inside each package, counted where code from outside it imports it (nested ones counted in
    each: sqlmodel's figure includes the sqlalchemy it pulls in)."""
    totals: dict[str, float] = {}
    stack: list[tuple[int, str]] = []
    for indent, name, ms in reversed(lines):  # importtime prints children first: reversed, parents come first
        while stack and stack[-1][0] >= indent:
            stack.pop()
        package = name.split(".")[0]
        if not stack or stack[-1][1] != package:
            totals[package] = totals.get(package, 0.0) + ms
        stack.append((indent, package))
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return [{"package": p, "inclusive_ms": round(ms, 1)} for p, ms in ranked]


def imported_heavy(env: dict[str, str]) -> dict[str, bool]:
    """Which heavy packages the status command loads at all."""
    code = (
        "import runpy, sys; sys.argv = ['smartcity', 'status', '--json']\n"
        "try:\n    runpy.run_module('smartcity.deployments.cli.app', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('MODS', ','.join(m for m in ('prefect', 'sqlalchemy', 'sqlmodel', 'typer', 'pydantic', "
        "'alembic', 'apprise', 'pendulum', 'holidays', 'plotly') if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    line = next((x for x in done.stderr.splitlines() if x.startswith("MODS ")), "MODS ")
    loaded = set(line[5:].split(","))
    return {
        m: m in loaded
        for m in (
            "prefect",
            "sqlalchemy",
            "sqlmodel",
            "typer",
            "pydantic",
            "alembic",
            "apprise",
            "pendulum",
            "holidays",
            "plotly",
        )
    }


def _import_share(env: dict[str, str], runs: int, t_status: list[float]) -> dict:
    """A cold `import smartcity.deployments.cli.app` alone, against the whole command: the share of imports."""
    t_import = [_time([sys.executable, "-c", "import smartcity.deployments.cli.app"], env)[0] for _ in range(runs)]
    return {
        "import_deployments_cli_only": stats(t_import),
        "import_share_of_status": ratio(statistics.median(t_import), statistics.median(t_status)),
    }


def run(ws: Workspace, runs: int = 5, n: int = 514) -> dict:
    """Figure 6: medians of `runs` cold starts each (after one unmeasured start of each, for the disk cache)."""
    url = ws.fresh_db("cli-status")
    enroll(registry_codes()[:n], "bench", quota=n)
    env = {**os.environ, "SMARTCITY_DATABASE_URL": url}
    db_path = url.split("///", 1)[1]
    raw = [*RAW_SQLITE, db_path]
    for cmd in (PASS, STATUS, raw):  # warm the page cache; not measured
        _time(cmd, env)
    t_pass, t_status, t_raw = [], [], []
    for _ in range(runs):
        t_pass.append(_time(PASS, env)[0])
        elapsed, out = _time(STATUS, env)
        t_status.append(elapsed)
        t_raw.append(_time(raw, env)[0])
    shown = len(json.loads(out)["regions"])
    if shown != n:
        raise RuntimeError(f"status --json listed {shown} regions, expected {n}")
    value = ratio(statistics.median(t_status), statistics.median(t_pass))
    met = value is not None and value <= TARGET_RATIO
    log(f"cli start: status {statistics.median(t_status):.3f}s vs pass {statistics.median(t_pass):.3f}s")
    extra = (
        {}
        if met
        else {
            "profile": {**import_profile(env), **_import_share(env, runs, t_status)},
            "modules_loaded": imported_heavy(env),
        }
    )
    return figure(
        value,
        "ratio of medians",
        f"<= {TARGET_RATIO}",
        met,
        regions=n,
        status_json=stats(t_status),
        baseline_python_pass=stats(t_pass),
        raw_sqlite3_fast_path=stats(t_raw),
        ratio_raw_sqlite3_vs_pass=ratio(statistics.median(t_raw), statistics.median(t_pass)),
        command="python -m smartcity.deployments.cli.entry status --json (the smartcity console script)",
        **extra,
        note="raw_sqlite3_fast_path is a prototype measured for comparison only (same rows as JSON, sqlite3 + "
        "json from the standard library); it is not in the product",
    )
