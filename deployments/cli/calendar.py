"""`smartcity cohort calendar`: a cohort's dated events (MoU signing, bimtek, masterplan evaluation).

`calendar_app` is its own group; deployments/cli/app.py attaches it under `cohort`. Importing a calendar
writes in this process (no flow run): it is one transaction, like `regions import`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smartcity.deployments.cli.common import JsonOpt, UserActorOpt, actor_or_user, emit, utcnow

calendar_app = typer.Typer(no_args_is_help=True, help="A cohort's calendar: dated events deadlines can fall on.")


@calendar_app.command("import")
def calendar_import(
    cohort: Annotated[str, typer.Argument(help="the cohort, by name")],
    file: Annotated[Path, typer.Argument(help="CSV: cohort,event,start,end,place,confidence,source,note")],
    reason: Annotated[
        str | None, typer.Option(help="why a date changes (needed when it does; recorded with each moved deadline)")
    ] = None,
    actor: UserActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import the cohort's rows of a calendar file, all or nothing; open deadlines on a re-dated event move."""
    from smartcity.models.calendar.ops import import_calendar
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        done = import_calendar(
            session=session, cohort=cohort, path=file, actor=actor_or_user(actor), now=utcnow(), reason=reason
        )
    moved = sum(1 for d in done.deadlines if d["action"] == "moved")
    emit(
        done.as_dict(),
        as_json,
        f"cohort {done.cohort} calendar: {len(done.added)} added, {len(done.redated)} re-dated, "
        f"{len(done.updated)} updated, {len(done.unchanged)} unchanged"
        + (f", {len(done.kept)} kept (not in the file)" if done.kept else "")
        + f"; {moved} deadline(s) moved, {len(done.deadlines) - moved} opened",
    )


@calendar_app.command("show")
def calendar_show(
    cohort: Annotated[str, typer.Argument(help="the cohort, by name")],
    as_json: JsonOpt = False,
) -> None:
    """The cohort's events by date, with the deadlines and milestones of its program that fall on each."""
    from smartcity.models.calendar.ops import calendar_of
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        events = calendar_of(session, cohort)
    lines = [
        f"{_span(e['start'], e['end']):<22} {e['event']:<26} {e['place'] or ''}"
        + (f"  [on it: {', '.join(e['deadlines'])}]" if e["deadlines"] else "")
        for e in events
    ]
    empty = f"cohort {cohort}: no calendar yet (`smartcity cohort calendar import {cohort} FILE`)"
    emit(events, as_json, "\n".join(lines) or empty)


def _span(start: str, end: str) -> str:
    return start if start == end else f"{start}..{end}"
