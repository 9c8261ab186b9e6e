"""drafting-setup: a selected region starts drafting its masterplan.

Triggered by: the `smartcity.region.selected` event (deployment trigger, region code from the event).
Entering drafting opens the masterplan deadline and its bimtek milestones in the same transaction.
A trigger that fires twice leaves one transition: the event id is the idempotency key, and a region
already drafting is left unchanged.
"""

from __future__ import annotations

from prefect import flow

from smartcity.flows.advance_stage import stage_change_run
from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange

ACTOR = "system:drafting-setup"


@flow(name="drafting-setup", flow_run_name="drafting-setup-{region_code}")
async def drafting_setup(region_code: str, event_id: str | None = None, at: str | None = None) -> dict:
    """Move the selected region to drafting, once."""
    change = StageChange(
        region_code=region_code,
        to=Stage.drafting,
        actor=ACTOR,
        reason="selected: drafting starts",
        idempotency_key=f"drafting-setup:{event_id}" if event_id else None,
    )
    return await stage_change_run(change, at=at)
