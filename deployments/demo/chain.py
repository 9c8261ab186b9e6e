"""The demo's moves on the Prefect path: reviewers answer the review-round run's form, a quick win is verified
and delivered in a flow run, and the runs are checked for generated names at the end."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

from prefect import flow

from smartcity.flows.advance_stage import stage_change_run
from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange
from smartcity.models.infra.db import session_scope
from smartcity.tasks.stage import instant

#: Prefect's generated run names are two words, "crazy-duck"; ours carry a region, stage, date or cohort.
GENERATED_NAME = re.compile(r"^[a-z]+-[a-z]+$")


async def answer_review_form(region_code: str, round_no: int, form: dict[str, Any]) -> str:
    """Send a reviewer's form to the round's suspended run, as the UI's form does; returns the run's name."""
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter, FlowRunFilterTags
    from prefect.client.schemas.responses import SetStateStatus

    async with get_client() as client:
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["review-round"])),
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"region:{region_code}", f"round:{round_no}"])),
        )
        waiting = [r for r in runs if r.state is not None and r.state.is_paused()]
        if len(waiting) != 1:
            states = [f"{r.name}: {r.state.name if r.state else '?'}" for r in runs] or ["no run"]
            raise RuntimeError(
                f"region {region_code} round {round_no}: expected one review-round run waiting "
                f"for a form, found {', '.join(states)}"
            )
        answer = await resume_at_once(client, waiting[0].id, form)
    if answer.status != SetStateStatus.ACCEPT:
        raise RuntimeError(f"run {waiting[0].name} refused the review form: {answer.details}")
    return waiting[0].name


#: How often the story asks again, and how long it pauses at most, when Prefect's SQLite server answers a resume
#: with 503 "database is locked".
LOCKED_TRIES, LOCKED_PAUSE_MAX_S = 60, 0.5


async def resume_at_once(client: Any, run_id: Any, form: dict[str, Any]) -> Any:
    """Resume a paused run with `form`, asking again within a fraction of a second when the server answers 503.

    On SQLite, Prefect 3.9.1's resume reads, then writes, in a deferred transaction: when another connection
    commits in between, SQLite fails it at once with "database is locked" (no busy timeout applies) and the
    server answers 503, nothing written. Prefect's client would send the same request again after 2 s, then 4 s
    (measured: 41 of 52 resumes in a 25-region demo); this sends it again after 0.05 s, then a little longer."""
    import httpx
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    attempt = 0
    while True:
        attempt += 1
        try:
            with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}):
                return await client.resume_flow_run(run_id, run_input=form)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 503 or attempt >= LOCKED_TRIES:
                raise
            await asyncio.sleep(min(LOCKED_PAUSE_MAX_S, 0.05 * attempt))


def review_form(reviewer_id: int, scores: dict[str, int], decision: str, when: datetime) -> dict[str, Any]:
    """The flat form a reviewer fills in the UI (reviewed_at carries the simulated clock)."""
    return {
        "reviewer_id": reviewer_id,
        **scores,
        **{f"{k}_comment": "simulated review" for k in scores},
        "decision": decision,
        "comment": "simulated",
        "reviewed_at": instant(when).isoformat(),
    }


@flow(name="verify-quick-win", log_prints=False)
async def verify_quick_win_run(
    region_code: str,
    quick_win_id: int,
    verifier: str,
    checklist: dict[str, bool],
    actor: str,
    cohort: str | None = None,
    at: datetime | None = None,
) -> dict:
    """Verify the quick win against its checklist, then move the region to quick_win_delivered."""
    from smartcity.models.quickwins.ops import verify_quick_win

    when = instant(at)

    def verify() -> None:
        with session_scope() as s:
            verify_quick_win(s, quick_win_id, verifier, checklist, when)

    await asyncio.to_thread(verify)
    change = StageChange(
        region_code=region_code, to=Stage.quick_win_delivered, actor=actor, reason="quick win verified", cohort=cohort
    )
    return await stage_change_run(change, at=when, rename=True)


async def generated_names() -> list[str]:
    """The names of runs on the server that Prefect generated (no region, stage, date or cohort in them) and kept.

    A run that a trigger (or a Run button) starts from a deployment is created with a generated name and takes
    its flow's name when it starts, so a run not started yet (SCHEDULED or PENDING) is not counted: seen on a
    loaded machine, a board refresh whose burst window was still open when the story ended."""
    from prefect import get_client

    names: list[str] = []
    async with get_client() as client:
        offset = 0
        while batch := await client.read_flow_runs(limit=200, offset=offset):
            names += [r.name for r in batch if GENERATED_NAME.match(r.name) and started(r)]
            offset += len(batch)
    return names


def started(flow_run: Any) -> bool:
    """True once the run has left SCHEDULED and PENDING (and so has its flow's name)."""
    return flow_run.state is not None and flow_run.state.type.value not in ("SCHEDULED", "PENDING")


async def count_runs() -> int:
    """How many flow runs the server has."""
    from prefect import get_client

    async with get_client() as client:
        return await client.count_flow_runs()
