"""advance-stage: move one region to a stage.

Triggered by: `smartcity region advance`, a coordinator's "Run" in the Prefect UI (the form offers the
stages as a list and the business time as a date-time field), or the `advance-stage` deployment.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated

from prefect import flow
from prefect.states import Cancelled, Failed, State
from pydantic import Field

from smartcity.models.core.events import slug
from smartcity.models.core.transitions import StageChange
from smartcity.tasks.events import publish_outbox
from smartcity.tasks.runs import add_run_tags, current_flow_run_id, region_facts, region_tags
from smartcity.tasks.stage import apply_stage_change

#: A region's BPS code in the run form: the schema refuses a malformed code before any run is created.
RegionCode = Annotated[str, Field(pattern=r"^[0-9]{4}$", description="BPS code of the region, 4 digits (3273)")]
#: A stage of the region's program. Programs are data, so the form takes the name (checked by the run against
#: the cohort's definition) instead of a fixed list.
StageName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


def run_labels(change: StageChange) -> tuple[str, list[str]]:
    """("advance-kota-bandung-to-drafting", tags) of a region's stage-change run, from one lookup.

    The tags carry the region, stage, province and cohort: the one given, else the region's open enrollment."""
    facts = region_facts(change.region_code, change.cohort)
    name = f"advance-{slug(facts.name) if facts else change.region_code}-to-{change.to}"
    return name, region_tags(change.region_code, facts, change.to)


@flow(name="advance-stage", log_prints=False)
async def advance_stage(
    region_code: RegionCode,
    to: StageName,
    actor: str,
    reason: str | None = None,
    cohort: str | None = None,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    force: bool = False,
    at: datetime | None = None,
) -> dict | State:
    """Apply one stage change as of `at` (default now), label the run, and publish its event.

    Args:
        to: the stage to move to, as the cohort's program names it (default program: selected, drafting,
            masterplan_completed, quick_win_delivered, not_selected, withdrawn; nominated to reconsider)
    """
    change = StageChange(
        region_code=region_code,
        to=to,
        actor=actor,
        reason=reason,
        cohort=cohort,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        force=force,
    )
    result = await stage_change_run(change, at=at, rename=True)
    if result["status"] == "refused":
        # A guard's refusal is a Failed run, on record; a typo (unknown region, missing reason) that the
        # form could not catch changed nothing and is Cancelled, so the Runs page keeps red for real refusals.
        state = Cancelled if result["exit_code"] == 2 else Failed
        return state(message=result["error"], data=result)
    return result


async def stage_change_run(change: StageChange, *, at: datetime | str | None = None, rename: bool = False) -> dict:
    """The body shared by every flow that changes one region's stage: tag (and `rename`), change, publish."""
    change = dataclasses.replace(change, flow_run_id=current_flow_run_id())
    name, tags = run_labels(change)
    # Named here rather than with `flow_run_name=`: the engine would PATCH the name, and we PATCH the
    # tags anyway, so one request does both. Before the change, so a run that crashes is named too.
    await add_run_tags(tags, name=name if rename else None)
    result = await apply_stage_change(change, at)
    # Published inline, not as a task: one region's event does not need its own task run, and the
    # task's bookkeeping would cost more than the POST (a failure leaves the event in the outbox).
    await publish_outbox()
    return result
