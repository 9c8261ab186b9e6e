"""drafting-setup: a selected region starts drafting its masterplan.

Triggered by: the `smartcity.region.selected` event (deployment trigger, region code from the event).
Entering drafting opens the masterplan deadline and its bimtek milestones in the same transaction.
A trigger that fires twice leaves one transition: the event id is the idempotency key, and a region
already drafting is left unchanged. A trigger that arrives after the region moved on (a selected event published
late) changes nothing: from masterplan_completed, "to drafting" would be the revise edge, which only a person
may take. From selected, the change carries the version read here, so a region moved meanwhile is refused.
"""

from __future__ import annotations

from prefect import flow

from smartcity.flows.advance_stage import stage_change_run
from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange
from smartcity.models.infra.db import session_scope

ACTOR = "system:drafting-setup"


@flow(name="drafting-setup", flow_run_name="drafting-setup-{region_code}")
async def drafting_setup(region_code: str, event_id: str | None = None, at: str | None = None) -> dict:
    """Move the selected region to drafting, once; a region that is past drafting is left as it is."""
    with session_scope() as session:
        enrollment = find_enrollment(session, region_code)
        stage, version = Stage(enrollment.stage), enrollment.version
    if stage not in (Stage.selected, Stage.drafting):
        return {
            "status": "unchanged",
            "region_code": region_code,
            "from_stage": stage,
            "to_stage": stage,
            "version": version,
            "note": f"region is {stage}: a late selected event starts nothing",
        }
    change = StageChange(
        region_code=region_code,
        to=Stage.drafting,
        actor=ACTOR,
        reason="selected: drafting starts",
        # From selected, pin the version read above: a region moved meanwhile is refused, never revised.
        expected_version=version if stage == Stage.selected else None,
        idempotency_key=f"drafting-setup:{event_id}" if event_id else None,
    )
    return await stage_change_run(change, at=at)
