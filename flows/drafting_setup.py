"""drafting-setup: the engine takes the automatic edge the program declares (default: selected -> drafting).

Triggered by: a `smartcity.region.*` event whose region resource carries `smartcity.follow-up: drafting-setup`
(the transition that led into a stage with an automatic edge out of it sets that label), region code and
stage from the event. Entering drafting opens the masterplan deadline and its bimtek milestones in the same
transaction. A trigger that fires twice leaves one transition: the event id is the idempotency key, and a
region already at the target is left unchanged. A trigger that arrives after the region moved on changes
nothing, and the change carries the version read here, so a region moved meanwhile is refused.
"""

from __future__ import annotations

from prefect import flow

from smartcity.flows.advance_stage import stage_change_run
from smartcity.models.core.transitions import automatic_change
from smartcity.models.infra.db import session_scope

ACTOR = "system:drafting-setup"


@flow(name="drafting-setup", flow_run_name="drafting-setup-{region_code}")
async def drafting_setup(
    region_code: str, event_id: str | None = None, at: str | None = None, entered: str | None = None
) -> dict:
    """Take the automatic edge out of the stage the region entered, once; otherwise change nothing."""
    with session_scope() as session:
        change = automatic_change(session, region_code=region_code, entered=entered, event_id=event_id, actor=ACTOR)
    if isinstance(change, str):
        return {"status": "unchanged", "region_code": region_code, "note": change}
    return await stage_change_run(change, at=at)
