"""advance-cohort: move every eligible region of a cohort one stage, in batches of tasks.

Triggered by: `smartcity cohort advance`, or a run of the `advance-cohort` deployment from the UI.
Re-running after a crash finishes the job: regions already moved count as unchanged.
"""

from __future__ import annotations

from prefect import flow

from models.db import session_scope
from models.program import plan_advance
from models.settings import get_settings
from models.stages import Stage
from tasks.events import publish_events
from tasks.runs import add_run_tags, current_flow_run_id
from tasks.stage import advance_batch


@flow(name="advance-cohort", flow_run_name="advance-cohort-{cohort}-to-{to}")
async def advance_cohort(cohort: str, to: str, actor: str, reason: str | None = None,
                         batch_size: int | None = None) -> dict:
    """Plan from the database, advance in batches, publish events after each batch."""
    with session_scope() as session:
        items, summary = plan_advance(session, cohort, Stage(to))
    await add_run_tags([f"cohort:{cohort}", f"stage:{to}"])
    size = batch_size or get_settings().batch_size
    run_id = current_flow_run_id()
    for start in range(0, len(items), size):
        batch = items[start:start + size]
        outcome = advance_batch(cohort, batch, to, actor, reason, run_id)
        summary["applied"] += len(outcome["applied"])
        summary["unchanged"] += len(outcome["unchanged"])
        summary["refused"] += outcome["refused"]
        await publish_events()
    return summary
