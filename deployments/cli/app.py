"""`smartcity`: the coordinator's command line.

Exit codes: 0 success, 1 the domain refused, 2 bad usage or input. Errors are one line on stderr.
Read-only commands import neither Prefect nor the flows.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

try:  # typer vendors click since 0.2x; older ones use click itself
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc

from smartcity.models.core.errors import BadInput, SmartCityError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Run Gerakan Menuju 100 Smart City on Prefect.")
regions_app = typer.Typer(no_args_is_help=True, help="The region registry.")
cohort_app = typer.Typer(no_args_is_help=True, help="Cohorts: create, nominate, advance.")
region_app = typer.Typer(no_args_is_help=True, help="One region: advance, history.")
events_app = typer.Typer(no_args_is_help=True, help="The event outbox.")
app.add_typer(regions_app, name="regions")
app.add_typer(cohort_app, name="cohort")
app.add_typer(region_app, name="region")
app.add_typer(events_app, name="events")

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def utcnow() -> datetime:
    """The real clock; only the CLI edge reads it, and passes it down."""
    return datetime.now(UTC)


def emit(data: Any, as_json: bool, text: str) -> None:
    """Print JSON or a human line."""
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False) if as_json else text)


@app.command()
def init() -> None:
    """Create or upgrade the database to the current schema."""
    from smartcity.models.infra.migrate import upgrade
    from smartcity.models.infra.settings import get_settings

    upgrade()
    typer.echo(f"database ready: {_masked(get_settings().resolved_database_url())}")


def _masked(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@regions_app.command("import")
def regions_import(file: Path, as_json: JsonOpt = False) -> None:
    """Upsert regions from a CSV (bps_code,name,type,province,timezone[,population]); all or nothing."""
    from smartcity.models.core.regions import parse_regions, read_csv_text, upsert_regions
    from smartcity.models.infra.db import session_scope

    regions = parse_regions(read_csv_text(file), source=str(file))
    with session_scope() as session:
        inserted, updated = upsert_regions(session, regions, now=utcnow())
    emit({"inserted": inserted, "updated": updated, "rows": len(regions)}, as_json,
         f"imported {len(regions)} regions: {inserted} new, {updated} updated")


@regions_app.command("list")
def regions_list(province: str | None = None, as_json: JsonOpt = False) -> None:
    """List the registry."""
    from smartcity.models.core.tables import Region
    from smartcity.models.infra.db import session_scope
    from sqlmodel import select

    with session_scope() as session:
        query = select(Region).order_by(Region.bps_code)
        if province:
            query = query.where(Region.province == province)
        rows = [r.model_dump(exclude={"id", "updated_at"}) for r in session.exec(query).all()]
    lines = [f"{r['bps_code']}  {r['name']:<32} {r['province']:<24} {r['timezone']}" for r in rows]
    emit(rows, as_json, "\n".join(lines) or "no regions (import some with `smartcity regions import`)")


@cohort_app.command("create")
def cohort_create(name: str, year: Annotated[int, typer.Option()],
                  quota: Annotated[int, typer.Option()]) -> None:
    """Create a cohort with a year and a quota."""
    from smartcity.models.core.program import create_cohort
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        create_cohort(session, name=name, year=year, quota=quota, now=utcnow())
    typer.echo(f"cohort {name} created (year {year}, quota {quota})")


@cohort_app.command("nominate")
def cohort_nominate(name: str, codes: Annotated[list[str] | None, typer.Argument()] = None,
                    file: Annotated[Path | None, typer.Option(help="one BPS code per line")] = None) -> None:
    """Nominate regions into a cohort, by code or from a file of codes."""
    from smartcity.models.core.program import nominate
    from smartcity.models.core.regions import read_csv_text
    from smartcity.models.infra.db import session_scope

    all_codes = list(codes or [])
    if file is not None:
        all_codes += codes_from_file(read_csv_text(file))
    with session_scope() as session:
        added, already = nominate(session, cohort=name, codes=all_codes, now=utcnow())
    typer.echo(f"cohort {name}: {added} nominated, {already} already enrolled")


def codes_from_file(text: str) -> list[str]:
    """BPS codes from a CSV with a `bps_code` column, or from a file of one code per line."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    header = [h.strip() for h in rows[0]] if rows else []
    if "bps_code" in header:
        col = header.index("bps_code")
        return [r[col].strip() for r in rows[1:] if len(r) > col and r[col].strip()]
    return [r[0].strip() for r in rows if r and r[0].strip()]


