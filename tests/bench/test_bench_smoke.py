"""Smoke test of the benchmarks at tiny sizes: every figure comes back with value, target and met.

No timing is asserted here (machines are noisy); `python -m benchmarks.run` is where the figures are read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import cli_start, deadline_sweep, dispatch, flow_overhead, selection, stage_change, suite_time
from benchmarks.common import Workspace, reset_caches

ROOT = Path(__file__).resolve().parents[2]


def assert_figure(fig: dict) -> None:
    """The shape every figure shares, and JSON-serialisable."""
    assert {"value", "unit", "target", "met"} <= fig.keys(), fig.keys()
    assert isinstance(fig["target"], str) and fig["target"]
    assert fig["met"] in (True, False, None)
    if fig["met"] is None:
        assert fig["value"] is None and fig["status"].startswith("not measured")
    else:
        assert fig["value"] is not None and "status" not in fig
    json.dumps(fig)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    """One template database (migrated, 514 regions) for the module; each figure copies it."""
    return Workspace(tmp_path_factory.mktemp("bench"))


@pytest.fixture
def ws(workspace, monkeypatch):
    """The workspace, with SMARTCITY_DATABASE_URL restored after the figure switched databases."""
    monkeypatch.setenv("SMARTCITY_DATABASE_URL", f"sqlite:///{workspace.root / 'unused.db'}")
    yield workspace
    reset_caches()


def test_selection_figure():
    fig = selection.run(n=514, runs=2)
    assert_figure(fig)
    assert (fig["regions"], fig["indicators"], fig["selected"]) == (514, 7, 25)
    assert fig["score"]["n"] == 2 and fig["ratio_vs_sorting_floats"] is not None


def test_deadline_sweep_figure(ws):
    fig = deadline_sweep.run(ws, sizes=(200, 400), due=20)
    assert_figure(fig)
    assert fig["small"]["enqueued"] == fig["large"]["enqueued"] == 20
    assert fig["large"]["open_deadlines"] == 400
    assert "profile" in fig or fig["met"] is True


def test_dispatch_figure_delivers_each_message_once(ws):
    fig = dispatch.run(ws, total=20)
    assert_figure(fig)
    assert fig["value"] == 0 and fig["missing"] == 0 and fig["received_posts"] == 20
    assert fig["outcome"] == {"sent": 20, "failed": 0, "skipped": 0}
    assert set(fig["baseline"]) == {
        "httpx_sequential_s",
        "httpx_sequential_per_s",
        "httpx_concurrency_4_s",
        "httpx_concurrency_4_per_s",
    }


def test_dispatch_receiver_counts_duplicates():
    import httpx

    from smartcity.deployments.demo.receiver import Receiver

    with Receiver() as rx:
        for k in ("a", "b", "a"):
            httpx.post(rx.url.replace("json://", "http://", 1), json={"message": f"x\nRef: {k}"}).raise_for_status()
        assert dispatch.refs_of(rx.take()) == ["a", "b", "a"] and rx.take() == []


def test_cli_start_figure(ws):
    fig = cli_start.run(ws, runs=1, n=5)
    assert_figure(fig)
    assert fig["regions"] == 5 and fig["status_json"]["n"] == 1
    if fig["met"] is False:
        assert fig["profile"]["top_imports_ms"] and fig["profile"]["by_package_ms"]


def test_test_suite_figure_reads_the_last_record(tmp_path):
    record = tmp_path / "test-suite.json"
    missing = suite_time.from_record(record)
    assert_figure(missing)
    assert missing["met"] is None and "--with-tests" in missing["status"]
    record.write_text(
        json.dumps(
            {
                "duration_s": 250.0,
                "returncode": 0,
                "measured_at": "2026-01-01T00:00:00+00:00",
                "summary_line": "1 passed",
                "command": "bash scripts/test.sh",
                "nproc": 2,
            }
        )
    )
    fig = suite_time.from_record(record)
    assert_figure(fig)
    assert (fig["value"], fig["met"], fig["measured_at"]) == (250.0, True, "2026-01-01T00:00:00+00:00")


@pytest.mark.slow
@pytest.mark.prefect_server
def test_server_figures(ws, prefect_api):
    import asyncio

    asyncio.run(flow_overhead.warm_up(1))
    overhead = flow_overhead.run(ws, runs=2)
    assert_figure(overhead)
    assert overhead["advance_stage"]["n"] == overhead["empty_async_flow"]["n"] == 2
    fig = stage_change.run(ws, sizes=(3, 5), sample=2, full_up_to=3)
    assert_figure(fig)
    assert set(fig["by_n"]) == {"3", "5"}
    five = fig["by_n"]["5"]
    assert five["c_runs_measured"] == 2 and five["c_extrapolated"] is True
    assert set(five["per_region_ms"]) == {"a", "a_plus_publish", "b", "c"}
    assert fig["value"] == five["ratio_b_over_a"]


def test_run_command_prints_and_writes_one_json_object(tmp_path):
    out = tmp_path / "latest.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--only", "selection,test_suite", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    printed = json.loads(done.stdout)
    assert printed == json.loads(out.read_text())
    assert {"nproc", "cpu_model", "ram_gb", "python", "prefect"} <= printed["machine"].keys()
    assert list(printed["figures"]) == ["selection", "test_suite"]
    for fig in printed["figures"].values():
        assert_figure(fig)
    assert printed["summary"]["not_measured"] == ["test_suite"]
