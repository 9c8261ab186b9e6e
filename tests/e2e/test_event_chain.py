"""The program runs itself: selecting a region through the CLI starts its drafting flow run on a real
Prefect server, through the event and the deployment trigger, with no further command."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter
from sqlmodel import select

from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import EventOutbox, StageTransition
from smartcity.models.core.transitions import StageChange, change_stage, find_enrollment
from smartcity.models.infra.db import session_scope
from tests.clirun import smartcity, smartcity_in_process
from tests.helpers import cohort_with, load_registry
from tests.prefect_server import served as serving

pytestmark = [pytest.mark.slow, pytest.mark.prefect_server]


async def runs_of(deployment: str) -> list:
    async with get_client() as client:
        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])),
            flow_run_filter=FlowRunFilter(),
        )


def wait_for(predicate, timeout=90, every=1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


@pytest.fixture
def served(sqlite_url, prefect_api, tmp_path):
    """Three nominees, and `smartcity serve` running; the test may stop it early."""
    load_registry()
    cohort_with(["3273", "3271", "9412"], quota=3)
    with serving(sqlite_url, prefect_api, tmp_path / "serve.log") as stop:
        yield sqlite_url, prefect_api, stop


def test_selected_event_starts_drafting_with_no_further_command(served):
    db_url, api, stop_serving = served
    done = smartcity(
        "region", "advance", "3273", "--to", "selected", "--actor", "ani", db_url=db_url, PREFECT_API_URL=api
    )
    assert done.code == 0, done.err

    def drafting_run():
        runs = [r for r in asyncio.run(runs_of("drafting-setup")) if r.parameters.get("region_code") == "3273"]
        return runs if runs and runs[0].state and runs[0].state.is_final() else None

    runs = wait_for(drafting_run, timeout=120)
    assert runs, "no drafting-setup flow run appeared for 3273"
    run = runs[0]
    assert run.state.is_completed(), run.state
    assert run.name == "drafting-setup-3273"
    with session_scope() as s:
        assert find_enrollment(s, "3273").stage == "drafting"
        event_id = s.exec(select(EventOutbox.event_id).where(EventOutbox.event == "smartcity.region.selected")).one()
    assert run.parameters["event_id"] == event_id

    # The same event delivered again (same id) leaves one effect: no second run, one transition.
    async def republish():
        async with get_client() as client:
            with session_scope() as s:
                row = s.exec(select(EventOutbox).where(EventOutbox.event_id == event_id)).one()
            from datetime import datetime

            from smartcity.models.core.events import as_prefect_event

            r = await client._client.post("/events", json=[as_prefect_event(row, datetime.now(UTC))])
            r.raise_for_status()

    asyncio.run(republish())
    time.sleep(8)
    assert len([r for r in asyncio.run(runs_of("drafting-setup")) if r.parameters.get("region_code") == "3273"]) == 1
    with session_scope() as s:
        rows = s.exec(select(StageTransition).where(StageTransition.to_stage == "drafting")).all()
    assert len(rows) == 1 and rows[0].actor == "system:drafting-setup"

    # The cohort flow leaves the program board: region x stage, deadlines in the region's local time. Serving
    # stops first: the board is the cohort flow's own artifact, and the runs its events would trigger (drafting
    # for two more regions, board refreshes) are what the part above already checked.
    stop_serving()
    done = smartcity(
        "cohort", "advance", "2017", "--to", "selected", "--actor", "ani", db_url=db_url, PREFECT_API_URL=api
    )
    assert done.code == 0, done.err

    async def board():
        async with get_client() as client:
            r = await client._client.get("/artifacts/program-board/latest")
            r.raise_for_status()
            return r.json()

    artifact = asyncio.run(board())
    text = artifact["data"]
    assert "Kota Bandung" in text and "Kabupaten Mimika" in text and "drafting" in text
    assert "WIB" in text, "the masterplan deadline is shown in the region's local time"


def test_drafting_setup_twice_for_one_event_is_one_effect(sqlite_url, prefect_api):
    from smartcity.flows.drafting_setup import drafting_setup

    load_registry()
    cohort_with(["3273"], quota=1)
    # set-up through the console script's main in this process (no Prefect API: the change commits in-process)
    done = smartcity_in_process("region", "advance", "3273", "--to", "selected", "--actor", "ani", db_url=sqlite_url)
    assert done.code == 0, done.err
    first = asyncio.run(drafting_setup("3273", event_id="e-1", at="2017-05-10T01:00:00+00:00"))
    second = asyncio.run(drafting_setup("3273", event_id="e-1", at="2017-05-10T01:00:00+00:00"))
    third = asyncio.run(drafting_setup("3273", event_id=None))
    assert (first["status"], second["status"], third["status"]) == ("applied", "duplicate", "unchanged")
    with session_scope() as s:
        rows = s.exec(select(StageTransition).where(StageTransition.to_stage == "drafting")).all()
    assert len(rows) == 1 and rows[0].occurred_at.isoformat() == "2017-05-10T01:00:00+00:00"


def test_a_late_selected_event_never_reopens_a_completed_masterplan(sqlite_url, prefect_api):
    """A selected event published long after the region moved on (seen on a loaded machine: the outbox was
    flushed after the masterplan was approved) must not take the revise edge masterplan_completed -> drafting."""
    from smartcity.flows.drafting_setup import drafting_setup
    from smartcity.models.reviews.tables import MasterplanRound

    load_registry()
    cohort_with(["3273"], quota=1)
    for stage in ("selected", "drafting"):
        done = smartcity_in_process("region", "advance", "3273", "--to", stage, "--actor", "ani", db_url=sqlite_url)
        assert done.code == 0, done.err
    with session_scope() as s:
        s.add(
            MasterplanRound(
                enrollment_id=find_enrollment(s, "3273").id,
                round_no=1,
                status="approved",
                submitted_at=datetime(2017, 10, 1, tzinfo=UTC),
            )
        )
    with session_scope() as s:
        change_stage(
            s,
            StageChange(region_code="3273", to=Stage.masterplan_completed, actor="ani"),
            now=datetime(2017, 11, 1, tzinfo=UTC),
        )
    late = asyncio.run(drafting_setup("3273", event_id="e-late", at="2017-05-10T01:00:00+00:00"))
    assert late["status"] == "unchanged", late
    with session_scope() as s:
        assert find_enrollment(s, "3273").stage == "masterplan_completed"
