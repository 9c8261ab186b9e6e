"""advance-cohort: move every eligible region of a cohort one stage, in batches of tasks.

Triggered by: `smartcity cohort advance`, or a run of the `advance-cohort` deployment from the UI.
Re-running after a crash finishes the job: regions already moved count as unchanged.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow
from prefect.states import Cancelled, State
from sqlmodel import col, func, select

from smartcity.flows.advance_stage import StageName
from smartcity.models.core.errors import BadInput
from smartcity.models.core.program import Batch, advance_cohort_in_batches, get_cohort, plan_advance
from smartcity.models.core.tables import StageTransition
from smartcity.models.infra.db import session_scope
from smartcity.models.infra.settings import get_settings
from smartcity.models.programs.store import program_named
from smartcity.tasks.artifacts import publish_program_artifacts
from smartcity.tasks.events import publish_events
from smartcity.tasks.runs import add_run_tags, current_flow_run_id
from smartcity.tasks.stage import advance_batch, instant


@flow(name="advance-cohort", flow_run_name="advance-cohort-{cohort}-to-{to}")
async def advance_cohort(
    cohort: str,
    to: StageName,
    actor: str,
    reason: str | None = None,
    batch_size: int | None = None,
    fan_out: bool = False,
    at: datetime | None = None,
) -> dict | State:
    """Plan from the database, advance in batches, publish events after each batch.

    With `fan_out`, each batch runs as its own `advance-batch` deployment run, picked up by the
    work pool's workers (scale-out); otherwise batches are tasks of this run. `at` is the business
    time of the changes (default now), for simulated clocks.
    """
    try:
        with session_scope() as session:
            get_cohort(session, cohort)
            to = program_named(session, cohort).parse_stage(to)
    except BadInput as exc:  # a typo in the UI form: nothing to do, so not a red (Failed) run
        return Cancelled(message=str(exc))
    await add_run_tags([f"cohort:{cohort}", f"stage:{to}"])
    size = batch_size or get_settings().batch_size
    if fan_out:
        return await _fan_out(cohort, to, actor, reason, size)
    run_id, when = current_flow_run_id(), instant(at)

    async def run_batch(batch: Batch) -> dict[str, list]:
        outcome = advance_batch(cohort, batch, to, actor, reason, run_id, when)
        await publish_events()
        return outcome

    summary = await advance_cohort_in_batches(
        cohort=cohort, to=to, actor=actor, reason=reason, now=when, batch_size=size, run_batch=run_batch
    )
    # The board is the whole program; refreshed here, at once, since this one run moved a whole cohort.
    publish_program_artifacts(when.isoformat())
    return summary


async def _fan_out(cohort: str, to: str, actor: str, reason: str | None, size: int) -> dict:
    """One `advance-batch` deployment run per batch, awaited together; outcome read back from the DB."""
    import asyncio

    from prefect.deployments.flow_runs import arun_deployment

    with session_scope() as session:
        items, summary = plan_advance(session, cohort, to)
    parent = current_flow_run_id()
    runs = [
        arun_deployment(
            "advance-batch/advance-batch",
            timeout=None,
            poll_interval=2,
            idempotency_key=f"{parent}:batch:{start}",
            parameters={
                "cohort": cohort,
                "items": [list(it) for it in items[start : start + size]],
                "to": to,
                "actor": actor,
                "reason": reason,
            },
        )
        for start in range(0, len(items), size)
    ]
    finished = await asyncio.gather(*runs)
    with session_scope() as session:
        after, _ = plan_advance(session, cohort, to)
        # Count what the batch runs recorded: event-chained flows may already have moved regions further.
        applied = session.exec(
            select(func.count())
            .select_from(StageTransition)
            .where(StageTransition.to_stage == to, col(StageTransition.flow_run_id).in_([str(r.id) for r in finished]))
        ).one()
    summary.update(
        applied=applied,
        runs=len(finished),
        failed_runs=sum(1 for r in finished if r.state is None or not r.state.is_completed()),
        refused=[code for code, _ in after],
    )
    return summary
