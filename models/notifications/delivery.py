"""Deliver the notification outbox through Apprise: claim with a lease, send, then mark.

Exactly-once, as far as a sender can know: a row is sent only by the dispatcher holding its lease,
marked `sent` only after Apprise reported success, and never claimed again once `sent`. A send that
times out may still have reached the receiver; it is retried (at-least-once), and its body carries
`Ref: <dedupe key>` so a receiver can drop the repeat.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from smartcity.models.infra.db import session_scope
from smartcity.models.infra.settings import Settings, get_settings
from smartcity.models.notifications.outbox import (
    apprise_plugin,
    claim,
    claimable_ids,
    mark_failed,
    mark_sent,
    message_of,
    sanitize_error,
)


class SendFailed(Exception):
    """The channel refused or did not answer; the message is safe to retry."""


class Sender(Protocol):
    """Sends one message to one Apprise URL; raises on failure, returns only when delivered."""

    def send(self, url: str, title: str, body: str) -> None:
        """Deliver or raise."""


class AppriseSender:
    """The real channel: a fresh Apprise object per message (no shared state, no module-level instance)."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s

    def send(self, url: str, title: str, body: str) -> None:
        """Send through Apprise with bounded network waits; raise SendFailed unless Apprise reports success."""
        import apprise

        plugin = apprise_plugin(url)  # not apprise's own: that one logs the raw URL at TRACE level
        if plugin is None:
            raise SendFailed("the contact's notification URL is not valid")
        # Bound every socket wait (SMTP uses the connect timeout for all its I/O; HTTP uses both).
        plugin.socket_connect_timeout = self.timeout_s
        plugin.socket_read_timeout = self.timeout_s
        client = apprise.Apprise()
        client.add(plugin)
        result = client.notify(title=title, body=body)
        if not result:
            problems = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR")]
            raise SendFailed("; ".join(problems[-2:]) or f"Apprise reported {result.status.name}")


@dataclass(frozen=True)
class _Run:
    as_of: datetime
    sender: Sender
    settings: Settings
    clock: Callable[[], datetime]
    token: str


def real_clock() -> datetime:
    """Wall-clock UTC: leases are about real processes, whatever instant the sweep simulates."""
    return datetime.now(UTC)


async def dispatch(
    as_of: datetime,
    sender: Sender | None = None,
    *,
    settings: Settings | None = None,
    clock: Callable[[], datetime] = real_clock,
    limit: int = 1000,
) -> dict[str, int]:
    """Send every row due by `as_of`, `notify_concurrency` at a time; counts of sent/failed/skipped."""
    cfg = settings or get_settings()
    run = _Run(as_of, sender or AppriseSender(cfg.notify_timeout_s), cfg, clock, str(uuid.uuid4()))
    with session_scope() as session:
        ids = claimable_ids(session, as_of, clock(), limit)
    gate = asyncio.Semaphore(cfg.notify_concurrency)

    async def one(nid: int) -> str:
        async with gate:
            return await _deliver(run, nid)

    outcome = Counter(await asyncio.gather(*(one(i) for i in ids)))
    return {"sent": outcome["sent"], "failed": outcome["failed"], "skipped": outcome["skipped"]}


async def _deliver(run: _Run, nid: int) -> str:
    now = run.clock()
    with session_scope() as session:
        if not claim(
            session,
            nid,
            as_of=run.as_of,
            real_now=now,
            token=run.token,
            lease_until=now + timedelta(seconds=run.settings.notify_lease_s),
        ):
            return "skipped"  # another dispatcher has it, or it was sent or cancelled meanwhile
        url, subject, body = message_of(session, nid)
    error = ""
    attempts = run.settings.notify_attempts
    for attempt in range(1, attempts + 1):
        try:
            await asyncio.to_thread(run.sender.send, url, subject, body)
        except Exception as exc:  # noqa: BLE001 - any failure of the channel is retryable
            error = sanitize_error(f"{type(exc).__name__}: {exc}", url)
            if attempt < attempts:
                await asyncio.sleep(run.settings.notify_backoff_s * 2 ** (attempt - 1))
            continue
        with session_scope() as session:
            mark_sent(session, nid, tries=attempt, at=run.clock())
        return "sent"
    with session_scope() as session:
        mark_failed(session, nid, token=run.token, tries=attempts, error=error)
    return "failed"


def enqueue_due(now: datetime) -> int:
    """Run the reminder sweep as of `now` in one transaction; returns rows enqueued."""
    from smartcity.models.deadlines.ops import sweep

    with session_scope() as session:
        return sweep(session, now)


def enqueue_week_digest(now: datetime) -> int:
    """Enqueue the weekly digest of `now`'s week; returns rows enqueued."""
    from smartcity.models.deadlines.ops import build_digest

    with session_scope() as session:
        return build_digest(session, now)


def outbox_counts() -> dict[str, int]:
    """Rows per status, for summaries."""
    from smartcity.models.notifications.outbox import status_counts

    with session_scope() as session:
        return status_counts(session)


def sweep_and_dispatch(as_of: datetime) -> dict:
    """The deadline sweep's two steps in this process (no Prefect): enqueue what is due, then deliver it."""
    enqueued = enqueue_due(as_of)
    delivery = asyncio.run(dispatch(as_of))
    return {"as_of": as_of.isoformat(), "enqueued": enqueued, **delivery, "outbox": outbox_counts()}
