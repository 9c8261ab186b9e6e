"""Tasks that write stage changes: thin wrappers that open their own session and call the domain."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pendulum
from prefect import task
from prefect.cache_policies import NO_CACHE

from smartcity.models.core.errors import BadInput, SmartCityError
from smartcity.models.core.transitions import StageChange, advance_many, change_stage
from smartcity.models.infra.db import session_scope


def instant(at: datetime | str | None) -> datetime:
    """The business time of a change: an instant from the event or the form (simulated clocks), else now."""
    if not at:
        return pendulum.now("UTC")
    parsed = pendulum.parse(at) if isinstance(at, str) else at
    if not isinstance(parsed, datetime) or parsed.tzinfo is None:
        raise BadInput(f"time {at!r} must be an ISO instant with a UTC offset")
    return parsed


@task(name="change-stage", cache_policy=NO_CACHE, persist_result=False)
async def apply_stage_change(change: StageChange, at: datetime | str | None = None) -> dict:
    """One region's stage change through the domain's single path, as of `at` (default: now).

    Async, with the database work in a thread: a sync task inside an async flow makes Prefect build
    a second (sync) API client per run, which costs more than the change itself."""
    return await asyncio.to_thread(_change, change, at)


def _change(change: StageChange, at: datetime | str | None) -> dict:
    try:
        with session_scope() as session:
            return change_stage(session, change, now=instant(at)).as_dict()
    except SmartCityError as exc:
        # A refusal is an answer, not a crash: the flow turns it into a Failed state with this text.
        return {"status": "refused", "region_code": change.region_code, "error": str(exc), "exit_code": exc.exit_code}


@task(name="advance-batch", cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=1)
def advance_batch(
    cohort: str,
    items: list[tuple[str, int]],
    to: str,
    actor: str,
    reason: str | None,
    flow_run_id: str | None,
    at: datetime | str | None = None,
) -> dict[str, list]:
    """Advance a batch of a cohort's regions as of `at` (default now); safe to retry (idempotency keys)."""
    with session_scope() as session:
        return advance_many(
            session,
            cohort=cohort,
            items=[(code, version) for code, version in items],
            to=to,
            actor=actor,
            reason=reason,
            now=instant(at),
            flow_run_id=flow_run_id,
        )
