"""masterplan_completed starts quick-win tracking: the PIC hears once when the quick win is due."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from smartcity.deployments.demo.receiver import Receiver
from smartcity.flows.quick_win_tracking import quick_win_tracking
from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage, find_enrollment
from smartcity.models.infra.db import session_scope
from smartcity.models.notifications.outbox import add_contact
from smartcity.models.reviews.tables import MasterplanRound
from tests.helpers import T0, cohort_with, load_registry

COMPLETED = datetime(2017, 10, 2, 3, 0, tzinfo=UTC)  # Monday 10:00 WITA


def test_tracking_announces_the_quick_win_deadline_once(sqlite_url, prefect_api):
    load_registry()
    cohort_with(["7371"])  # Kota Makassar, WITA
    with Receiver() as rx:
        with session_scope() as s:
            add_contact(
                s, role="pic", region_code="7371", name="PIC Makassar", url=f"{rx.url}/pic", language="en", now=T0
            )
        for stage in ("selected", "drafting"):
            with session_scope() as s:
                change_stage(
                    s, StageChange(region_code="7371", to=Stage(stage), actor="ani", reason=None, cohort="2017"), now=T0
                )
        with session_scope() as s:
            s.add(
                MasterplanRound(
                    enrollment_id=find_enrollment(s, "7371").id, round_no=1, status="approved", submitted_at=T0
                )
            )
        with session_scope() as s:
            change_stage(
                s,
                StageChange(region_code="7371", to=Stage.masterplan_completed, actor="ani", reason=None, cohort="2017"),
                now=COMPLETED,
            )
        first = asyncio.run(quick_win_tracking("7371", event_id="e-1", at=COMPLETED.isoformat()))
        again = asyncio.run(quick_win_tracking("7371", event_id="e-1", at=COMPLETED.isoformat()))
        messages = list(rx.messages)
    assert (first["enqueued"], first["sent"], again["enqueued"], again["sent"]) == (1, 1, 0, 0)
    (message,) = messages
    assert "quick-win" in message["title"] and "WITA" in message["message"] and "17:00" in message["message"]
