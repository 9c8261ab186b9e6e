"""deadline-sweep and weekly-digest against a real Prefect server: counts, the artifact, no secret."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.infra.db import session_scope
from smartcity.models.notifications.delivery import AppriseSender
from smartcity.models.notifications.outbox import add_contact
from tests.helpers import T0, cohort_with, load_registry

SECRET = "FlowS3cret"


@pytest.mark.slow
def test_sweep_and_digest_flows_report_without_secrets(sqlite_url, prefect_api, monkeypatch):
    from smartcity.flows.deadline_sweep import deadline_sweep
    from smartcity.flows.weekly_digest import weekly_digest

    sent: list[str] = []
    monkeypatch.setattr(AppriseSender, "send", lambda self, url, title, body: sent.append(title))
    load_registry()
    cohort_with(["3273"])
    with session_scope() as s:
        add_contact(
            s, role="pic", region_code="3273", name="PIC", url=f"json://u:{SECRET}@127.0.0.1:9/p", language="id", now=T0
        )
        add_contact(
            s,
            role="coordinator",
            region_code=None,
            name="Koord",
            url=f"json://u:{SECRET}@127.0.0.1:9/c",
            language="en",
            now=T0,
        )
    for to in ("selected", "drafting"):
        with session_scope() as s:
            change_stage(s, StageChange(region_code="3273", to=Stage(to), actor="ani"), now=T0)
    first = asyncio.run(deadline_sweep(now="2017-05-10T08:00+07:00"))
    assert (first["enqueued"], first["sent"], first["failed"]) == (1, 1, 0)
    assert asyncio.run(deadline_sweep(now="2017-05-10T08:00+07:00"))["enqueued"] == 0
    digest = asyncio.run(weekly_digest(now="2017-11-13T08:00+07:00"))  # Bandung's masterplan is overdue
    assert (digest["enqueued"], digest["sent"]) == (1, 1)
    assert sent[0].startswith("[Smart City] Kota Bandung") and "Weekly digest 2017-W46" in sent[-1]

    async def artifact() -> str:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["deadline-sweep"]))
            )
            return found[0].data

    markdown = asyncio.run(artifact())
    assert "| enqueued |" in markdown and SECRET not in markdown and "json://" not in markdown


async def _read_run(run_id=None, name: str | None = None, since: datetime | None = None):
    """One flow run from the server, by id, or by its name among the runs started since `since`: unique there.

    The session's server is shared by the tests of one worker, and another test here makes runs of the same
    names (as its schedule would), so a name is unique only among this test's runs."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, FlowRunFilterStartTime

    async with get_client() as client:
        if run_id is not None:
            return await client.read_flow_run(run_id)
        recent = FlowRunFilter(name=FlowRunFilterName(any_=[name]), start_time=FlowRunFilterStartTime(after_=since))
        (run,) = await client.read_flow_runs(flow_run_filter=recent)
        return run


@pytest.mark.slow
def test_manual_runs_are_named_and_tagged_by_as_of_time_and_zone(sqlite_url, prefect_api):
    from smartcity.flows.deadline_sweep import deadline_sweep
    from smartcity.flows.weekly_digest import weekly_digest

    started = datetime.now(UTC)
    asyncio.run(deadline_sweep(now="2017-09-18T08:00+09:00"))  # the offset says WIT
    asyncio.run(deadline_sweep(now="2017-09-19T00:00Z", zone="WITA"))  # an explicit zone wins
    asyncio.run(weekly_digest(now="2017-09-18T00:00Z"))  # no Indonesian offset: WIB, the program's home zone
    for name, zone in (
        ("deadline-sweep-2017-09-18-0800-wit", "zone:wit"),
        ("deadline-sweep-2017-09-19-0800-wita", "zone:wita"),
        ("weekly-digest-2017-09-18-0700-wib", "zone:wib"),
    ):
        run = asyncio.run(_read_run(name=name, since=started))
        assert {"deadlines", zone} <= set(run.tags), (name, run.tags)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flow_path", "due_utc", "zone", "name"),
    [
        ("deadline_sweep:deadline_sweep", "2017-09-17T23:00:00+00:00", "WIT", "deadline-sweep-2017-09-18-0800-wit"),
        ("weekly_digest:weekly_digest", "2017-09-18T00:00:00+00:00", "WIB", "weekly-digest-2017-09-18-0700-wib"),
    ],
)
def test_a_scheduled_run_sweeps_as_of_its_scheduled_time(sqlite_url, prefect_api, flow_path, due_utc, zone, name):
    """As the schedule creates it: no `now`, the schedule's zone, an expected start time long past."""
    import importlib

    from prefect.flow_engine import run_flow
    from prefect.states import Scheduled

    module, attr = flow_path.split(":")
    flow = getattr(importlib.import_module(f"smartcity.flows.{module}"), attr)

    async def scheduled():
        async with get_client() as client:
            return await client.create_flow_run(
                flow, parameters={"zone": zone}, state=Scheduled(scheduled_time=datetime.fromisoformat(due_utc))
            )

    run = asyncio.run(scheduled())
    summary = asyncio.run(run_flow(flow, flow_run=run, parameters=run.parameters))
    assert summary["as_of"] == due_utc  # the schedule's time, not the clock's
    named = asyncio.run(_read_run(run.id))
    assert named.name == name and {"deadlines", f"zone:{zone.lower()}"} <= set(named.tags)
