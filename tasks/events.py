"""Publish the event outbox to the Prefect API. At-least-once delivery of deterministic event ids
gives exactly-once effect: the server stores an id once and its triggers skip ids already seen."""

from __future__ import annotations

import pendulum
from prefect import get_client, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import update
from sqlmodel import col, select

from smartcity.models.core.events import as_prefect_event
from smartcity.models.core.tables import EventOutbox
from smartcity.models.infra.db import row_id, session_scope


async def publish_outbox(limit: int = 500, max_batches: int = 1000) -> int:
    """Send pending events in batches, oldest first; returns how many were published."""
    published = 0
    async with get_client() as client:
        for _ in range(max_batches):
            with session_scope() as session:
                rows = session.exec(
                    select(EventOutbox)
                    .where(col(EventOutbox.published_at).is_(None))
                    .order_by(col(EventOutbox.id))
                    .limit(limit)
                ).all()
            if not rows:
                break
            now = pendulum.now("UTC")
            response = await client.request("POST", "/events", json=[as_prefect_event(r, now) for r in rows])
            response.raise_for_status()
            _mark_published([row_id(r) for r in rows])
            published += len(rows)
    return published


def _mark_published(ids: list[int]) -> None:
    with session_scope() as session:
        session.execute(
            update(EventOutbox).where(col(EventOutbox.id).in_(ids)).values(published_at=pendulum.now("UTC"))
        )


@task(name="publish-events", cache_policy=NO_CACHE, persist_result=False, retries=3, retry_delay_seconds=2)
async def publish_events() -> int:
    """Drain the outbox to Prefect; a failure leaves rows pending for the next run."""
    return await publish_outbox()
