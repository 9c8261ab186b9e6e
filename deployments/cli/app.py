"""`smartcity`: the coordinator's command line.

Exit codes: 0 success, 1 the domain refused, 2 bad usage or input. Errors are one line on stderr.
Read-only commands import neither Prefect nor the flows.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import Annotated

import typer

try:  # typer vendors click since 0.2x; older ones use click itself
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc  # type: ignore[no-redef]  # the same module, by its older name

from smartcity.deployments.cli.common import (
    JsonOpt,
    UserActorOpt,
    actor_or_user,
    app,
    emit,
    group,
    region_code,
    region_codes,
    utcnow,
)
from smartcity.deployments.cli.exports import REGION_COLUMNS, FormatOpt, export_format, write_export
from smartcity.models.core.errors import BadInput, SmartCityError

regions_app = group("regions", "The region registry.")
cohort_app = group("cohort", "Cohorts: create, nominate, advance, select.")
region_app = group("region", "One region: advance, history.")
events_app = group("events", "The event outbox.")


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
    emit(
        {"inserted": inserted, "updated": updated, "rows": len(regions)},
        as_json,
        f"imported {len(regions)} regions: {inserted} new, {updated} updated",
    )


@regions_app.command("list")
def regions_list(
    province: Annotated[str | None, typer.Option(help="one province, in any case")] = None,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
) -> None:
    """List the registry."""
    export = export_format(fmt, as_json)
    from sqlmodel import func, select

    from smartcity.models.core.tables import Region
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        query = select(Region).order_by(Region.bps_code)
        if province:  # province names are ASCII, so SQL lower() folds them the same on SQLite and PostgreSQL
            query = query.where(func.lower(Region.province) == " ".join(province.split()).lower())
        rows = [r.model_dump(exclude={"id", "updated_at"}) for r in session.exec(query).all()]
        empty = _no_regions_line(session, province) if not rows else ""
    if export:
        return write_export(rows, REGION_COLUMNS)
    lines = [f"{r['bps_code']}  {r['name']:<32} {r['province']:<24} {r['timezone']}" for r in rows]
    emit(rows, as_json, "\n".join(lines) or empty)


def _no_regions_line(session, province: str | None) -> str:
    """Why a listing is empty: no registry at all, or a filter that matched nothing (with a near province)."""
    import difflib

    from sqlmodel import select

    from smartcity.models.core.tables import Region

    provinces = sorted(set(session.exec(select(Region.province)).all()))
    if not provinces:
        return "no regions (import some with `smartcity regions import`)"
    near = difflib.get_close_matches((province or "").lower(), [p.lower() for p in provinces], n=1, cutoff=0.6)
    hint = f"; did you mean {next(p for p in provinces if p.lower() == near[0])}?" if near else ""
    return f"no regions in province {province!r}{hint}"


@cohort_app.command("list")
def cohort_list(as_json: JsonOpt = False) -> None:
    """Every cohort: year, quota, program, and how many regions are in each stage."""
    from smartcity.models.core.program import cohort_rows
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        rows = cohort_rows(session)
    lines = [
        f"{r['name']:<12} {r['year']}  quota {r['quota']:>4}  {r['regions']:>4} region(s)  {r['program']}"
        + "".join(f"\n    {stage}: {n}" for stage, n in sorted(r["stages"].items()))
        for r in rows
    ]
    emit(rows, as_json, "\n".join(lines) or "no cohorts yet (create one with `smartcity cohort create`)")


@cohort_app.command("create")
def cohort_create(
    name: str,
    year: Annotated[int, typer.Option()],
    quota: Annotated[int, typer.Option()],
    actor: UserActorOpt = None,
    program: Annotated[
        str, typer.Option(help="the program it runs: a shipped name (default, smartcity-2018) or a definition file")
    ] = "default",
) -> None:
    """Create a cohort with a year, a quota and the program it runs (audited)."""
    from smartcity.models.core.program import create_cohort
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        cohort = create_cohort(
            session, name=name, year=year, quota=quota, now=utcnow(), actor=actor_or_user(actor), program=program
        )
        from smartcity.models.programs.store import program_of_cohort

        running = program_of_cohort(session, cohort.id or 0).name
    typer.echo(f"cohort {name} created (year {year}, quota {quota}, program {running})")


@cohort_app.command("nominate")
def cohort_nominate(
    name: str,
    codes: Annotated[list[str] | None, typer.Argument()] = None,
    file: Annotated[Path | None, typer.Option(help="one BPS code per line")] = None,
    actor: UserActorOpt = None,
) -> None:
    """Nominate regions into a cohort, by code or name, or from a file of codes (one audit record per call)."""
    from smartcity.models.core.program import nominate
    from smartcity.models.core.regions import read_csv_text
    from smartcity.models.infra.db import session_scope

    all_codes = region_codes(list(codes or []))
    if file is not None:
        all_codes += codes_from_file(read_csv_text(file))
    with session_scope() as session:
        added, already = nominate(session, cohort=name, codes=all_codes, now=utcnow(), actor=actor_or_user(actor))
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
def cohort_advance(
    name: str,
    to: Annotated[str, typer.Option("--to")],
    actor: Annotated[str, typer.Option("--actor")],
    reason: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Advance every eligible region of a cohort one stage, as one flow run."""
    from smartcity.deployments.runtime import runner

    stage = _stage(to, cohort=name)
    _require_actor(actor)
    _require_reason_for(stage, reason, cohort=name)
    summary = runner.advance_cohort(cohort=name, to=stage, actor=actor, reason=reason)
    text = (
        f"cohort {name} -> {stage}: {summary['applied']} advanced, {summary['unchanged']} unchanged, "
        f"{summary['already']} already there, {len(summary['refused'])} refused"
    )
    emit(summary, as_json, text + "".join(f"\n  refused {r}" for r in summary["refused"][:20]))
    if summary["refused"]:
        raise typer.Exit(1)


