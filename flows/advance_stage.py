"""advance-stage: move one region to a stage.

Triggered by: `smartcity region advance`, a coordinator's "Run" in the Prefect UI, or the
`advance-stage` deployment.
"""

from __future__ import annotations

from prefect import flow
from prefect.states import Failed, State
from smartcity.models.core.events import slug
from smartcity.models.core.program import region_label
from smartcity.models.infra.db import session_scope
from smartcity.tasks.events import publish_outbox
from smartcity.tasks.runs import add_run_tags, current_flow_run_id
from smartcity.tasks.stage import apply_stage_change


def run_labels(region_code: str, to: str, cohort: str | None) -> tuple[str, list[str]]:
    """("advance-kota-bandung-to-drafting", tags) of a region's stage-change run, from one lookup."""
    with session_scope() as session:
        label = region_label(session, region_code)
    tags = [f"region:{region_code}", f"stage:{to}"]
    if label:
        tags.append(f"province:{slug(label[1])}")
    if cohort:
        tags.append(f"cohort:{cohort}")
    return f"advance-{slug(label[0]) if label else region_code}-to-{to}", tags


@flow(name="advance-stage", log_prints=False)
async def advance_stage(region_code: str, to: str, actor: str, reason: str | None = None,
                        cohort: str | None = None, expected_version: int | None = None,
                        idempotency_key: str | None = None, force: bool = False) -> dict | State:
    """Apply one stage change, label the run, and publish its event."""
    result = await stage_change_run(region_code, to, actor, reason, cohort=cohort,
                                    expected_version=expected_version, key=idempotency_key, force=force,
                                    rename=True)
    if result["status"] == "refused":
        return Failed(message=result["error"], data=result)
    return result


async def stage_change_run(region_code: str, to: str, actor: str, reason: str | None, *,
                           cohort: str | None = None, expected_version: int | None = None,
                           key: str | None = None, at: str | None = None, force: bool = False,
                           rename: bool = False) -> dict:
    """The body shared by every flow that changes one region's stage: change, tag (and `rename`), publish."""
    result = await apply_stage_change(region_code, to, actor, reason, cohort, expected_version, key,
                                      current_flow_run_id(), at, force)
    name, tags = run_labels(region_code, to, cohort)
    # Named here rather than with `flow_run_name=`: the engine would PATCH the name, and we PATCH the
    # tags anyway, so one request does both.
    await add_run_tags(tags, name=name if rename else None)
    # Published inline, not as a task: one region's event does not need its own task run, and the
    # task's bookkeeping would cost more than the POST (a failure leaves the event in the outbox).
    await publish_outbox()
    return result
