"""Prefect events as plain data, queued in the outbox inside the transaction that caused them.

Each row has a unique `dedupe_key` (what it reports, once) and a random event id fixed at enqueue, so
publishing the same row twice is harmless: the Prefect server stores an event id once and its
trigger service skips ids it has seen.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from smartcity.models.core.tables import Cohort, EventOutbox, Region


def slug(text: str) -> str:
    """kebab-case ASCII slug: 'Kota Bandung' -> 'kota-bandung'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "x"


def region_resource(region: Region, **labels: str) -> dict[str, str]:
    """The Prefect resource of a region."""
    return {
        "prefect.resource.id": f"smartcity.region.{region.bps_code}",
        "prefect.resource.name": region.name,
        **labels,
    }


def related_for(region: Region, cohort: Cohort) -> list[dict[str, str]]:
    """Related resources of a region's event: its cohort and its province."""
    return [
        {
            "prefect.resource.id": f"smartcity.cohort.{slug(cohort.name)}",
            "prefect.resource.role": "cohort",
            "prefect.resource.name": cohort.name,
        },
        {
            "prefect.resource.id": f"smartcity.province.{slug(region.province)}",
            "prefect.resource.role": "province",
            "prefect.resource.name": region.province,
        },
    ]


def enqueue(
    session: Session,
    *,
    key: str,
    event: str,
    resource: dict[str, str],
    related: list[dict[str, str]],
    payload: dict[str, Any],
    occurred_at: datetime,
) -> EventOutbox:
    """Add an event to the outbox in the caller's transaction; `key` is unique (a second enqueue fails)."""
    row = EventOutbox(
        event_id=str(uuid.uuid4()),
        dedupe_key=key,
        event=event,
        resource=resource,
        related=related,
        payload=payload,
        occurred_at=occurred_at,
    )
    session.add(row)
    return row


def as_prefect_event(row: EventOutbox, published_at: datetime) -> dict[str, Any]:
    """The JSON body Prefect's `POST /api/events` accepts for one outbox row.

    `occurred` is when we publish: the server keeps events for days, not years, and a simulated
    2017 clock must not look ancient to it. The business time travels in `payload.occurred_at`, for every
    event (the row's own time when its payload does not say it): triggers read it, and a trigger whose
    template names a missing field creates no run at all.
    """
    return {
        "id": row.event_id,
        "occurred": published_at.isoformat(),
        "event": row.event,
        "resource": row.resource,
        "related": row.related,
        "payload": {"occurred_at": row.occurred_at.isoformat(), **row.payload},
    }
