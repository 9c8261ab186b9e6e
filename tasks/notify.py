"""Tasks of the reminder flows: enqueue the due rungs or the weekly digest, and deliver the outbox.

Each wraps one call of `models.notifications.delivery` and takes ISO instants, so runs stay cheap to
hash and to retry (dedupe keys make a retry enqueue nothing twice)."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from smartcity.models.notifications.delivery import dispatch, enqueue_due, enqueue_week_digest


@task(name="enqueue-reminders", cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=2)
def enqueue_reminders(now_iso: str) -> int:
    """Sweep the deadlines as of an ISO instant; safe to retry (dedupe keys)."""
    return enqueue_due(datetime.fromisoformat(now_iso))


@task(name="enqueue-digest", cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=2)
def enqueue_digest(now_iso: str) -> int:
    """Build the weekly digest as of an ISO instant; safe to retry (one per coordinator and week)."""
    return enqueue_week_digest(datetime.fromisoformat(now_iso))


@task(name="dispatch-notifications", cache_policy=NO_CACHE, persist_result=False)
async def dispatch_notifications(as_of_iso: str) -> dict[str, int]:
    """Deliver the outbox rows due by an ISO instant through Apprise."""
    return await dispatch(datetime.fromisoformat(as_of_iso))
