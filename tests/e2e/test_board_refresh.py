"""The served `refresh-board` deployment keeps the board true by itself: a burst of stage events becomes one
triggered run that shows every change of the burst, and a later change starts another."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter

from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.infra.db import session_scope
from smartcity.tasks.events import publish_outbox
from tests.helpers import T0, cohort_with, load_registry
from tests.prefect_server import served as serving

pytestmark = [pytest.mark.slow, pytest.mark.prefect_server]

CODES = ["3273", "3271", "7371", "9412"]


async def refresh_runs() -> list:
    async with get_client() as client:
        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["refresh-board"])),
            flow_run_filter=FlowRunFilter(),
        )


async def board() -> str:
    async with get_client() as client:
        r = await client._client.get("/artifacts/program-board/latest")
        r.raise_for_status()
        return r.json()["data"]


def wait_for(predicate, timeout: float = 90, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


def not_selected(codes: list[str], day: int) -> None:
    """Move `codes` to not_selected (no chained deployment listens to it) and publish their events at once."""
    for code in codes:
        with session_scope() as s:
            change_stage(
                s,
                StageChange(region_code=code, to=Stage.not_selected, actor="ani", cohort="2017"),
                now=T0 + timedelta(days=day),
            )
    asyncio.run(publish_outbox())


def finished(n: int):
    runs = asyncio.run(refresh_runs())
    return runs if len(runs) >= n and all(r.state and r.state.is_final() for r in runs) else None


@pytest.fixture
def served(sqlite_url, prefect_api, tmp_path):
    load_registry()
    cohort_with(CODES, quota=4)
    with serving(sqlite_url, prefect_api, tmp_path / "serve.log", refresh_window_s=2):  # 10 s by default
        yield


def test_a_burst_of_stage_events_is_one_refresh_that_shows_them_all(served):
    not_selected(CODES[:3], day=30)
    runs = wait_for(lambda: finished(1), timeout=90)
    assert runs, "no refresh-board run was triggered"
    time.sleep(3)  # a second run of the same burst would have been created by now
    runs = asyncio.run(refresh_runs())
    assert len(runs) == 1 and runs[0].state.is_completed(), [(r.name, r.state) for r in runs]
    assert runs[0].name == "refresh-board-2017-06-01-0800-wib"  # day 30 at 01:00 UTC, in WIB
    text = asyncio.run(board())
    assert text.count("▶ now") == 3, text  # three regions in a final stage (not selected)

    # A change after the burst's window starts a refresh of its own.
    not_selected(CODES[3:], day=31)
    runs = wait_for(lambda: finished(2), timeout=90)
    assert runs and len(runs) == 2
    assert asyncio.run(board()).count("▶ now") == 4

    # A review event starts a refresh too. Its payload names no business time of its own, and the trigger's
    # `{{ event.payload.occurred_at }}` then failed to render: Prefect created no run (seen in the demo's server
    # log as "Action failed ... InvalidJinja"), and the board stayed stale until the next burst.
    review_submitted(CODES[0], day=32)
    runs = wait_for(lambda: finished(3), timeout=90)
    assert runs and len(runs) == 3, [(r.name, r.state) for r in asyncio.run(refresh_runs())]
    assert sorted(r.name for r in runs)[-1] == "refresh-board-2017-06-03-0800-wib"  # the review's business day


def review_submitted(code: str, day: int) -> None:
    """A `smartcity.review.submitted` event as `submit_review` writes it (its payload, minus the scores)."""
    from sqlmodel import select

    from smartcity.models.core import events
    from smartcity.models.core.tables import Cohort, Region

    with session_scope() as s:
        region = s.exec(select(Region).where(Region.bps_code == code)).one()
        cohort = s.exec(select(Cohort).where(Cohort.name == "2017")).one()
        events.enqueue(
            s,
            key=f"review:test:{code}",
            event="smartcity.review.submitted",
            resource=events.region_resource(region, **{"smartcity.round": "1"}),
            related=events.related_for(region, cohort),
            payload={"round": 1, "version": "v1", "reviewer_id": 1, "decision": "approve", "source": "ui"},
            occurred_at=T0 + timedelta(days=day),
        )
    asyncio.run(publish_outbox())
