"""The demo's in-process runner on a real Prefect server: each due run of its deployments is claimed by one
runner only, even with a second runner polling the same deployment, and runs to Completed in a thread.
(The suspension path, a review-round run resumed with a reviewer's form, is in tests/e2e/test_demo_prefect.py.)"""

from __future__ import annotations

import asyncio
from uuid import uuid4

import anyio
import pytest
from prefect import flow, get_client

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
