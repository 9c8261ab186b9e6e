"""Concurrency: four processes advance the same 100 regions at the same instant. Exactly 100 transitions,
no duplicates; every process ends with each region applied, unchanged (lost the race) or already there.

The size does not change what is tested: the barrier below makes all four processes plan every region before
any of them writes, so each region is contested four ways whatever their number (it was 200; 100 keeps
well over a hundred write conflicts per run at half the work)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.clirun import cli_env
from tests.helpers import ROOT, cohort_with, load_registry
from tests.reliability.support import audit_counts

pytestmark = pytest.mark.slow

PROCESSES, REGIONS = 4, 100

# Each worker makes the two domain calls of the CLI's fallback for `cohort advance` (runner._advance_cohort_direct):
# plan_advance, then advance_many. Between them a barrier waits until ALL workers have planned, so every region
# is contested by all four at once (no worker can finish before another has even read the cohort, which a
# loaded 2-core machine otherwise allows). Prefect is not imported: it would cost ~3 s of CPU per process.
# With order "shuffled" a worker walks its plan in its own random order: the quota race needs processes that
# take DIFFERENT regions at the same moment (in registry order the workers move in lockstep).
WORKER = """
import json, os, random, sys, time
from datetime import UTC, datetime
from smartcity.models.infra.db import get_engine, session_scope
from smartcity.models.core.program import plan_advance
from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import advance_many
get_engine().connect().close()
ready, go, cohort, actor, order, workers = sys.argv[1:7]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
with session_scope() as session:  # planned and closed: SQLite's write lock is not held across the barrier
    items, summary = plan_advance(session, cohort, Stage.selected)
open(f"{go}.planned.{actor}", "w").close()
while sum(os.path.exists(f"{go}.planned.p{i}") for i in range(int(workers))) < int(workers):
    time.sleep(0.002)
if order == "shuffled":
    random.Random(actor).shuffle(items)
with session_scope() as session:
    out = advance_many(session, cohort=cohort, items=items, to=Stage.selected, actor=actor, reason=None,
                       now=datetime.now(UTC))
summary.update(applied=len(out["applied"]), unchanged=len(out["unchanged"]), refused=out["refused"])
print(json.dumps(summary))
"""


def race(db_url: str, tmp_path, cohort: str, order: str = "registry") -> list[tuple[int, dict, str]]:
    """Start the workers, release them together, return (exit code, JSON summary, stderr) of each."""
    go = tmp_path / "go"
    procs = []
    for i in range(PROCESSES):
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WORKER,
                    str(tmp_path / f"ready{i}"),
                    str(go),
                    cohort,
                    f"p{i}",
                    order,
                    str(PROCESSES),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=cli_env(db_url),
                cwd=ROOT,
            )
        )
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(PROCESSES)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a worker did not start"
        time.sleep(0.02)
    go.touch()
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert "Traceback" not in stderr, stderr
        out.append((p.returncode, json.loads(stdout), stderr))
    return out


def test_four_processes_advance_the_same_100_regions_once(db_url, tmp_path):
    codes = load_registry()[:REGIONS]
    cohort_with(codes, name="race")
    results = race(db_url, tmp_path, "race")

    for code, summary, err in results:
        assert code == 0 and summary["refused"] == [], (code, summary["refused"][:5], err)
        assert summary["applied"] + summary["unchanged"] + summary["already"] == REGIONS, summary
    applied = [s["applied"] for _, s, _ in results]
    lost = sum(s["unchanged"] for _, s, _ in results)
    transitions, dupes, outbox = audit_counts(db_url)
    print(
        f"checked: {transitions} transitions, {outbox} events; applied per process {applied}, "
        f"{lost} races lost, {sum(s['already'] for _, s, _ in results)} already there at planning"
    )
    assert (sum(applied), transitions, dupes, outbox) == (REGIONS, REGIONS, 0, REGIONS)
    # The race really happened: all four planned every region, so each region was won once and lost three times.
    assert (lost, sum(s["already"] for _, s, _ in results)) == ((PROCESSES - 1) * REGIONS, 0)


def test_four_processes_never_select_past_the_quota(db_url, tmp_path):
    """100 nominees, 60 places, four processes racing: exactly 60 selected, the rest refused by the quota
    guard, never by a stale read. Without the cohort's row lock PostgreSQL let two processes take the last
    free place each (READ COMMITTED counts before the other commits)."""
    quota = 60
    codes = load_registry()[:REGIONS]
    cohort_with(codes, name="quota-race", quota=quota)
    results = race(db_url, tmp_path, "quota-race", "shuffled")

    applied = [s["applied"] for _, s, _ in results]
    transitions, dupes, outbox = audit_counts(db_url)
    print(f"checked: quota {quota}, applied per process {applied}, {transitions} transitions")
    assert (sum(applied), transitions, dupes, outbox) == (quota, quota, 0, quota)
    for code, summary, _ in results:
        assert code == 0
        others = [r for r in summary["refused"] if f"filled its quota of {quota}" not in r]
        assert others == [], others[:3]
