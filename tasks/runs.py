"""Helpers that label the current flow run so coordinators can filter the Prefect UI."""

from __future__ import annotations

from prefect import get_client
from prefect.runtime import flow_run


def current_flow_run_id() -> str | None:
    """The id of the flow run we are in, if any."""
    run_id = flow_run.id
    return str(run_id) if run_id else None


async def add_run_tags(tags: list[str], name: str | None = None) -> None:
    """Add tags to the current flow run and, when given, rename it: one PATCH, none when nothing changes.

    Tags are known only once the flow has looked its region up, so every run (CLI, UI, trigger, schedule)
    learns them here.
    """
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    run = ctx.flow_run if ctx else None
    if run is None:
        return
    current = set(run.tags or [])
    rename = name is not None and name != run.name
    if set(tags) <= current and not rename:
        return
    merged = sorted(current | set(tags))
    async with get_client() as client:  # the run's own client when there is one: no new connection
        await client.update_flow_run(run.id, tags=merged, name=name if rename else None)
    run.tags = merged
    if rename:
        run.name = name
