"""close-region-file: a region at the end of its program's main line gets its file closed, once.

Triggered by: a `smartcity.region.*` event labelled `smartcity.follow-up: close-region-file` (default program:
entering quick_win_delivered). The closing record is a markdown
artifact with the region's full history (key `region-file-<code>`), written only the first time.
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact

from smartcity.models.core.program import close_file, completed_stage, history
from smartcity.models.infra.db import session_scope
from smartcity.models.reports.render import region_file_markdown
from smartcity.tasks.events import publish_events
from smartcity.tasks.runs import tag_region_run
from smartcity.tasks.stage import instant


@flow(name="close-region-file", flow_run_name="close-region-file-{region_code}")
async def close_region_file(region_code: str, event_id: str | None = None, at: str | None = None) -> dict:
    """Close the file and publish its history, unless it is already closed."""
    with session_scope() as session:
        stage = completed_stage(session, region_code)  # where its program closes files (quick_win_delivered)
    await tag_region_run(region_code, stage=stage)
    with session_scope() as session:
        first = close_file(session, region_code, cohort=None, at=instant(at))
        rows = history(session, region_code)
    if first:
        await acreate_markdown_artifact(
            region_file_markdown(region_code, rows),
            key=f"region-file-{region_code}",
            description=f"Closed file of region {region_code}",
        )
        await publish_events()
    return {"region_code": region_code, "closed_now": first, "transitions": len(rows)}