@cohort_app.command("advance")
def cohort_advance(name: str, to: Annotated[str, typer.Option("--to")],
                   actor: Annotated[str, typer.Option("--actor")],
                   reason: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    """Advance every eligible region of a cohort one stage, as one flow run."""
    from smartcity.deployments.runtime import runner

    stage = _stage(to)
    _require_actor(actor)
    summary = runner.advance_cohort(name, stage, actor, reason)
    text = (f"cohort {name} -> {stage}: {summary['applied']} advanced, {summary['unchanged']} unchanged, "
            f"{summary['already']} already there, {len(summary['refused'])} refused")
    emit(summary, as_json, text + "".join(f"\n  refused {r}" for r in summary["refused"][:20]))
    if summary["refused"]:
        raise typer.Exit(1)


@region_app.command("advance")
def region_advance(code: str, to: Annotated[str, typer.Option("--to")],
                   actor: Annotated[str, typer.Option("--actor")],
                   reason: Annotated[str | None, typer.Option()] = None,
                   cohort: Annotated[str | None, typer.Option()] = None,
                   idempotency_key: Annotated[str | None, typer.Option("--idempotency-key")] = None,
                   force: Annotated[bool, typer.Option("--force", help="override the quota guard (needs --reason)")]
                   = False, as_json: JsonOpt = False) -> None:
    """Move one region to a stage (the next one, or a reasoned revise/withdraw)."""
    from smartcity.deployments.runtime import runner

    stage = _stage(to)
    _require_actor(actor)
    if force and not (reason or "").strip():
        raise BadInput("--force needs a --reason, recorded in the region's history")
    result = runner.advance_region(code.strip(), stage, actor, reason, cohort, idempotency_key, force)
    words = {"applied": "now", "duplicate": "already recorded (same idempotency key):",
             "unchanged": "already"}
    emit(result, as_json, f"region {code}: {words[result['status']]} {result['to_stage']}"
         f" (version {result['version']})")


@region_app.command("history")
def region_history(code: str, as_json: JsonOpt = False) -> None:
    """Every stage change of a region, oldest first."""
    from smartcity.models.core.program import history
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        rows = history(session, code.strip())
    lines = [f"{r['at'][:19]}Z  {r['cohort']}  {r['from']} -> {r['to']} ({r['kind']}) by {r['actor']}"
             + (f": {r['reason']}" if r["reason"] else "") for r in rows]
    emit(rows, as_json, "\n".join(lines) or f"region {code}: no stage changes yet")


@app.command()
def status(cohort: str | None = None, as_json: JsonOpt = False) -> None:
    """Counts per cohort and stage; with --cohort, one line per region."""
    from smartcity.models.core.program import stage_counts, status_rows
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        counts = stage_counts(session)
        rows = status_rows(session, cohort) if (cohort or as_json) else []
    if as_json:
        emit({"cohorts": counts, "regions": rows}, True, "")
        return
    lines = [f"{name}: " + ", ".join(f"{s}={n}" for s, n in sorted(c.items())) for name, c in counts.items()]
    lines += [f"  {r['bps_code']} {r['name']:<32} {r['stage']}" for r in rows]
    typer.echo("\n".join(lines) or "no cohorts yet")


@events_app.command("flush")
def events_flush() -> None:
    """Publish events waiting in the outbox (after the Prefect server was down)."""
    from smartcity.deployments.runtime import runner

    typer.echo(f"published {runner.flush_events()} event(s)")


@events_app.command("pending")
def events_pending(as_json: JsonOpt = False) -> None:
    """How many events wait in the outbox."""
    from smartcity.models.core.tables import EventOutbox
    from smartcity.models.infra.db import session_scope
    from sqlmodel import func, select

    with session_scope() as session:
        n = session.exec(select(func.count()).select_from(EventOutbox)
                         .where(EventOutbox.published_at.is_(None))).one()  # type: ignore[union-attr]
    emit({"pending": n}, as_json, f"{n} event(s) waiting to be published")


@app.command()
def serve(limit: Annotated[int | None, typer.Option(help="max concurrent runs")] = None) -> None:
    """Serve every deployment of the registry against PREFECT_API_URL."""
    from smartcity.deployments.runtime import runner
    from smartcity.deployments.runtime.registry import serve_all

    if not runner.prefect_ready():
        raise SmartCityError("no Prefect API answers: start one with `smartcity server`, or use `smartcity up`")
    serve_all(limit=limit)


@app.command()
def deploy(pool: Annotated[str, typer.Option("--pool", help="process work pool (created if missing)")]) -> None:
    """Register every deployment to a work pool, for `prefect worker start --pool NAME` on any machine."""
    from smartcity.deployments.runtime import runner
    from smartcity.deployments.runtime.registry import deploy_all

    if not runner.prefect_ready():
        raise SmartCityError("no Prefect API answers: set PREFECT_API_URL to your server")
    ids = deploy_all(pool)
    typer.echo(f"registered {len(ids)} deployments to work pool {pool}; start workers with "
               f"`prefect worker start --pool {pool}`")


@app.command()
def server(port: int = 4200) -> None:
    """Start a local Prefect server with its UI on 127.0.0.1 (SQLite, or PREFECT_API_DATABASE_CONNECTION_URL)."""
    from smartcity.deployments.runtime.server import run_server

    raise typer.Exit(run_server(port))


@app.command()
def up(port: int = 4200) -> None:
    """Start the local Prefect server and serve every deployment; Ctrl-C stops both."""
    from smartcity.deployments.runtime.server import up as run_up

    raise typer.Exit(run_up(port))


def _stage(value: str) -> str:
    from smartcity.models.core.stages import parse_stage

    try:
        return parse_stage(value).value
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def _require_actor(actor: str) -> None:
    if not actor.strip():
        raise BadInput("--actor must name who makes the change")


def _register_areas() -> None:
    """Attach the command groups that each area of the program keeps in its own module."""
    from smartcity.deployments.cli import audit as cli_audit
    from smartcity.deployments.cli import deadlines as cli_deadlines
    from smartcity.deployments.cli import quickwins as cli_quickwins
    from smartcity.deployments.cli import reports as cli_reports
    from smartcity.deployments.cli import reviews as cli_reviews
    from smartcity.deployments.cli import selection as cli_selection

    app.add_typer(cli_audit.app, name="audit")
    cli_deadlines.register(app)
    cli_reviews.register(app)
    app.add_typer(cli_selection.app, name="indicators")
    cli_selection.register(cohort_app)
    app.add_typer(cli_quickwins.app, name="quickwin")
    app.command("report")(cli_reports.report)
    from smartcity.deployments.demo.command import demo

    app.command("demo")(demo)


_register_areas()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a command and turn every error into one line and an exit code."""
    command = typer.main.get_command(app)
    try:
        rc = command.main(args=argv, prog_name="smartcity", standalone_mode=False)
        return rc if isinstance(rc, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except click_exc.UsageError as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        return 2
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except SmartCityError as exc:
        typer.echo(f"error: {exc}", err=True)
        for line in getattr(exc, "errors", [])[:200]:
            typer.echo(f"  {line}", err=True)
        return exc.exit_code
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
