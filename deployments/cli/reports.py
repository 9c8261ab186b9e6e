"""`smartcity report`: the program (or one cohort) as Markdown, CSV, JSON or a self-contained HTML page."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from smartcity.deployments.cli.common import app
from smartcity.models.core.datetext import no_such_day
from smartcity.models.core.errors import BadInput


def parse_now(value: str | None) -> datetime:
    """--now as an aware instant; the real clock when not given."""
    if value is None:
        return datetime.now(UTC)
    try:
        now = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        wrong = no_such_day(value) or "give an ISO time with an offset, e.g. 2017-12-31T17:00+07:00"
        raise BadInput(f"--now {value!r}: {wrong}") from None
    if now.tzinfo is None:
        raise BadInput(f"--now {value!r}: give a UTC offset (e.g. +07:00 or Z); local time is ambiguous")
    return now.astimezone(UTC)


@app.command(
    "report",
    help="Reports with charts: md, csv, json, html (opens offline, from the file), or csv-id (for a spreadsheet "
    "set to Indonesian). md and html are in Bahasa Indonesia unless --lang en.",
)
def report(
    fmt: Annotated[str, typer.Option("--format", help="md | csv | json | html | csv-id")],
    out: Annotated[Path, typer.Option("--out", help="file to write; '-' for standard output")],
    cohort: Annotated[str | None, typer.Option("--cohort", help="one cohort; default: every cohort")] = None,
    now: Annotated[str | None, typer.Option("--now", help="report as of this ISO time (default: now)")] = None,
    simulated: Annotated[bool, typer.Option("--simulated", help="label the report as simulated data")] = False,
    lang: Annotated[str, typer.Option("--lang", help="id (Bahasa Indonesia, for the ministry) | en")] = "id",
) -> None:
    """Write the program report (funnel, days per stage, deadlines, reviews, quick wins)."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.reports.data import build_report
    from smartcity.models.reports.render import FORMATS, render
    from smartcity.models.reports.words import LANGS

    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise BadInput(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
    lang = lang.strip().lower()
    if lang not in LANGS:
        raise BadInput(f"--lang {lang!r}: one of {', '.join(LANGS)}")
    as_of = parse_now(now)
    with session_scope() as session:
        data = build_report(session, now=as_of, cohort=cohort, simulated=simulated)
    text = render(data, fmt, lang)
    if str(out) == "-":
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(
        f"{fmt} report of {len(data.regions)} region(s) written to {out}" + (" (simulated data)" if simulated else "")
    )
