"""Wait for the event chain to settle before the simulated clock moves on.

Settled means: no flow run SCHEDULED, PENDING or RUNNING (a review round suspended for its reviewers is
PAUSED, and is settled), every event of the outbox published, and every published event that a deployment
trigger listens for has its triggered run (else a just-published event whose run the trigger has not created
yet would look settled).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from sqlmodel import col, func, select

from smartcity.models.core.tables import EventOutbox
from smartcity.models.infra.db import session_scope

BUSY_STATES = ("SCHEDULED", "PENDING", "RUNNING")


def coalesced_deployments() -> list[str]:
    """Deployments that run once per burst of events, some seconds after it, only to republish artifacts."""
    from smartcity.deployments.runtime.registry import REGISTRY

    return [s.name for s in REGISTRY if getattr(s, "coalesce_seconds", 0)]


def triggered_deployments() -> dict[str, str]:
    """{deployment name: the event that triggers it} from the registry."""
    from smartcity.deployments.runtime.registry import REGISTRY

    return {s.name: s.trigger_event for s in REGISTRY if s.trigger_event}


def outbox_counts() -> tuple[int, Counter]:
    """(events not yet published, published events per event name)."""
    with session_scope() as s:
        pending = s.exec(
            select(func.count()).select_from(EventOutbox).where(col(EventOutbox.published_at).is_(None))
        ).one()
        published = s.exec(
            select(EventOutbox.event, func.count())
            .where(col(EventOutbox.published_at).is_not(None))
            .group_by(EventOutbox.event)
        ).all()
    return pending, Counter(dict(published))


async def unsettled(final: bool = False) -> list[str]:
    """What keeps the chain from being settled, one phrase each; empty when settled.

    Between moves of the clock the coalesced artifact refreshes are not waited for (they change nothing the
    story reads, and each waits its burst window); with `final`, they are."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    busy_filter = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in BUSY_STATES]))
    )
    pending, published = outbox_counts()
    problems = [f"{pending} event(s) unpublished in the outbox"] if pending else []
    async with get_client() as client:
        busy = await client.read_flow_runs(flow_run_filter=busy_filter, limit=50)
        ignored = set() if final else await _deployment_ids(client, coalesced_deployments())
        problems += [
            f"run {r.name} is {r.state.name if r.state else '?'}" for r in busy if r.deployment_id not in ignored
        ]
        for name, event in triggered_deployments().items():
            if not published[event]:
                continue
            runs = await client.count_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name]))
            )
            if runs < published[event]:
                problems.append(f"{published[event] - runs} {event} event(s) without their {name} run yet")
    return problems


async def _deployment_ids(client, names: list[str]) -> set:
    """The ids of the named deployments."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    if not names:
        return set()
    found = await client.read_deployments(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=names)))
    return {d.id for d in found}


def wait_settled(timeout: float = 180, poll: float = 0.3, *, publish: bool = False, final: bool = False) -> None:
    """Block until settled (first publishing the outbox, with `publish`; with `final`, artifact refreshes
    included); after `timeout` seconds raise, naming what is stuck."""
    if publish and outbox_counts()[0]:
        from smartcity.tasks.events import publish_outbox

        asyncio.run(publish_outbox())
    deadline = time.monotonic() + timeout
    problems = asyncio.run(unsettled(final))
    while problems:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the event chain did not settle within {timeout:.0f}s: {'; '.join(problems)}")
        time.sleep(poll)
        problems = asyncio.run(unsettled(final))
