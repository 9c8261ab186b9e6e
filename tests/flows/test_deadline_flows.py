"""deadline-sweep and weekly-digest against a real Prefect server: counts, the artifact, no secret."""

from __future__ import annotations

import asyncio

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
        add_contact(s, role="pic", region_code="3273", name="PIC", url=f"json://u:{SECRET}@127.0.0.1:9/p",
                    language="id", now=T0)
        add_contact(s, role="coordinator", region_code=None, name="Koord", url=f"json://u:{SECRET}@127.0.0.1:9/c",
                    language="en", now=T0)
    for to in ("selected", "drafting"):
        with session_scope() as s:
            change_stage(s, StageChange("3273", Stage(to), "ani"), now=T0)
    first = asyncio.run(deadline_sweep(now="2017-05-10T08:00+07:00"))
    assert (first["enqueued"], first["sent"], first["failed"]) == (1, 1, 0)
    assert asyncio.run(deadline_sweep(now="2017-05-10T08:00+07:00"))["enqueued"] == 0
    digest = asyncio.run(weekly_digest(now="2017-11-13T08:00+07:00"))  # Bandung's masterplan is overdue
    assert (digest["enqueued"], digest["sent"]) == (1, 1)
    assert sent[0].startswith("[Smart City] Kota Bandung") and "Weekly digest 2017-W46" in sent[-1]

    async def artifact() -> str:
        async with get_client() as client:
            found = await client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["deadline-sweep"])))
            return found[0].data

    markdown = asyncio.run(artifact())
    assert "| enqueued |" in markdown and SECRET not in markdown and "json://" not in markdown
