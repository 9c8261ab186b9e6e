"""The deadline sweep publishes the audit anchor as a Prefect artifact; `audit verify --against prefect` reads it."""

from __future__ import annotations

import asyncio

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from smartcity.models.core.audit import anchor_from_markdown
from smartcity.models.core.errors import DomainRefused
from tests.clirun import smartcity_in_process
from tests.tasks.test_audit import CUT_3273, ROLL_BACK_3273, execute, program


async def anchor_artifacts() -> list[str]:
    """Every version of the `audit-anchor` artifact, newest first."""
    async with get_client() as client:
        keyed = ArtifactFilter(key=ArtifactFilterKey(any_=["audit-anchor"]))
        found = await client.read_artifacts(artifact_filter=keyed)
    return [a.data for a in sorted(found, key=lambda a: a.created, reverse=True)]


@pytest.mark.slow
def test_the_sweep_anchors_the_chains_and_a_cut_tail_shows_against_it(sqlite_url, prefect_api):
    from smartcity.flows.deadline_sweep import deadline_sweep

    program()
    before = len(asyncio.run(anchor_artifacts()))
    asyncio.run(deadline_sweep(now="2017-05-10T08:00+07:00"))
    published = asyncio.run(anchor_artifacts())
    assert len(published) == before + 1
    anchor = anchor_from_markdown(published[0], "artifact")
    assert anchor.chains["2017/3273"].version == 2 and anchor.audit_record and anchor.audit_record.id == 4
    assert anchor.database == sqlite_url
    held = smartcity_in_process(
        "audit", "verify", "--against", "prefect", db_url=sqlite_url, PREFECT_API_URL=prefect_api
    )
    assert held.code == 0 and "anchor of" in held.out, held.err
    execute(sqlite_url, CUT_3273)
    execute(sqlite_url, ROLL_BACK_3273)
    cut = smartcity_in_process(
        "audit", "verify", "--against", "prefect", db_url=sqlite_url, PREFECT_API_URL=prefect_api
    )
    assert cut.code == 1 and "region 3273 (cohort 2017)" in cut.err and "tail was cut" in cut.err


@pytest.mark.slow
def test_the_sweep_fails_loudly_on_a_broken_chain_and_anchors_nothing(sqlite_url, prefect_api):
    from smartcity.flows.deadline_sweep import deadline_sweep

    program()
    execute(sqlite_url, "UPDATE stage_transition SET actor = 'mallory' WHERE id = 2")
    before = len(asyncio.run(anchor_artifacts()))
    with pytest.raises(DomainRefused, match="no anchor taken"):
        asyncio.run(deadline_sweep(now="2017-05-10T08:00+07:00"))
    assert len(asyncio.run(anchor_artifacts())) == before
