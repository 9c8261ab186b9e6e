"""review-round against a real Prefect server: the run pauses with the review form, reviewers answer
through the API call the UI form makes, and the quorum moves the region to masterplan_completed."""

from __future__ import annotations

import asyncio
import time

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import SetStateStatus
from prefect.client.schemas.sorting import FlowRunSort
from sqlmodel import select

from smartcity.models.core.transitions import find_enrollment
from smartcity.models.infra.db import session_scope
from smartcity.models.reviews.ops import submit_masterplan, submit_review
from smartcity.models.reviews.tables import Review
from tests.helpers import REVIEWER_POOL, T0, drafting_with_reviewers

BANDUNG = "3273"
FORM = {
    "governance": 4,
    "branding": 3,
    "economy": 4,
    "living": 5,
    "society": 4,
    "environment": 3,
    "decision": "approve",
    "comment": "",
}


def bandung_in_review(n: int = 2) -> list[int]:
    """Bandung in drafting with round 1 open; returns the assigned reviewer ids."""
    drafting_with_reviewers(BANDUNG, REVIEWER_POOL[:3])
    with session_scope() as s:
        submit_masterplan(s, BANDUNG, "v1", "ani", T0, n=n)
    return [1, 2][:n]


async def next_pause(client, name: str, seen: set[str], deadline: float):
    """The run named `name`, once it is Paused on a pause key not in `seen`."""
    while time.monotonic() < deadline:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
        state = runs[0].state if runs else None
        if state and state.type == StateType.PAUSED and state.state_details.pause_key not in seen:
            seen.add(state.state_details.pause_key)
            return runs[0]
        await asyncio.sleep(0.3)
    raise AssertionError(f"flow run {name} did not pause within the time limit")


def stage_and_sources() -> tuple[str, list[str]]:
    with session_scope() as s:
        return find_enrollment(s, BANDUNG).stage, sorted(r.source for r in s.exec(select(Review)).all())


@pytest.mark.slow
async def test_reviewers_answer_through_the_form_and_the_quorum_completes_the_masterplan(sqlite_url, prefect_api):
    from smartcity.flows.review_round import review_round

    first, second = bandung_in_review()
    runner = asyncio.create_task(review_round(BANDUNG, round_no=1, poll_seconds=1))
    deadline, seen = time.monotonic() + 60, set()
    try:
        async with get_client() as client:
            run = await next_pause(client, "review-3273-round-1", seen, deadline)
            bad = await client.resume_flow_run(run.id, run_input={**FORM, "reviewer_id": first, "economy": 9})
            assert bad.status != SetStateStatus.ACCEPT  # the form's schema refuses a score out of 1..5
            for reviewer in (3, first):  # ITB shares Bandung's province: not assigned, refused, asked again
                ok = await client.resume_flow_run(run.id, run_input={**FORM, "reviewer_id": reviewer})
                assert ok.status == SetStateStatus.ACCEPT, ok.details
                run = await next_pause(client, "review-3273-round-1", seen, deadline)
            assert stage_and_sources() == ("drafting", ["ui"])
            ok = await client.resume_flow_run(run.id, run_input={**FORM, "reviewer_id": second})
            assert ok.status == SetStateStatus.ACCEPT, ok.details
            result = await asyncio.wait_for(runner, timeout=max(1, deadline - time.monotonic()))
            board = await client.read_artifacts(limit=1, sort="CREATED_DESC")
    finally:
        runner.cancel()
    assert (result["status"], result["waiting"]) == ("approved", [])
    assert stage_and_sources() == ("masterplan_completed", ["ui", "ui"])
    assert len(seen) == 3  # paused for: the refused reviewer, the first review, the second review
    assert board and board[0].key == "reviews-pending" and "No review is waiting" in board[0].data


@pytest.mark.slow
async def test_a_cli_review_that_closes_the_round_releases_the_paused_run(sqlite_url, prefect_api):
    from smartcity.deployments.cli.reviews import release_waiting_runs
    from smartcity.flows.review_round import review_round

    (only,) = bandung_in_review(n=1)
    runner = asyncio.create_task(review_round(BANDUNG, round_no=1, poll_seconds=1))
    deadline = time.monotonic() + 60
    try:
        async with get_client() as client:
            await next_pause(client, "review-3273-round-1", set(), deadline)
            with session_scope() as s:
                closed = submit_review(
                    s,
                    region_code=BANDUNG,
                    reviewer_id=only,
                    source="cli",
                    now=T0,
                    submission={
                        "scores": {k: v for k, v in FORM.items() if k not in ("decision", "comment")},
                        "decision": "approve",
                    },
                )
            assert closed["closed_now"]
            assert await asyncio.to_thread(release_waiting_runs, BANDUNG, 1) == 1
            result = await asyncio.wait_for(runner, timeout=max(1, deadline - time.monotonic()))
    finally:
        runner.cancel()
    assert result["status"] == "approved"
    assert stage_and_sources() == ("masterplan_completed", ["cli"])
