"""advance-batch: one batch of a cohort's regions, as its own flow run.

Triggered by: `advance-cohort` with `fan_out=True`, which starts one run of this deployment per batch,
so that the Prefect workers of a work pool, on several machines, share a large cohort.
"""

from __future__ import annotations

from prefect import flow

from smartcity.tasks.events import publish_events
from smartcity.tasks.runs import add_run_tags, current_flow_run_id
from smartcity.tasks.stage import advance_batch


@flow(name="advance-batch", flow_run_name="advance-batch-{cohort}-to-{to}")
async def advance_batch_run(cohort: str, items: list[list], to: str, actor: str, reason: str | None = None) -> dict:
    """Advance the listed (code, version) pairs; safe to re-run."""
    await add_run_tags([f"cohort:{cohort}", f"stage:{to}"])
    outcome = advance_batch(
        cohort, [(code, version) for code, version in items], to, actor, reason, current_flow_run_id()
    )
    await publish_events()
    return {k: len(v) if k != "refused" else v for k, v in outcome.items()}
