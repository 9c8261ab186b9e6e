"""`smartcity report`: the program (or one cohort) as Markdown, CSV, JSON or a self-contained HTML page.

Register with `app.add_typer(cli_reports.app, name="report")` in deployments/cli/app.py: the sub-app runs
its callback itself, so the command is `smartcity report --format html --out report.html`.
Read-only; imports no Prefect.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from smartcity.models.core.errors import BadInput

app = typer.Typer(help="Reports with charts: md, csv, json, or html (opens offline, from the file).")


def parse_now(value: str | None) -> datetime:
    """--now as an aware instant; the real clock when not given."""
    if value is None:
        return datetime.now(UTC)
    try:
        now = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"--now {value!r}: give an ISO time with an offset, e.g. 2017-12-31T17:00+07:00") from None
    if now.tzinfo is None:
        raise BadInput(f"--now {value!r}: give a UTC offset (e.g. +07:00 or Z); local time is ambiguous")
    return now.astimezone(UTC)


@app.callback(invoke_without_command=True)
def report(
    fmt: Annotated[str, typer.Option("--format", help="md | csv | json | html")],
    out: Annotated[Path, typer.Option("--out", help="file to write; '-' for standard output")],
    cohort: Annotated[str | None, typer.Option("--cohort", help="one cohort; default: every cohort")] = None,
    now: Annotated[str | None, typer.Option("--now", help="report as of this ISO time (default: now)")] = None,
    simulated: Annotated[bool, typer.Option("--simulated", help="label the report as simulated data")] = False,
) -> None:
    """Write the program report (funnel, days per stage, deadlines, reviews, quick wins)."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.reports.data import build_report
    from smartcity.models.reports.render import FORMATS, render

    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise BadInput(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
    as_of = parse_now(now)
    with session_scope() as session:
        data = build_report(session, now=as_of, cohort=cohort, simulated=simulated)
    text = render(data, fmt)
    if str(out) == "-":
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"{fmt} report of {len(data.regions)} region(s) written to {out}"
               + (" (simulated data)" if simulated else ""))
