"""A review round run by its deployment suspends while it waits for reviewers: no process is held for the
weeks a review takes. Submitting the masterplan starts the run through the event trigger; each form a
reviewer sends reschedules it; the served runner starts it again; each review is recorded once; the last
review, typed with the CLI, closes the round and wakes the suspended run, which completes."""

from __future__ import annotations

import asyncio
import time

import pytest
from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import SetStateStatus
from sqlmodel import select

from smartcity.models.core.transitions import find_enrollment
from smartcity.models.infra.db import session_scope
from smartcity.models.reviews.tables import Review
from tests.clirun import smartcity_in_process
from tests.helpers import REVIEWER_POOL, drafting_with_reviewers
from tests.prefect_server import served as serving

pytestmark = [pytest.mark.slow, pytest.mark.prefect_server]

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


async def review_runs() -> list:
    async with get_client() as client:
        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["review-round"]))
        )


def wait_for(predicate, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def suspended_on_new_key(seen: set):
    """The round's one run, once it is Suspended on a wait key not seen before."""

    def check():
        runs = asyncio.run(review_runs())
        assert len(runs) <= 1, f"one run per round, got {len(runs)}"
        state = runs[0].state if runs else None
        if (
            state
            and state.type == StateType.PAUSED
            and state.name == "Suspended"
            and state.state_details.pause_key not in seen
        ):
            seen.add(state.state_details.pause_key)
            return runs[0]
        return None

    return check


def sources() -> list[str]:
    with session_scope() as s:
        return sorted(r.source for r in s.exec(select(Review)).all())


def test_the_deployment_run_suspends_between_reviews_and_records_each_once(sqlite_url, prefect_api, tmp_path):
    drafting_with_reviewers(BANDUNG, [REVIEWER_POOL[i] for i in (0, 3)])  # ITB (Jawa Barat) left out
    cli = {"db_url": sqlite_url, "PREFECT_API_URL": prefect_api}
    with serving(sqlite_url, prefect_api, tmp_path / "serve.log"):
        # The CLI's commands run through its entry point in this process: the processes under test are serve's.
        submit = smartcity_in_process(
            "masterplan", "submit", BANDUNG, "--version", "v1", "--actor", "ani", "--reviewers", "2", **cli
        )
        assert submit.code == 0, submit.err

        seen: set = set()
        run = wait_for(suspended_on_new_key(seen), "the triggered run to suspend")

        async def resume(run_id, reviewer: int):
            async with get_client() as client:
                return await client.resume_flow_run(run_id, run_input={**FORM, "reviewer_id": reviewer})

        assert asyncio.run(resume(run.id, 1)).status == SetStateStatus.ACCEPT
        run = wait_for(suspended_on_new_key(seen), "the rescheduled run to record the review and suspend again")
        assert sources() == ["ui"]  # recorded once, by a new process
        last = smartcity_in_process(
            "review",
            "submit",
            BANDUNG,
            "--reviewer",
            "2",
            "--scores",
            "governance=4,branding=3,economy=4,living=5,society=4,environment=3",
            "--decision",
            "approve",
            **cli,
        )
        assert last.code == 0 and "round approved" in last.out, last.err

        def completed():
            runs = asyncio.run(review_runs())
            return runs[0] if runs and runs[0].state and runs[0].state.is_final() else None

        final = wait_for(completed, "the run to complete")
    assert final.state.is_completed(), (final.state, (tmp_path / "serve.log").read_text()[-3000:])
    assert len(seen) == 2 and sources() == ["cli", "ui"]  # the form recorded once across the three runs
    with session_scope() as s:
        assert find_enrollment(s, BANDUNG).stage == "masterplan_completed"
