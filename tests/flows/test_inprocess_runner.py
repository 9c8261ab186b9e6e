"""The demo's in-process runner on a real Prefect server: each due run of its deployments is claimed by one
runner only, even with a second runner polling the same deployment, and runs to Completed in a thread.
Its polls are reads; the call that marks the deployments as polled (a write) is made once per interval.
(The suspension path, a review-round run resumed with a reviewer's form, is in tests/e2e/test_demo_prefect.py.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import anyio
import pytest
from prefect import flow, get_client
from prefect.states import Scheduled

from smartcity.deployments.runtime.inprocess import InProcessRunner

pytestmark = pytest.mark.prefect_server


@flow(name="in-process-probe", flow_run_name="probe-{n}")
async def probe(n: int) -> int:
    await asyncio.sleep(0.1)
    return n * 2


def test_two_runners_run_each_due_run_exactly_once(prefect_api):
    async def scenario() -> None:
        deployment = await probe.to_deployment(name=f"probe-{uuid4().hex[:8]}")
        runners = [InProcessRunner([(deployment, probe)], limit=2) for _ in range(2)]
        for runner in runners:
            await runner.register()
        (deployment_id,) = runners[0].flows
        assert set(runners[1].flows) == {deployment_id}  # registering twice updates the one deployment
        async with get_client() as client:
            try:
                runs = [
                    await client.create_flow_run_from_deployment(deployment_id, parameters={"n": n}) for n in range(3)
                ]
                claimed = [
                    (runner, run)
                    for runner in runners
                    for run in await runner.due(client)
                    if await runner.claim(client, run)
                ]
                assert sorted(str(run.id) for _, run in claimed) == sorted(str(run.id) for run in runs)
                assert not await runners[1].due(client)  # claimed runs are no longer due for anyone
                limiter = anyio.CapacityLimiter(2)
                async with anyio.create_task_group() as group:
                    for runner, run in claimed:
                        runner.running.add(run.id)
                        group.start_soon(runner.execute, run, limiter)
                finished = [await client.read_flow_run(run.id) for run in runs]
                assert [r.state.type.value if r.state else None for r in finished] == ["COMPLETED"] * 3
                assert sorted(r.name for r in finished) == ["probe-0", "probe-1", "probe-2"]
                assert sum(r.finished for r in runners) == 3 and not any(r.running for r in runners)
            finally:
                await client.delete_deployment(deployment_id)

    asyncio.run(scenario())


class CountingClient:
    """A real client that counts the calls that mark deployments as polled (each one a write on the server)."""

    def __init__(self, client) -> None:
        self.client = client
        self.marks = 0

    async def get_scheduled_flow_runs_for_deployments(self, **kwargs):
        self.marks += 1
        return await self.client.get_scheduled_flow_runs_for_deployments(**kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_polls_are_reads_and_the_deployments_are_marked_polled_once_per_mark_interval(prefect_api):
    async def scenario() -> None:
        deployment = await probe.to_deployment(name=f"probe-{uuid4().hex[:8]}")
        runner = InProcessRunner([(deployment, probe)], mark_seconds=3600)
        await runner.register()
        (deployment_id,) = runner.flows
        async with get_client() as real:
            client = CountingClient(real)
            try:
                assert await runner.due(client) == [] and client.marks == 1  # the first poll marks
                runs = [await real.create_flow_run_from_deployment(deployment_id, parameters={"n": n}) for n in (1, 2)]
                later = await real.create_flow_run_from_deployment(
                    deployment_id,
                    parameters={"n": 3},
                    state=Scheduled(scheduled_time=datetime.now(UTC) + timedelta(hours=1)),
                )
                for _ in range(3):  # the read sees the same due runs, in order, and not the one due later
                    assert [r.id for r in await runner.due(client)] == [r.id for r in runs]
                assert client.marks == 1
                runner.mark_seconds = 0
                assert [r.id for r in await runner.due(client)] == [r.id for r in runs] and client.marks == 2
                assert later.id not in {r.id for r in await runner.due(client)}
            finally:
                await real.delete_deployment(deployment_id)

    asyncio.run(scenario())
