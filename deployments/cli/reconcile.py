"""`smartcity reconcile`: start again the follow-ups whose triggering event was lost (the sweep does it daily)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from smartcity.deployments.cli.common import JsonOpt, app, emit, utcnow
from smartcity.models.core.errors import DomainRefused


@app.command("reconcile")
def reconcile(
    now: Annotated[str | None, typer.Option("--now", help="as of this ISO time with offset (default: now)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list the stalled regions, change nothing")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Repair regions whose triggered follow-up (drafting, quick-win notice, file close) never happened."""
    from smartcity.models.deadlines.ops import parse_instant
    from smartcity.models.infra.settings import get_settings

    as_of = parse_instant(now) if now is not None else utcnow()
    grace = get_settings().reconcile_grace_minutes
    repairs = _dry_run(as_of) if dry_run else _repair(as_of)
    refused = [r for r in repairs if r["outcome"] == "refused"]
    verb, n = (
        ("would repair", len(repairs)) if dry_run else ("repaired", sum(r["outcome"] == "repaired" for r in repairs))
    )
    text = [f"{verb} {n} region(s) waiting more than {grace} min as of {as_of.isoformat()}"]
    text += [
        f"  {r['region_code']} {r['name']:<32} {r['stage']} since {r['since_local']}: {r['follow_up']} "
        f"{r['outcome']}" + (f" ({r['detail']})" if r["outcome"] == "refused" else "")
        for r in repairs
    ]
    emit(
        {"as_of": as_of.isoformat(), "grace_minutes": grace, "dry_run": dry_run, "repairs": repairs},
        as_json,
        "\n".join(text),
    )
    if refused:
        raise DomainRefused(f"{len(refused)} stalled region(s) refused their follow-up (listed above)")


def _dry_run(as_of: datetime) -> list[dict]:
    """What is stalled, read only: no Prefect import, no write."""
    from datetime import timedelta

    from smartcity.models.core.reconcile import reconcile
    from smartcity.models.infra.db import session_scope
    from smartcity.models.infra.settings import get_settings

    grace = timedelta(minutes=get_settings().reconcile_grace_minutes)
    with session_scope() as session:
        return [r.as_dict() for r in reconcile(session, now=as_of, grace=grace, dry_run=True)]


def _repair(as_of: datetime) -> list[dict]:
    """Repair here; with a Prefect API, also publish what the lost runs would have (events, closed files)."""
    from smartcity.deployments.runtime.runner import run_operation
    from smartcity.tasks.reconcile import publish_repairs, reconcile_now

    async def with_prefect() -> list[dict]:
        import asyncio

        repairs = await asyncio.to_thread(reconcile_now, as_of)
        try:
            await publish_repairs(repairs)
        except Exception as exc:  # noqa: BLE001 - the repairs are committed; the events wait in the outbox
            typer.echo(
                f"note: repaired, but not published ({type(exc).__name__}): `smartcity events flush` "
                "publishes the waiting events",
                err=True,
            )
        return [r.as_dict() for r in repairs]

    return run_operation(
        flow=with_prefect,
        in_process=lambda: [r.as_dict() for r in reconcile_now(as_of)],
        say_fallback=lambda repairs: any(r["outcome"] == "repaired" for r in repairs),
    )
