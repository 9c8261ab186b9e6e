"""advance-cohort: move every eligible region of a cohort one stage, in batches of tasks.

Triggered by: `smartcity cohort advance`, or a run of the `advance-cohort` deployment from the UI.
Re-running after a crash finishes the job: regions already moved count as unchanged.
"""

from __future__ import annotations

import pendulum
from prefect import flow
from smartcity.models.core.program import plan_advance
from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import StageTransition
from smartcity.models.infra.db import session_scope
from smartcity.models.infra.settings import get_settings
from smartcity.tasks.artifacts import load_report, publish_report_artifacts
from smartcity.tasks.events import publish_events
from smartcity.tasks.runs import add_run_tags, current_flow_run_id
from smartcity.tasks.stage import advance_batch
from sqlmodel import func, select


@flow(name="advance-cohort", flow_run_name="advance-cohort-{cohort}-to-{to}")
async def advance_cohort(cohort: str, to: str, actor: str, reason: str | None = None,
                         batch_size: int | None = None, fan_out: bool = False, at: str | None = None) -> dict:
    """Plan from the database, advance in batches, publish events after each batch.

    With `fan_out`, each batch runs as its own `advance-batch` deployment run, picked up by the
    work pool's workers (scale-out); otherwise batches are tasks of this run. `at` is the business
    time of the changes (ISO instant; default now), for simulated clocks.
    """
    with session_scope() as session:
        items, summary = plan_advance(session, cohort, Stage(to))
    await add_run_tags([f"cohort:{cohort}", f"stage:{to}"])
    size = batch_size or get_settings().batch_size
    run_id = current_flow_run_id()
    if fan_out:
        return await _fan_out(cohort, to, actor, reason, items, size, summary)
    for start in range(0, len(items), size):
        batch = items[start:start + size]
        outcome = advance_batch(cohort, batch, to, actor, reason, run_id, at)
        summary["applied"] += len(outcome["applied"])
        summary["unchanged"] += len(outcome["unchanged"])
        summary["refused"] += outcome["refused"]
        await publish_events()
    publish_report_artifacts(load_report(cohort, at or pendulum.now("UTC").isoformat()))
    return summary


async def _fan_out(cohort: str, to: str, actor: str, reason: str | None, items: list, size: int,
                   summary: dict) -> dict:
    """One `advance-batch` deployment run per batch, awaited together; outcome read back from the DB."""
    import asyncio

    from prefect.deployments.flow_runs import arun_deployment

    parent = current_flow_run_id()
    runs = [arun_deployment("advance-batch/advance-batch", timeout=None, poll_interval=2,
                            idempotency_key=f"{parent}:batch:{start}",
                            parameters={"cohort": cohort, "items": [list(it) for it in items[start:start + size]],
                                        "to": to, "actor": actor, "reason": reason})
            for start in range(0, len(items), size)]
    finished = await asyncio.gather(*runs)
    with session_scope() as session:
        after, _ = plan_advance(session, cohort, Stage(to))
        # Count what the batch runs recorded: event-chained flows may already have moved regions further.
        applied = session.exec(select(func.count()).select_from(StageTransition).where(
            StageTransition.to_stage == to, StageTransition.flow_run_id.in_([str(r.id) for r in finished]))).one()
    summary.update(applied=applied, runs=len(finished),
                   failed_runs=sum(1 for r in finished if not r.state.is_completed()),
                   refused=[code for code, _ in after])
    return summary
