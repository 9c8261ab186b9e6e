"""Scale-out as documented: Prefect server on PostgreSQL, app database on PostgreSQL, a process work pool
with two workers. An 80-region cohort fans out in batches; both workers take runs; every region
reaches the stage exactly once.

Four batch runs are enough to need both workers: each runs at most two at once (`--limit 2`), and a run takes
seconds while a worker asks for work every second. More batches (it was six, of 120 regions) only add
flow-run processes of a few seconds of CPU each."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest
import sqlalchemy as sa
from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

from smartcity.deployments.runtime.server import throwaway_postgres_database
from tests.clirun import cli_env, smartcity_in_process
from tests.conftest import IN_CI, PG_ADMIN_URL, pg_available
from tests.helpers import REGISTRY, ROOT
from tests.prefect_server import drop_triggers, point_prefect_at, prefect_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.prefect_server]

REGIONS, BATCH = 80, 20
RUNS = REGIONS // BATCH


@pytest.fixture
def pg_prefect_server(tmp_path):
    problem = pg_available()
    if problem:
        pytest.fail(problem) if IN_CI else pytest.skip(problem)
    previous = os.environ.get("PREFECT_API_URL")
    # the demo's --prefect-postgres database: a copy of Prefect's migrated schema, dropped at the end
    with throwaway_postgres_database(PG_ADMIN_URL, "prefect_srv") as url:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:  # as tests/conftest.py does
            c.execute(sa.text(f'ALTER DATABASE "{sa.make_url(url).database}" SET synchronous_commit = off'))
        admin.dispose()
        try:
            with prefect_server(tmp_path, database_url=url) as api:
                point_prefect_at(api)
                yield api
        finally:
            if previous:
                point_prefect_at(previous)


def start_worker(name: str, pool: str, db_url: str, api: str, home) -> subprocess.Popen:
    env = cli_env(
        db_url,
        PREFECT_API_URL=api,
        PREFECT_HOME=str(home),
        PREFECT_WORKER_QUERY_SECONDS="1",
        PREFECT_WORKER_PREFETCH_SECONDS="1",
    )
    env.pop("PYTHONPATH", None)  # workers import the installed package, as on another machine
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            pool,
            "--type",
            "process",
            "--name",
            name,
            "--limit",
            "2",
        ],
        env=env,
        cwd=str(home),
        stdout=open(home / f"{name}.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_workers(workers: dict[str, subprocess.Popen], timeout: float = 60) -> None:
    """SIGTERM each worker's process group; one still there after `timeout` is killed, and the test fails."""
    for w in workers.values():
        os.killpg(w.pid, signal.SIGTERM)
    stuck = []
    for name, w in workers.items():
        try:
            w.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stuck.append(name)
            os.killpg(w.pid, signal.SIGKILL)
            w.wait()
    assert not stuck, f"worker(s) {stuck} did not stop within {timeout:.0f}s of SIGTERM"


def test_two_workers_share_a_cohort_on_postgres(pg_database, pg_prefect_server, tmp_path):
    from tests.conftest import _empty_pg

    _empty_pg(pg_database)
    api, db = pg_prefect_server, pg_database
    codes = [line.split(",")[0] for line in REGISTRY.read_text().splitlines()[1 : REGIONS + 1]]
    for args in (
        ["regions", "import", str(REGISTRY)],
        ["cohort", "create", "wide", "--year", "2018", "--quota", str(REGIONS)],
        ["cohort", "nominate", "wide", *codes],
        ["deploy", "--pool", "scale"],
    ):  # set-up through the CLI's entry point in this process: the processes under test are the workers
        done = smartcity_in_process(*args, db_url=db, PREFECT_API_URL=api)
        assert done.code == 0, (args, done.err)
    # The registry's triggers would start a drafting-setup run for each of the 80 selected events (the chain is
    # test_event_chain's subject), and a stopping worker first finishes the runs it took: under load that took
    # the workers past their stop timeout. Here the workers take only the batches.
    asyncio.run(drop_triggers())
    workers = {name: start_worker(name, "scale", db, api, tmp_path) for name in ("w1", "w2")}
    try:
        from smartcity.flows.advance_cohort import advance_cohort

        os.environ["SMARTCITY_DATABASE_URL"] = db
        from tests.conftest import reset_caches

        reset_caches()
        summary = asyncio.run(advance_cohort("wide", "selected", "ani", batch_size=BATCH, fan_out=True))
    finally:
        stop_workers(workers)
    assert (summary["applied"], summary["runs"], summary["failed_runs"], summary["refused"]) == (REGIONS, RUNS, 0, [])

    async def runs_by_worker():
        async with get_client() as client:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["advance-batch"]))
            )
            pools = {r.work_pool_name for r in runs}
            return runs, pools

    runs, pools = asyncio.run(runs_by_worker())
    assert pools == {"scale"} and len(runs) == RUNS
    logs = {f"w{i}": (tmp_path / f"w{i}.log").read_text() for i in (1, 2)}
    # A run's own output lands in the log of the worker that started it.
    took = {
        name: log.count("Flow run 'advance-batch-wide-to-selected' - Finished in state Completed()")
        for name, log in logs.items()
    }
    assert all(n > 0 for n in took.values()), f"a worker took no runs: {took}"
    assert sum(took.values()) == RUNS, took
    engine = sa.create_engine(db)
    with engine.connect() as c:
        n, distinct = c.execute(
            sa.text("select count(*), count(distinct enrollment_id) from stage_transition where to_stage='selected'")
        ).one()
    engine.dispose()
    assert (n, distinct) == (REGIONS, REGIONS)
    assert ROOT  # the test runs from the repository, the workers from the installed package
