"""A review round run by its deployment suspends while it waits for reviewers: no process is held for the
weeks a review takes. Submitting the masterplan starts the run through the event trigger; each form a
reviewer sends reschedules it; the served runner starts it again; each review is recorded once; the last
review, typed with the CLI, closes the round and wakes the suspended run, which completes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
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
from tests.clirun import cli_env
from tests.helpers import REVIEWER_POOL, ROOT, drafting_with_reviewers

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
    drafting_with_reviewers(BANDUNG, [REVIEWER_POOL[i] for i in (0, 1, 3)])  # ITB (Jawa Barat) left out
    env = cli_env(sqlite_url, PREFECT_API_URL=prefect_api, PREFECT_RUNNER_POLL_FREQUENCY="1")
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        [sys.executable, "-m", "smartcity.deployments.cli.entry", "serve"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        async def names() -> set[str]:
            async with get_client() as client:
                return {d.name for d in await client.read_deployments()}

        wait_for(lambda: "review-round" in asyncio.run(names()), "serve to register the deployments", 90)
        time.sleep(3)  # the server's trigger service loads new automations on a short refresh cycle
        submit = subprocess.run(
            [
                sys.executable,
                "-m",
                "smartcity.deployments.cli.app",
                "masterplan",
                "submit",
                BANDUNG,
                "--version",
                "v1",
                "--actor",
                "ani",
                "--reviewers",
                "3",
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert submit.returncode == 0, submit.stderr

        seen: set = set()
        run = wait_for(suspended_on_new_key(seen), "the triggered run to suspend")

        async def resume(run_id, reviewer: int):
            async with get_client() as client:
                return await client.resume_flow_run(run_id, run_input={**FORM, "reviewer_id": reviewer})

        assert asyncio.run(resume(run.id, 1)).status == SetStateStatus.ACCEPT
        run = wait_for(suspended_on_new_key(seen), "the rescheduled run to record the review and suspend again")
        assert sources() == ["ui"]  # recorded once, by a new process
        assert asyncio.run(resume(run.id, 2)).status == SetStateStatus.ACCEPT
        wait_for(suspended_on_new_key(seen), "the second review to be recorded")
        assert sources() == ["ui", "ui"]
        last = subprocess.run(
            [
                sys.executable,
                "-m",
                "smartcity.deployments.cli.app",
                "review",
                "submit",
                BANDUNG,
                "--reviewer",
                "3",
                "--scores",
                "governance=4,branding=3,economy=4,living=5,society=4,environment=3",
                "--decision",
                "approve",
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert last.returncode == 0 and "round approved" in last.stdout, last.stderr

        def completed():
            runs = asyncio.run(review_runs())
            return runs[0] if runs and runs[0].state and runs[0].state.is_final() else None

        final = wait_for(completed, "the run to complete")
    finally:
        serve.terminate()
        serve.wait(timeout=30)
        log.close()
    assert final.state.is_completed(), (final.state, (tmp_path / "serve.log").read_text()[-3000:])
    assert len(seen) == 3 and sources() == ["cli", "ui", "ui"]  # no form recorded twice across the reruns
    with session_scope() as s:
        assert find_enrollment(s, BANDUNG).stage == "masterplan_completed"
