"""`smartcity status --json` answers from the standard library on SQLite; the answer must be the full CLI's."""

from __future__ import annotations

import subprocess
import sys

from tests.clirun import cli_env, smartcity_in_process
from tests.helpers import ROOT, cohort_with, load_registry


def run(module: str, *args: str, db_url: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=cli_env(db_url),
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return proc.stdout


def test_fast_path_prints_exactly_what_the_full_cli_prints(sqlite_url):
    load_registry()
    cohort_with(["3273", "7371", "9412"])
    moved = smartcity_in_process("region", "advance", "7371", "--to", "selected", "--actor", "ani", db_url=sqlite_url)
    assert moved.code == 0, moved
    for args in (["status", "--json"], ["status", "--json", "--cohort", "2017"]):
        fast = run("smartcity.deployments.cli.entry", *args, db_url=sqlite_url)
        assert '"7371"' in fast and '"selected"' in fast
        assert fast == run("smartcity.deployments.cli.app", *args, db_url=sqlite_url), args
    # Through the entry point in this process: the fast path declines here exactly as in a fresh process.
    unknown = smartcity_in_process("status", "--json", "--cohort", "1999", db_url=sqlite_url)
    assert unknown.code == 2 and "does not exist" in unknown.err  # the full CLI answers what the fast path can't
