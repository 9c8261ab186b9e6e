"""select-cohort against a real Prefect server: decisions recorded, events published, artifacts readable."""

from __future__ import annotations

import asyncio
import csv
import json

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from sqlmodel import func, select

from smartcity.models.core.regions import read_csv_text
from smartcity.models.core.tables import EventOutbox, StageTransition
from smartcity.models.infra.db import session_scope
from smartcity.models.selection.indicators import known_region_codes, parse_indicators, upsert_indicators
from smartcity.models.selection.scoring import ILLUSTRATIVE_INDICATORS_PATH
from tests.conftest import dump_database
from tests.helpers import T0, cohort_with, load_registry, phase1_codes


async def latest_artifact(key: str):
    """The newest artifact stored under `key`."""
    async with get_client() as client:
        found = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert found, f"no artifact with key {key}"
    return max(found, key=lambda a: a.created)


@pytest.mark.slow
def test_select_flow_records_decisions_and_publishes_ranking_and_why(sqlite_url, prefect_api):
    from smartcity.flows.select_cohort import artifact_keys, select_cohort

    load_registry()
    with ILLUSTRATIVE_INDICATORS_PATH.open(encoding="utf-8") as fh:
        codes = sorted({row["bps_code"] for row in csv.DictReader(fh)})
    cohort_with(codes, name="Phase 1 2017", quota=25)
    with session_scope() as session:
        rows = parse_indicators(
            read_csv_text(ILLUSTRATIVE_INDICATORS_PATH), "illustrative", known_region_codes(session)
        )
        upsert_indicators(session, rows, now=T0)

    summary = asyncio.run(select_cohort("Phase 1 2017", "ani"))
    assert (summary["applied"], summary["refused"]) == (40, [])
    assert set(summary["selected"]) == set(phase1_codes())
    assert summary["artifacts"] == {"ranking": "selection-phase-1-2017", "why": "selection-why-phase-1-2017"}
    assert artifact_keys("Phase 1 2017") == ("selection-phase-1-2017", "selection-why-phase-1-2017")
    with session_scope() as session:
        runs = set(session.exec(select(StageTransition.flow_run_id)).all())
        pending = session.exec(
            select(func.count()).select_from(EventOutbox).where(EventOutbox.published_at.is_(None))
        ).one()  # type: ignore[union-attr]
    assert len(runs) == 1 and None not in runs and pending == 0

    table = asyncio.run(latest_artifact("selection-phase-1-2017"))
    ranking = json.loads(table.data)
    assert table.type == "table" and len(ranking) == 40
    assert sum(r["selected"] for r in ranking) == 25
    assert {r["bps_code"] for r in ranking if r["equity_rule"] == "province_cap"} == {"3276"}
    assert "ILLUSTRATIVE (simulated) indicator values" in table.description
    why = asyncio.run(latest_artifact("selection-why-phase-1-2017"))
    assert why.type == "markdown" and str(why.flow_run_id) in runs
    assert "ILLUSTRATIVE (simulated) indicator values" in why.data
    assert "**Province cap:** at most 6 region(s) per province; kept out by it: Kota Depok" in why.data
    assert "**Island floor:**" in why.data and "brought in by it: Kabupaten Mimika" in why.data

    before = dump_database(sqlite_url)
    again = asyncio.run(select_cohort("Phase 1 2017", "ani"))
    assert (again["applied"], again["duplicate"]) == (0, 40)
    assert dump_database(sqlite_url) == before
