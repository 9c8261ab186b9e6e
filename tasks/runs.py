"""Helpers that label the current flow run so coordinators can filter the Prefect UI."""

from __future__ import annotations

from prefect import get_client
from prefect.runtime import flow_run


def current_flow_run_id() -> str | None:
    """The id of the flow run we are in, if any."""
    run_id = flow_run.id
    return str(run_id) if run_id else None


async def add_run_tags(tags: list[str]) -> None:
    """Add tags to the current flow run (tags known only once the run has looked up its region)."""
    run_id = flow_run.id
    if not run_id:
        return
    async with get_client() as client:
        run = await client.read_flow_run(run_id)
        merged = sorted(set(run.tags) | set(tags))
        if merged != sorted(run.tags):
            await client.update_flow_run(run_id, tags=merged)
