"""Artifacts that stay true, read back from a real Prefect server after each kind of change: a region move,
drafting setup, a review submitted (and the round closing), a quick win delivered. The board is the whole
program (every cohort), also after a cohort advance and a one-cohort report."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from smartcity.models.core.program import create_cohort, nominate
from smartcity.models.core.stages import Stage
from smartcity.models.infra.db import session_scope
from smartcity.models.quickwins.ops import DEFAULT_CHECKLIST, add_evidence, register_quick_win, verify_quick_win
from smartcity.models.reviews.ops import add_reviewer, submit_masterplan, submit_review
from tests.helpers import T0, cohort_with, load_registry

pytestmark = [pytest.mark.slow, pytest.mark.prefect_server]

REVIEW = {
    "scores": {d: {"score": 4} for d in ("governance", "branding", "economy", "living", "society", "environment")},
    "decision": "approve",
    "comment": "",
}
BOARD_STAGES = [
    "nominated",
    "selected",
    "drafting",
    "masterplan completed",
    "quick win delivered",
    "not selected",
    "withdrawn",
]


async def latest(key: str):
    """The newest artifact under `key`."""
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=1
        )
    assert found, f"no artifact {key}"
    return found[0]


def board_stage(code: str) -> str:
    """The stage the program board marks (▶) for region `code`."""
    board = asyncio.run(latest("program-board")).data
    (row,) = [line for line in board.splitlines() if line.startswith(f"| {code} ")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    (marked,) = [BOARD_STAGES[i] for i, cell in enumerate(cells[1 : 1 + len(BOARD_STAGES)]) if cell.startswith("▶")]
    return marked


def refresh(days: float) -> dict:
    """What the refresh-board trigger runs, with the business time of the event."""
    from smartcity.flows.refresh_board import refresh_board

    return asyncio.run(refresh_board(as_of=(T0 + timedelta(days=days)).isoformat()))


@pytest.fixture
def program(sqlite_url, prefect_api):
    """Cohort 2017 (Bandung, Makassar), cohort 2018 (Surabaya), two reviewers from outside Jawa Barat."""
    load_registry()
    cohort_with(["3273", "7371"], name="2017")
    with session_scope() as s:
        create_cohort(s, name="2018", year=2018, quota=5, now=T0)
        nominate(s, cohort="2018", codes=["3578"], now=T0)
        for name, institution, province in (("Ir. Hammam", "BPPT", "DKI Jakarta"), ("Dr. Ninok", "UMN", "Banten")):
            add_reviewer(s, name=name, institution=institution, province=province, expertise="economy", now=T0)
    return sqlite_url


def test_each_change_leaves_the_board_progress_and_pending_reviews_true(program):
    from smartcity.flows.advance_cohort import advance_cohort
    from smartcity.flows.advance_stage import advance_stage
    from smartcity.flows.drafting_setup import drafting_setup

    # A cohort advance: the board still shows the other cohort's region too.
    asyncio.run(advance_cohort("2017", Stage.selected, "ani", at=T0 + timedelta(days=1)))
    assert (board_stage("3273"), board_stage("7371"), board_stage("3578")) == ("selected", "selected", "nominated")

    # A single-region move and drafting setup.
    asyncio.run(advance_stage("3578", Stage.selected, "ani", at=T0 + timedelta(days=2)))
    asyncio.run(drafting_setup("3273", event_id="e-1", at=(T0 + timedelta(days=3)).isoformat()))
    refresh(3)
    assert (board_stage("3273"), board_stage("3578")) == ("drafting", "selected")
    assert "masterplans completed 0 of 2" in asyncio.run(latest("progress-2017")).description

    # A masterplan in review: both reviewers hold it; one answers and is gone from the pending board.
    with session_scope() as s:
        submit_masterplan(s, "3273", "v1", "ani", T0 + timedelta(days=20), n=2)
    refresh(20)
    pending = asyncio.run(latest("reviews-pending")).data
    assert "Ir. Hammam" in pending and "Dr. Ninok" in pending
    with session_scope() as s:
        submit_review(
            s, region_code="3273", reviewer_id=1, submission=REVIEW, source="cli", now=T0 + timedelta(days=24)
        )
    refresh(24)
    pending = asyncio.run(latest("reviews-pending")).data
    assert "Ir. Hammam" not in pending and "Dr. Ninok" in pending
    assert "4 d" in pending  # waited from day 20 to day 24 of the business clock, not to today's date

    # The last review closes the round: the masterplan is completed, the progress bar moves.
    with session_scope() as s:
        submit_review(
            s, region_code="3273", reviewer_id=2, submission=REVIEW, source="cli", now=T0 + timedelta(days=25)
        )
    refresh(25)
    assert "No review is waiting" in asyncio.run(latest("reviews-pending")).data
    assert board_stage("3273") == "masterplan completed"
    progress = asyncio.run(latest("progress-2017"))
    assert progress.data == 50.0 and "masterplans completed 1 of 2" in progress.description

    # A quick win verified and delivered: the progress sentence counts the delivery.
    with session_scope() as s:
        qw = register_quick_win(
            s,
            "3273",
            {
                "title": "Command Center",
                "dimension": "governance",
                "budget_idr": 1_000_000,
                "start_date": date(2017, 6, 1),
                "kpis": [{"name": "services online", "unit": "count", "target": 40}],
            },
            "ani",
            T0 + timedelta(days=26),
        )
        qw_id = qw.id
    with session_scope() as s:
        add_evidence(s, qw_id, actor="ani", now=T0 + timedelta(days=27), url="https://bandung.go.id/cc.pdf")
        verify_quick_win(s, qw_id, "Budi (Kominfo)", dict.fromkeys(DEFAULT_CHECKLIST, True), T0 + timedelta(days=28))
    asyncio.run(advance_stage("3273", Stage.quick_win_delivered, "ani", at=T0 + timedelta(days=29)))
    done = refresh(29)
    assert board_stage("3273") == "quick win delivered"
    assert "quick wins delivered 1" in asyncio.run(latest("progress-2017")).description
    assert "2018" in asyncio.run(latest("cohort-2018")).description
    assert set(done["artifacts"]) == {
        "program-board",
        "cohort-2017",
        "progress-2017",
        "cohort-2018",
        "progress-2018",
        "reviews-pending",
    }


def test_a_review_event_without_business_time_keeps_the_simulated_clock(program):
    """Review events carry no `occurred_at`: the refresh takes the program's latest change, not today's date."""
    from smartcity.flows.refresh_board import refresh_board

    asyncio.run(refresh_board(as_of=""))  # what the trigger's template renders for a missing payload field
    board = asyncio.run(latest("program-board")).data
    assert "As of 2017-05-02 01:00 UTC" in board


def test_a_one_cohort_report_still_publishes_the_whole_program_board(program):
    from smartcity.flows.cohort_report import cohort_report

    asyncio.run(cohort_report("2018", as_of=(T0 + timedelta(days=5)).isoformat()))
    board = asyncio.run(latest("program-board")).data
    assert all(f"| {code} " in board for code in ("3273", "7371", "3578"))
