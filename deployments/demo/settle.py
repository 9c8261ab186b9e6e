"""Wait for the event chain to settle before the simulated clock moves on.

Settled means: no flow run SCHEDULED, PENDING or RUNNING (a review round suspended for its reviewers is
PAUSED, and is settled), every event of the outbox published, and every published event that a deployment
trigger matches has its triggered run (else a just-published event whose run the trigger has not created yet
would look settled). Which events a trigger matches is read from the served deployments' own triggers, with
Prefect's matching rules, so this follows the registry however its triggers are built.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from functools import cache
from typing import Any

from sqlmodel import col, func, select

from smartcity.models.core.tables import EventOutbox
from smartcity.models.infra.db import session_scope

BUSY_STATES = ("SCHEDULED", "PENDING", "RUNNING")


class Chain:
    """The served registry's triggers, and the triggered runs that the events published so far call for."""

    def __init__(self, deployments: list[Any]) -> None:
        #: (deployment, trigger) of the triggers that start one run per matching event
        self.per_event = [(d.name, t) for d in deployments for t in d.triggers or [] if not t.within]
        #: deployments whose trigger runs once per burst of events, only to republish artifacts
        self.coalesced = sorted({d.name for d in deployments for t in d.triggers or [] if t.within})
        self.expected: Counter[str] = Counter()  # triggered runs called for, per deployment
        self.confirmed: Counter[str] = Counter()  # triggered runs seen on the server, per deployment
        self.counted = 0  # the last outbox id whose event is in `expected`
        self._ids: set | None = None

    def count_published(self) -> tuple[int, int]:
        """Add newly published events to `expected`; (events not yet published, the last counted id).

        Only events below the oldest unpublished one are counted, so every id up to `counted` is published
        and counted once (the outbox is published oldest first)."""
        from prefect.events.schemas.events import Resource, matches

        with session_scope() as s:
            pending, oldest = s.exec(
                select(func.count(), func.min(EventOutbox.id)).where(col(EventOutbox.published_at).is_(None))
            ).one()
            query = select(EventOutbox.id, EventOutbox.event, EventOutbox.resource).where(
                col(EventOutbox.id) > self.counted, col(EventOutbox.published_at).is_not(None)
            )
            rows = s.exec(query.where(col(EventOutbox.id) < oldest) if oldest else query).all()
        for row_id, event, resource in rows:
            for name, trigger in self.per_event:
                if any(matches(e, event) for e in trigger.expect) and trigger.match.matches(Resource(resource)):
                    self.expected[name] += 1
            self.counted = max(self.counted, row_id or 0)
        return pending, self.counted

    async def unsettled(self, client: Any, final: bool = False) -> list[str]:
        """What keeps the chain from being settled, one phrase each; empty when settled.

        Between moves of the clock the coalesced artifact refreshes are not waited for (they change nothing the
        story reads, and each waits its burst window); with `final`, they are. The outbox is read before and
        after the runs: a run that published an event and ended in between is caught by the second read."""
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterName,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        pending, before = self.count_published()
        if pending:
            return [f"{pending} event(s) unpublished in the outbox"]
        problems: list[str] = []
        for name in [n for n in self.expected if self.expected[n] > self.confirmed[n]]:
            self.confirmed[name] = await client.count_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name]))
            )
            if self.confirmed[name] < self.expected[name]:
                problems.append(f"{self.expected[name] - self.confirmed[name]} event(s) without their {name} run")
        busy = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in BUSY_STATES]))
            ),
            limit=50,
        )
        ignored = set() if final else await self._coalesced_ids(client)
        problems += [
            f"run {r.name} is {r.state.name if r.state else '?'}" for r in busy if r.deployment_id not in ignored
        ]
        if not problems and self.count_published() != (0, before):
            problems.append("a run published events meanwhile")
        return problems

    async def _coalesced_ids(self, client: Any) -> set:
        """The ids of the coalesced deployments (read once)."""
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

        if self._ids is None:
            named = DeploymentFilter(name=DeploymentFilterName(any_=self.coalesced))
            self._ids = (
                {d.id for d in await client.read_deployments(deployment_filter=named)} if self.coalesced else set()
            )
        return self._ids


@cache
def served_chain() -> Chain:
    """The chain of the demo's served registry (one per process: it keeps the running counts)."""
    from smartcity.deployments.demo.serving import demo_deployments

    return Chain(demo_deployments())


def publish() -> int:
    """Publish the outbox now, so the runs its events trigger start while the story goes on."""
    from smartcity.tasks.events import publish_outbox

    return asyncio.run(publish_outbox())


def wait_settled(timeout: float = 180, poll: float = 0.2, *, final: bool = False, serve_loop: Any = None) -> None:
    """Publish the outbox, then block until settled (with `final`, artifact refreshes included). Raise, naming
    what is stuck, when nothing moved for `timeout` seconds (a busy machine only slows the chain down), or as
    soon as the serve loop (a subprocess.Popen, if given) has exited."""
    chain = served_chain()
    if chain.count_published()[0]:
        publish()
    asyncio.run(_wait(chain, timeout, poll, final, serve_loop))


async def _wait(chain: Chain, timeout: float, poll: float, final: bool, serve_loop: Any) -> None:
    """The polling loop of `wait_settled`, on one client (each wait may poll a hundred times)."""
    from prefect import get_client

    started = time.monotonic()
    deadline, before = started + timeout, None
    async with get_client() as client:
        while problems := await chain.unsettled(client, final):
            if serve_loop is not None and serve_loop.poll() is not None:
                stuck = "; ".join(problems)
                raise RuntimeError(
                    f"the serve loop exited (code {serve_loop.returncode}), the story waiting for: {stuck}"
                )
            if problems != before:
                deadline, before = time.monotonic() + timeout, problems
            elif time.monotonic() > deadline:
                raise RuntimeError(f"the event chain did not move for {timeout:.0f}s: {'; '.join(problems)}")
            # Poll often while a wait is short, less as it grows (up to 1 s): a busy machine's long waits
            # would otherwise spend its CPU on asking the server.
            await asyncio.sleep(min(1.0, max(poll, (time.monotonic() - started) / 10)))
