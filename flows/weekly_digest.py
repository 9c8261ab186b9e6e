"""weekly-digest: one message per coordinator listing due, overdue and stuck regions per cohort.

Triggered by: the `weekly-digest` deployment's schedule (Monday 08:00 Asia/Jakarta), or a manual
run with `now` set. One digest per coordinator and ISO week: a re-run sends nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact
from smartcity.flows.deadline_sweep import summary_markdown
from smartcity.models.deadlines.ops import parse_instant
from smartcity.models.notifications.delivery import outbox_counts
from smartcity.tasks.notify import dispatch_notifications, enqueue_digest

ARTIFACT_KEY = "weekly-digest"


@flow(name="weekly-digest")
async def weekly_digest(now: str | None = None) -> dict:
    """Build the digest as of `now` (ISO instant with offset; default: the real clock) and deliver it."""
    instant = parse_instant(now) if now else datetime.now(UTC)
    enqueued = enqueue_digest(instant.isoformat())
    delivery = await dispatch_notifications(instant.isoformat())
    summary = {"as_of": instant.isoformat(), "enqueued": enqueued, **delivery, "outbox": outbox_counts()}
    await acreate_markdown_artifact(key=ARTIFACT_KEY, markdown=summary_markdown("Weekly digest", summary),
                                    description="Coordinator digests enqueued and delivered")
    return summary
