"""The deadline sweep reconciles: a selection whose event reached no deployment is moved to drafting once,
the run says so in its `reconcile` artifact, and drafting-setup firing late afterwards changes nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort
from sqlmodel import col, func, select

from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import EventOutbox, StageTransition
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.tables import Deadline
from smartcity.models.infra.db import session_scope
from tests.helpers import T0, cohort_with, load_registry

DEPOK = "3276"


async def latest_artifact(key: str) -> str:
    """The newest version of the artifact `key`."""
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=1
        )
    return found[0].data


def drafting_moves() -> tuple[int, int]:
    """(transitions of Depok into drafting, deadlines opened for its drafting)."""
    with session_scope() as s:
        enr = find_enrollment(s, DEPOK)
        moves = s.exec(
            select(func.count())
            .select_from(StageTransition)
            .where(StageTransition.enrollment_id == enr.id, StageTransition.to_stage == Stage.drafting)
        ).one()
        deadlines = s.exec(
            select(func.count())
            .select_from(Deadline)
            .where(Deadline.enrollment_id == enr.id, Deadline.stage == Stage.drafting)
        ).one()
        return moves, deadlines


@pytest.mark.slow
def test_the_sweep_repairs_a_lost_selection_once_and_a_late_trigger_doubles_nothing(sqlite_url, prefect_api):
    from smartcity.flows.deadline_sweep import deadline_sweep
    from smartcity.flows.drafting_setup import drafting_setup

    load_registry()
    cohort_with([DEPOK])
    with session_scope() as s:  # committed here, with no run: the selected event waits, no drafting-setup starts
        change_stage(s, StageChange(region_code=DEPOK, to=Stage.selected, actor="ani", cohort="2017"), now=T0)
    later = (T0 + timedelta(hours=2)).isoformat()

    asyncio.run(deadline_sweep(now=later))
    once = drafting_moves()
    assert once[0] == 1 and once[1] > 0  # one transition, its masterplan deadline and milestones opened
    markdown = asyncio.run(latest_artifact("reconcile"))
    assert "| 3276 | Kota Depok | 2017 | selected | 2017-05-02 08:00 WIB | drafting-setup | repaired |" in markdown
    with session_scope() as s:
        event = s.exec(select(EventOutbox).where(EventOutbox.event == "smartcity.region.selected")).one()
        pending = s.exec(
            select(func.count()).select_from(EventOutbox).where(col(EventOutbox.published_at).is_(None))
        ).one()
    assert pending == 0  # the repair published the waiting events, the drafting one included

    # The trigger fires after all, with the event's id and time: the same key, so a duplicate, not a second move.
    late = asyncio.run(drafting_setup(DEPOK, event_id=event.event_id, at=event.payload["occurred_at"]))
    assert late["status"] == "duplicate" and drafting_moves() == once

    asyncio.run(deadline_sweep(now=later))
    assert drafting_moves() == once
    assert "Nothing stalled" in asyncio.run(latest_artifact("reconcile"))
