"""The reconcile task: start again the follow-ups whose triggering event was lost, and say so in the run."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from prefect import get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from smartcity.models.core.program import history
from smartcity.models.core.reconcile import FollowUp, Repair, reconcile, repairs_markdown
from smartcity.models.deadlines.ops import parse_instant
from smartcity.models.infra.db import session_scope
from smartcity.models.infra.settings import get_settings
from smartcity.models.reports.render import region_file_markdown
from smartcity.tasks.events import publish_outbox

ARTIFACT_KEY = "reconcile"


def grace() -> timedelta:
    """The grace period in force (SMARTCITY_RECONCILE_GRACE_MINUTES)."""
    return timedelta(minutes=get_settings().reconcile_grace_minutes)


def reconcile_now(now: datetime, *, dry_run: bool = False) -> list[Repair]:
    """Find and repair stalled follow-ups as of `now`, in this process (no Prefect needed)."""
    with session_scope() as session:
        return reconcile(session, now=now, grace=grace(), dry_run=dry_run)


async def publish_repairs(repairs: list[Repair]) -> int:
    """What the repaired follow-ups would have published: closed files' artifacts, then the queued events."""
    repaired = [r for r in repairs if r.outcome == "repaired"]
    for r in repaired:
        if r.stalled.follow_up == FollowUp.close_region_file:
            with session_scope() as session:
                rows = history(session, r.stalled.region_code)
            await acreate_markdown_artifact(
                region_file_markdown(r.stalled.region_code, rows),
                key=f"region-file-{r.stalled.region_code}",
                description=f"Closed file of region {r.stalled.region_code}",
            )
    return await publish_outbox() if repaired else 0


@task(name="reconcile", cache_policy=NO_CACHE, persist_result=False)
async def reconcile_stalled(now: str) -> list[dict]:
    """Repair follow-ups missing longer than the grace period as of `now`; log them and write the artifact."""
    instant = parse_instant(now, "now")
    repairs = await asyncio.to_thread(reconcile_now, instant)
    logger = get_run_logger()
    for r in repairs:  # a lost trigger is worth a person's attention even when repaired
        logger.warning(
            "reconcile: %s %s %s since %s, %s: %s %s",
            r.stalled.region_code,
            r.stalled.name,
            r.stalled.stage,
            r.stalled.since.isoformat(),
            r.stalled.follow_up,
            r.outcome,
            r.detail,
        )
    if not repairs:
        logger.info("reconcile: nothing stalled (grace %s)", grace())
    try:
        await publish_repairs(repairs)
    except Exception as exc:  # noqa: BLE001 - the repairs are committed; their events wait in the outbox
        logger.warning("reconcile: events not published yet (%s); they wait in the outbox", type(exc).__name__)
    await acreate_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=repairs_markdown(repairs, now=instant, grace=grace()),
        description="Follow-ups started again because their triggering event was lost",
    )
    return [r.as_dict() for r in repairs]
