"""weekly-digest: one message per coordinator listing due, overdue and stuck regions per cohort.

Triggered by: the `weekly-digest` deployment's schedule (Mondays 07:00 Asia/Jakarta, WIB), or a manual
run with `now` set. Each run is named by its as-of time and zone (weekly-digest-2017-09-18-0700-wib) and
tagged `zone:wib`. One digest per coordinator and ISO week: a re-run sends nothing twice.
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact

from smartcity.flows.deadline_sweep import summary_markdown
from smartcity.models.deadlines.ops import parse_instant
from smartcity.models.notifications.delivery import outbox_counts
from smartcity.tasks.notify import dispatch_notifications, enqueue_digest
from smartcity.tasks.runs import Zone, name_zoned_run, run_zone, scheduled_time

ARTIFACT_KEY = "weekly-digest"


@flow(name="weekly-digest")
async def weekly_digest(now: str | None = None, zone: Zone | None = None) -> dict:
    """Build the digest as of `now` (ISO instant with offset; default: the run's scheduled time) and deliver it.

    `zone` only names the run (its schedule sets it); by default it is the zone of `now`'s offset, else WIB.
    """
    instant = parse_instant(now) if now else scheduled_time()
    await name_zoned_run("weekly-digest", instant, run_zone(now, zone), "deadlines")
    enqueued = enqueue_digest(instant.isoformat())
    delivery = await dispatch_notifications(instant.isoformat())
    summary = {"as_of": instant.isoformat(), "enqueued": enqueued, **delivery, "outbox": outbox_counts()}
    await acreate_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=summary_markdown("Weekly digest", summary),
        description="Coordinator digests enqueued and delivered",
    )
    return summary
