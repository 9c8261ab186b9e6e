"""Figure 8: programs as data. (a) Loading and checking a definition file, against parsing its TOML alone.
(b) A stage change read from a data-defined program, against the same change by the code from before programs
were data (commit BEFORE, extracted from git into a temp dir and run side by side in this same run).

Both engines run the same workload in their own fresh process on their own SQLite file: N regions nominated,
then each moved nominated -> selected -> drafting one change at a time with `change_stage` (each change its own
transaction, opening the drafting deadline and milestones). The figure is new / old per change.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tarfile
import time
import tomllib
from io import BytesIO
from pathlib import Path

from benchmarks.common import REGISTRY, ROOT, Workspace, figure, log, ratio, stats

#: The last commit whose stage machine was code (models/core/stages.py EDGES); the baseline engine.
BEFORE = "ed71c29"
LOAD_TARGET_MS = 50.0
CHANGE_TARGET_RATIO = 1.10

WORKLOAD = r"""
import json, statistics, sys, time
from datetime import UTC, datetime, timedelta
from smartcity.models.core.program import create_cohort, nominate
from smartcity.models.core.regions import parse_regions, read_csv_text, upsert_regions
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.infra.db import session_scope
from smartcity.models.infra.migrate import upgrade

url, registry, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
upgrade(url)
t0 = datetime(2017, 5, 2, 1, 0, tzinfo=UTC)
from pathlib import Path
regions = parse_regions(read_csv_text(Path(registry)), source=registry)
with session_scope() as s:
    upsert_regions(s, regions, now=t0)
codes = [r.bps_code for r in regions][:n]
with session_scope() as s:
    create_cohort(s, name="bench", year=2017, quota=n, now=t0)
    nominate(s, cohort="bench", codes=codes, now=t0)
from sqlalchemy import event
from smartcity.models.infra.db import get_engine
statements = [0]
event.listen(get_engine(), "before_cursor_execute", lambda *a, **k: statements.__setitem__(0, statements[0] + 1))
samples = []
for to in ("selected", "drafting"):
    for code in codes:
        start = time.perf_counter()
        with session_scope() as s:
            change = StageChange(region_code=code, to=to, actor="bench", cohort="bench")
            change_stage(s, change, now=t0 + timedelta(days=1))
        samples.append(time.perf_counter() - start)
module = list(__import__("smartcity").__path__)[0]
per_change = statements[0] / len(samples)
print(json.dumps({"median_s": statistics.median(samples), "n": len(samples), "module": module, "sql": per_change}))
"""


def load(runs: int = 50) -> dict:
    """(a): the median time to parse and check each shipped definition, and to parse its TOML alone."""
    from smartcity.models.programs.loading import SHIPPED_DIR, parse, shipped_names

    out = {}
    for name in shipped_names():
        text = (SHIPPED_DIR / f"{name}.toml").read_text(encoding="utf-8")
        parse(text, source=name)  # warm-up: imports and pydantic's first validation
        full, toml_only = [], []
        for _ in range(runs):
            start = time.perf_counter()
            parse(text, source=name)
            full.append(time.perf_counter() - start)
            start = time.perf_counter()
            tomllib.loads(text)
            toml_only.append(time.perf_counter() - start)
        out[name] = {
            "load_ms": round(statistics.median(full) * 1000, 2),
            "toml_only_ms": round(statistics.median(toml_only) * 1000, 2),
            "ratio_vs_toml_only": ratio(statistics.median(full), statistics.median(toml_only)),
        }
    return out


def _old_engine(tmp: Path) -> Path:
    """A directory whose `smartcity` package is the engine at BEFORE (extracted with `git archive`)."""
    tree = tmp / "before"
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", BEFORE, "models", "tasks", "flows", "deployments"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    view = tmp / "before-view"
    (view / "smartcity").mkdir(parents=True, exist_ok=True)
    for folder in ("models", "tasks", "flows", "deployments"):
        link = view / "smartcity" / folder
        if not link.exists():
            link.symlink_to(tree / folder, target_is_directory=True)
    return view


def _workload(db: Path, n: int, path_first: Path | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCITY_", "PREFECT_"))}
    env["SMARTCITY_DATABASE_URL"] = f"sqlite:///{db}"
    # A `smartcity` directory first on sys.path wins over the editable install's finder (it comes later).
    prelude = f"import sys; sys.path.insert(0, {str(path_first)!r});" if path_first else ""
    done = subprocess.run(
        [sys.executable, "-c", prelude + WORKLOAD, f"sqlite:///{db}", str(REGISTRY), str(n)],
        capture_output=True,
        text=True,
        env=env,
        cwd=db.parent,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "workload failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(ws: Workspace, n: int = 100, rounds: int = 3) -> dict:
    """Figure 8: definition load time, and the per-change cost new / old (alternating runs, best of `rounds`)."""
    loads = load()
    worst_load = max(v["load_ms"] for v in loads.values())
    view = _old_engine(ws.root)
    new, old, sql = [], [], {}
    for i in range(rounds):  # alternate, so drift in the machine's load hits both engines alike
        before = _workload(ws.root / f"old-{i}.db", n, view)
        old.append(before["median_s"])
        result = _workload(ws.root / f"new-{i}.db", n, None)
        new.append(result["median_s"])
        sql = {"new": result["sql"], "old": before["sql"]}
        if "before-view" in result["module"]:
            raise RuntimeError("the new engine's run imported the old code")
    change_ratio = ratio(min(new), min(old))
    log(f"program definitions: load <= {worst_load} ms; stage change new/old = {change_ratio}")
    met = worst_load < LOAD_TARGET_MS and change_ratio is not None and change_ratio <= CHANGE_TARGET_RATIO
    return figure(
        change_ratio,
        "ratio (new / old, per stage change)",
        f"load < {LOAD_TARGET_MS:g} ms; change ratio <= {CHANGE_TARGET_RATIO}",
        met,
        load=loads,
        stage_change={
            "regions": n,
            "changes_per_run": 2 * n,
            "new_median_s": stats(new),
            "old_median_s": stats(old),
            "sql_statements_per_change": sql,
            "baseline": f"the engine at commit {BEFORE} (stage machine as code), same workload, same run",
        },
    )


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(Workspace(Path(tmp))), indent=2))
