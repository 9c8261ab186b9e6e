"""A runner for served deployments that runs each flow run in a thread of its own process.

Prefect's runner (`serve`) starts a new Python process for every flow run (multiprocessing "spawn"), which
imports Prefect and our flows again: about 3 s of CPU per run on our 2-core machines. The demo replays a
year of a program as ~140 runs in a few minutes, so on Prefect's runner most of its time went to starting
processes. This runner does for scheduled runs of its deployments what Prefect's does, through the public
client and engine:

- it registers the deployments (`RunnerDeployment.aapply`, which also creates their triggers as automations);
- it polls for due scheduled runs with a plain read (`read_flow_runs`), and every `mark_seconds` through
  `get_scheduled_flow_runs_for_deployments`, the call that also marks the deployments as polled so the UI shows
  them ready. That mark is a write (a job the server runs after answering): made on every 0.5 s poll it was two
  commits a second on SQLite's single writer, where "ready" needs one a minute;
- it claims a run by proposing Pending, which the server grants once: two runners never run one flow run;
- it runs the flow with `prefect.flow_engine.run_flow`, in a thread with its own event loop, at most `limit`
  at once. A run suspended for input (review-round) ends its thread; the server schedules it again when the
  input arrives, and the next poll runs it from the start, as Prefect's runner does.

What it does not do that Prefect's runner does: cancel a running flow run from the UI (the thread cannot be
killed), mark runs of a killed process as crashed, pull code from storage (it runs only the flows it was given).
That is why `smartcity up`, which coordinators leave running, serves with Prefect's runner, and only the demo,
whose process ends with the story, uses this one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import anyio

logger = logging.getLogger("smartcity.runner")
#: Seconds between the polls that mark the deployments as polled: well inside the 60 s after which Prefect's
#: foreman service shows a deployment not ready
#: (PREFECT_SERVER_SERVICES_FOREMAN_DEPLOYMENT_LAST_POLLED_TIMEOUT_SECONDS).
MARK_SECONDS = 15.0


class InProcessRunner:
    """Serve `served`, pairs of (Prefect RunnerDeployment, the flow object it deploys), until cancelled."""

    def __init__(
        self,
        served: Sequence[tuple[Any, Any]],
        *,
        limit: int = 8,
        poll_seconds: float = 0.5,
        mark_seconds: float = MARK_SECONDS,
    ) -> None:
        self.served = list(served)
        self.limit = limit
        self.poll_seconds = poll_seconds
        self.mark_seconds = mark_seconds
        self.marked_at: float | None = None  # monotonic time of the last poll that marked the deployments
        self.flows: dict[UUID, Any] = {}  # deployment id -> its flow
        self.running: set[UUID] = set()  # ids of the flow runs this runner is running
        self.finished = 0

    async def register(self) -> None:
        """Create or update every deployment (and its triggers) on the server."""
        for deployment, flow in self.served:
            self.flows[await deployment.aapply()] = flow

    async def serve(self) -> None:
        """Register, then run the scheduled runs that fall due, polling every `poll_seconds`, until cancelled."""
        from prefect import get_client

        await self.register()
        limiter = anyio.CapacityLimiter(self.limit)
        async with get_client() as client, anyio.create_task_group() as runs:
            while True:
                for flow_run in await self.due(client):
                    if len(self.running) >= self.limit:
                        break  # the others stay scheduled for the next poll
                    if await self.claim(client, flow_run):
                        self.running.add(flow_run.id)
                        runs.start_soon(self.execute, flow_run, limiter)
                await anyio.sleep(self.poll_seconds)

    async def due(self, client: Any) -> list[Any]:
        """The scheduled runs of our deployments that are due now and not already running here (the same
        query either way; the marking call only every `mark_seconds`)."""
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterId,
            FlowRunFilter,
            FlowRunFilterNextScheduledStartTime,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.sorting import FlowRunSort

        before = datetime.now(UTC) + timedelta(seconds=1)
        now = time.monotonic()
        if self.marked_at is None or now - self.marked_at >= self.mark_seconds:
            self.marked_at = now
            runs = await client.get_scheduled_flow_runs_for_deployments(
                deployment_ids=list(self.flows), scheduled_before=before
            )
        else:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=list(self.flows))),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                    next_scheduled_start_time=FlowRunFilterNextScheduledStartTime(before_=before),
                ),
                sort=FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC,
            )
        return [r for r in runs if r.id not in self.running]

    async def claim(self, client: Any, flow_run: Any) -> bool:
        """Propose Pending: True when this runner may run it (the server grants it to one runner only)."""
        from prefect.exceptions import Abort
        from prefect.states import Pending
        from prefect.utilities.engine import propose_state

        try:
            state = await propose_state(client, Pending(), flow_run_id=flow_run.id)
        except Abort as refused:
            logger.info("flow run %s not claimed: %s", flow_run.name, refused)
            return False
        return state.is_pending()

    async def execute(self, flow_run: Any, limiter: anyio.CapacityLimiter) -> None:
        """Run one flow run in a worker thread (its own event loop); the engine records its states."""
        try:
            await anyio.to_thread.run_sync(run_in_thread, self.flows[flow_run.deployment_id], flow_run, limiter=limiter)
        finally:
            self.running.discard(flow_run.id)
            self.finished += 1


def run_in_thread(flow: Any, flow_run: Any) -> None:
    """Prefect's engine on one flow run, to its end, a suspension or an abort; any error is already the run's
    Failed or Crashed state on the server, so it is only logged here."""
    from prefect.exceptions import Abort, Pause
    from prefect.flow_engine import run_flow

    try:
        outcome = run_flow(flow, flow_run=flow_run, return_type="state")
        if asyncio.iscoroutine(outcome):
            asyncio.run(outcome)
    except (Pause, Abort):
        pass  # suspended for input (the server reschedules it) or taken by the server's orchestration
    except Exception:
        logger.exception("flow run %s ended with an error", flow_run.name)
