"""quick-win-tracking: a region entering its program's quick-win stage starts its quick win.

Triggered by: a `smartcity.region.*` event labelled `smartcity.follow-up: quick-win-tracking` (default program:
entering masterplan_completed). The quick-win deadline (default: 90 working days) opened in the stage change's
own transaction; this flow tells the region's PIC, once, when it falls due in local time, and sends the notice
if 08:00 local has already come.
"""

from __future__ import annotations

from prefect import flow

from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.deadlines.ops import announce_deadline
from smartcity.models.infra.db import session_scope
from smartcity.tasks.notify import dispatch_notifications
from smartcity.tasks.runs import tag_region_run
from smartcity.tasks.stage import instant


@flow(name="quick-win-tracking", flow_run_name="quick-win-tracking-{region_code}")
async def quick_win_tracking(
    region_code: str, event_id: str | None = None, at: str | None = None, entered: str | None = None
) -> dict:
    """Announce the quick-win deadline to the PIC (exactly once per deadline cycle and contact)."""
    now = instant(at)
    with session_scope() as session:
        stage = entered or find_enrollment(session, region_code).stage
    await tag_region_run(region_code, stage=stage)
    with session_scope() as session:
        enqueued = announce_deadline(session, region_code, None, now)  # the program's quick-win deadline
    delivery = await dispatch_notifications(now.isoformat())
    return {"region_code": region_code, "enqueued": enqueued, **delivery}