@region_app.command("advance")
def region_advance(
    code: str,
    to: Annotated[str, typer.Option("--to")],
    actor: Annotated[str, typer.Option("--actor")],
    reason: Annotated[str | None, typer.Option()] = None,
    cohort: Annotated[str | None, typer.Option()] = None,
    idempotency_key: Annotated[str | None, typer.Option("--idempotency-key")] = None,
    force: Annotated[bool, typer.Option("--force", help="override the quota guard (needs --reason)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Move one region to a stage (the next one, or a reasoned revise/withdraw)."""
    from smartcity.deployments.runtime import runner
    from smartcity.models.core.transitions import StageChange

    code = region_code(code)
    stage = _stage(to, cohort=cohort, region=code)
    _require_actor(actor)
    if force and not (reason or "").strip():
        raise BadInput("--force needs --reason, recorded in the region's history")
    result = runner.advance_region(
        StageChange(
            region_code=code,
            to=stage,
            actor=actor,
            reason=reason,
            cohort=cohort,
            idempotency_key=idempotency_key,
            force=force,
        )
    )
    words = {"applied": "now", "duplicate": "already recorded (same idempotency key):", "unchanged": "already"}
    emit(
        result, as_json, f"region {code}: {words[result['status']]} {result['to_stage']} (version {result['version']})"
    )


@region_app.command("reconsider")
def region_reconsider(
    code: str,
    reason: Annotated[str, typer.Option(help="why the decision is reopened")],
    actor: Annotated[str, typer.Option("--actor")],
    cohort: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Reopen a not_selected decision (made on partial data, say): the region is nominated again."""
    from smartcity.deployments.runtime import runner
    from smartcity.models.core.transitions import StageChange
    from smartcity.models.infra.db import session_scope
    from smartcity.models.programs.lookup import reconsider_target

    _require_actor(actor)
    if not reason.strip():
        raise BadInput("--reason must say why the decision is reopened (it is recorded in the history)")
    with session_scope() as session:
        back = reconsider_target(session, code.strip(), cohort)
    result = runner.advance_region(
        StageChange(region_code=code.strip(), to=back, actor=actor, reason=reason.strip(), cohort=cohort)
    )
    emit(
        result,
        as_json,
        f"region {code}: {'now' if result['status'] == 'applied' else 'already'} nominated "
        f"(version {result['version']}); select it with `smartcity cohort select` or "
        "`smartcity region advance --to selected`",
    )


@region_app.command("history")
def region_history(code: str, as_json: JsonOpt = False) -> None:
    """Every stage change of a region, oldest first."""
    from smartcity.models.core.program import history
    from smartcity.models.infra.db import session_scope

    code = region_code(code)
    with session_scope() as session:
        rows = history(session, code)
    lines = [
        f"{r['at_local']}  {r['cohort']}  {r['from']} -> {r['to']} ({r['kind']}) by {r['actor']}"
        + (f": {r['reason']}" if r["reason"] else "")
        for r in rows
    ]
    emit(rows, as_json, "\n".join(lines) or f"region {code}: no stage changes yet")


@app.command()
def status(
    cohort: str | None = None,
    as_json: JsonOpt = False,
    stalled: Annotated[
        bool,
        typer.Option(
            "--stalled",
            help="only the regions whose triggered follow-up is overdue (the text output always lists them)",
        ),
    ] = False,
) -> None:
    """Counts per cohort and stage; with --cohort, one line per region; then regions waiting past the grace period."""
    from datetime import timedelta

    from smartcity.models.core.program import stage_counts, status_rows
    from smartcity.models.core.reconcile import find_stalled, stalled_line
    from smartcity.models.infra.db import session_scope
    from smartcity.models.infra.settings import get_settings

    grace, now = get_settings().reconcile_grace_minutes, utcnow()
    with session_scope() as session:
        counts = {} if stalled else stage_counts(session)
        rows = status_rows(session, cohort) if (cohort or as_json) and not stalled else []
        # `status --json` stays what the stdlib fast path (entry.py) prints: the stalled list is text or --stalled.
        waiting = find_stalled(session, now=now, grace=timedelta(minutes=grace)) if stalled or not as_json else []
    if as_json:
        data = {"as_of": now.isoformat(), "grace_minutes": grace, "stalled": [w.as_dict() for w in waiting]}
        emit(data if stalled else {"cohorts": counts, "regions": rows}, True, "")
        return
    lines = [f"{name}: " + ", ".join(f"{s}={n}" for s, n in sorted(c.items())) for name, c in counts.items()]
    lines += [f"  {r['bps_code']} {r['name']:<32} {r['stage']}" for r in rows]
    if waiting:  # a lost trigger: `smartcity reconcile` (or the next deadline sweep) starts the follow-up again
        lines += [
            f"stalled: {len(waiting)} region(s) waiting more than {grace} min for their follow-up "
            "(`smartcity reconcile` repairs them)",
            *(stalled_line(w) for w in waiting),
        ]
    typer.echo("\n".join(lines) or ("nothing stalled" if stalled else "no cohorts yet"))


@events_app.command("flush")
def events_flush() -> None:
    """Publish events waiting in the outbox (after the Prefect server was down)."""
    from smartcity.deployments.runtime import runner

    typer.echo(f"published {runner.flush_events()} event(s)")


@events_app.command("pending")
def events_pending(as_json: JsonOpt = False) -> None:
    """How many events wait in the outbox."""
    from sqlmodel import col, func, select

    from smartcity.models.core.tables import EventOutbox
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        n = session.exec(
            select(func.count()).select_from(EventOutbox).where(col(EventOutbox.published_at).is_(None))
        ).one()
    emit({"pending": n}, as_json, f"{n} event(s) waiting to be published")


@app.command()
def serve(limit: Annotated[int | None, typer.Option(help="max concurrent runs")] = None) -> None:
    """Serve every deployment of the registry against PREFECT_API_URL."""
    from smartcity.deployments.runtime import runner
    from smartcity.deployments.runtime.registry import serve_all

    runner.require_api("start one with `smartcity server`, or use `smartcity up`")
    serve_all(limit=limit)


@app.command()
def deploy(pool: Annotated[str, typer.Option("--pool", help="process work pool (created if missing)")]) -> None:
    """Register every deployment to a work pool, for `prefect worker start --pool NAME` on any machine."""
    from smartcity.deployments.runtime import runner
    from smartcity.deployments.runtime.registry import deploy_all

    runner.require_api("set PREFECT_API_URL to your server")
    ids = deploy_all(pool)
    typer.echo(
        f"registered {len(ids)} deployments to work pool {pool}; start workers with "
        f"`prefect worker start --pool {pool}`"
    )


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


def _stage(value: str, *, cohort: str | None = None, region: str | None = None) -> str:
    """The stage typed, checked against the program of the cohort (or region) before any run is created."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.programs.lookup import parse_stage_for

    with session_scope() as session:
        return parse_stage_for(session, value, cohort=cohort, region_code=region)


def _require_actor(actor: str) -> None:
    if not actor.strip():
        raise BadInput("--actor must name who makes the change")


def _require_reason_for(stage: str, reason: str | None, *, cohort: str) -> None:
    """A move into `stage` that always needs a reason (withdrawn) is bad usage without --reason."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.programs.store import program_named

    with session_scope() as session:
        into = [e for e in program_named(session, cohort).edge_list if e.target == stage]
    if into and all(e.needs_reason for e in into) and not (reason or "").strip():
        raise BadInput(f"--to {stage} needs --reason, recorded in each region's history")


# Each area's module declares its commands on `app` or `group(...)` when imported: the order here is the
# order of `smartcity --help`.
from smartcity.deployments.cli import (  # noqa: E402
    audit,  # noqa: F401
    deadlines,  # noqa: F401
    evaluation,  # noqa: F401
    programs,  # noqa: F401
    quickwins,  # noqa: F401
    reconcile,  # noqa: F401
    reports,  # noqa: F401
    reviews,  # noqa: F401
    selection,  # noqa: F401
)
from smartcity.deployments.cli.calendar import calendar_app  # noqa: E402
from smartcity.deployments.demo.command import demo  # noqa: E402  (the demo package does not import the CLI)

cohort_app.add_typer(calendar_app, name="calendar")
app.command("demo")(demo)


@cache
def cli_command() -> typer.core.TyperGroup:
    """The Click command Typer builds from `app`, built once per process: about 40 ms of CPU each time, which
    tests that call `main` in-process (hundreds of calls) would otherwise pay on every call."""
    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    return command


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a command and turn every error into one line and an exit code."""
    command = cli_command()
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
    except Exception as exc:
        problem = _database_problem(exc)
        if problem is None:
            raise
        typer.echo(f"error: {problem}", err=True)
        return 2


def _database_problem(error: Exception) -> str | None:
    """One line when `error` is the database failing (unreachable, missing, never initialised, bad URL)."""
    import os

    from smartcity.models.infra.dberrors import describe
    from smartcity.models.infra.settings import get_settings

    try:
        url = get_settings().resolved_database_url()
    except ValueError:
        url = os.environ.get("SMARTCITY_DATABASE_URL", "")
    return describe(error, url)


if __name__ == "__main__":
    sys.exit(main())
