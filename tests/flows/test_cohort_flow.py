"""advance-cohort against a real Prefect server: one flow run, a task per batch, one event per move."""

from __future__ import annotations

import asyncio

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter
from sqlmodel import func, select

from smartcity.models.core.tables import EventOutbox, StageTransition
from smartcity.models.infra.db import session_scope
from tests.helpers import cohort_with, load_registry


async def count_events(api_client, prefix: str, since, expect: int, timeout: float = 30) -> int:
    """How many events named `prefix`… the server has stored, polling until `expect` or timeout
    (the server ingests events asynchronously)."""
    body = {"filter": {"event": {"prefix": [prefix]}, "occurred": {"since": since.isoformat()}}}
    n = -1
    for _ in range(int(timeout * 2)):
        r = await api_client.post("/events/count-by/event", json=body)
        r.raise_for_status()
        n = sum(c["count"] for c in r.json())
        if n >= expect:
            return n
        await asyncio.sleep(0.5)
    return n


async def events_named(api_client, prefix: str, since) -> list[dict]:
    """Every event whose name starts with `prefix`, paging through the API."""
    body = {"filter": {"event": {"prefix": [prefix]}, "occurred": {"since": since.isoformat()}}, "limit": 50}
    r = await api_client.post("/events/filter", json=body)
    r.raise_for_status()
    page = r.json()
    out = page["events"]
    while page.get("next_page"):
        r = await api_client.get(page["next_page"])
        r.raise_for_status()
        page = r.json()
        out += page["events"]
    return out


@pytest.mark.slow
def test_cohort_of_514_is_one_flow_run_with_batched_tasks_and_514_events(sqlite_url, prefect_api):
    from smartcity.flows.advance_cohort import advance_cohort

    codes = load_registry()
    cohort_with(codes, name="all-514")
    summary = asyncio.run(advance_cohort("all-514", "selected", "ani", batch_size=50))
    assert (summary["applied"], summary["refused"]) == (514, [])
    with session_scope() as s:
        transitions = s.exec(select(StageTransition)).all()
        pending = s.exec(select(func.count()).select_from(EventOutbox).where(EventOutbox.published_at.is_(None))).one()
    assert len(transitions) == 514 and pending == 0
    run_ids = {t.flow_run_id for t in transitions}
    assert len(run_ids) == 1

    async def check():
        async with get_client() as client:
            run = await client.read_flow_run(run_ids.pop())
            assert run.name == "advance-cohort-all-514-to-selected"
            assert {"cohort:all-514", "stage:selected"} <= set(run.tags)
            batches: list = []
            for _ in range(60):  # task runs reach the server as events, stored a moment later
                tasks = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])), task_run_filter=TaskRunFilter()
                )
                batches = [t for t in tasks if t.name.startswith("advance-batch")]
                if len(batches) >= 11:
                    break
                await asyncio.sleep(0.5)
            assert len(batches) == 11  # ceil(514 / 50)
            n = await count_events(client._client, "smartcity.region.selected", run.start_time, 514)
            assert n == 514
            await asyncio.sleep(2)  # and no more arrive: one event per transition
            assert await count_events(client._client, "smartcity.region.selected", run.start_time, 515, 1) == 514

    asyncio.run(check())
