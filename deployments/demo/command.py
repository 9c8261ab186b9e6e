"""`smartcity demo`: set up a fresh embedded database (and a local Prefect server), then play the story."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NoReturn

import typer

from smartcity.models.infra.settings import get_settings

PHASE1_REGIONS = 25
COHORT = "2017"


def demo(
    registry: Path | None = typer.Option(None, help="nominate from this registry CSV (e.g. all 514)"),
    ui: bool = typer.Option(False, "--ui", help="keep the local Prefect server running afterwards"),
    no_prefect: bool = typer.Option(False, "--no-prefect", help="domain only, no Prefect server (fast)"),
    home: Path | None = typer.Option(None, help="where the demo keeps its database and server"),
    regions: int | None = typer.Option(None, "--regions", help="only the first N (2-25) phase-1 regions"),
    served: bool = typer.Option(
        True,
        "--served/--quick",
        help="--served (the default): every step a flow run of the served registry, chained by triggers; "
        "--quick: only selection, cohort moves, monthly sweeps and the report as flow runs, the rest in-process",
    ),
    replay_record: bool = typer.Option(
        False,
        "--replay-record",
        help="replay 2017-2019 from the public record (--data) on its real calendar dates; domain only",
    ),
    data: Path = typer.Option(Path("../shared/data"), "--data", help="the public record's folder (--replay-record)"),
    prefect_postgres: str | None = typer.Option(
        None,
        "--prefect-postgres",
        metavar="URL",
        help="run the demo's Prefect server on this PostgreSQL server (its user may create databases): a database "
        "of its own for this run, dropped when the demo ends, copied from a template of Prefect's schema that the "
        "first run builds there and keeps (smartcity_prefect_template_<version>). About twice as fast as SQLite",
    ),
) -> None:
    """Replay phase 1 (2017) end to end on a simulated clock; prints the final board and the report path."""
    from smartcity.deployments.runtime.server import stop_on_signals

    if regions is not None and not 2 <= regions <= PHASE1_REGIONS:
        _bad_input(f"--regions must be 2..{PHASE1_REGIONS} (the first N phase-1 regions), got {regions}")
    if regions is not None and registry is not None:
        _bad_input("--regions takes the first N phase-1 regions; it cannot be combined with --registry")
    if replay_record:
        if registry is not None or regions is not None or ui:
            _bad_input("--replay-record replays three cohorts on the domain path: no --registry, --regions, --ui")
        if not (data / "program_calendar.csv").is_file():
            _bad_input(
                f"--data {data}: no program_calendar.csv (the public record is ../shared/data beside the project)"
            )
        _replay_record(data, home)
        return
    if ui and not served:
        _bad_input("--ui shows the served registry's runs: it cannot be combined with --quick")
    if prefect_postgres and no_prefect:
        _bad_input("--prefect-postgres is where the demo's Prefect server keeps its data: not with --no-prefect")
    with stop_on_signals(), ExitStack() as stack:  # SIGTERM and SIGHUP stop the demo's server as Ctrl-C does
        prefect_db: str | None = None
        if prefect_postgres:  # made first: a server that refuses leaves the last demo's home as it was
            from sqlalchemy.engine import make_url

            from smartcity.deployments.runtime.server import throwaway_postgres_database

            try:
                prefect_db = stack.enter_context(throwaway_postgres_database(prefect_postgres, "smartcity_demo"))
            except ValueError as exc:
                _bad_input(f"--prefect-postgres: {exc}")
            where = make_url(prefect_db)
            typer.echo(
                f"Prefect's data: database {where.database} on {where.host}:{where.port or 5432} (dropped at the end)"
            )
        _demo(registry, ui, no_prefect, home, regions, served=served, prefect_db=prefect_db)


def _replay_record(data: Path, home: Path | None) -> None:
    """The 2017-2019 record replay on a fresh embedded database, domain only (no Prefect server)."""
    from smartcity.deployments.demo.replay import replay_record

    home = home or get_settings().data_dir / "demo"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    _use_database(home / "demo.db")
    replay_record(data_dir=data.resolve(), out=home, lang="en")


def _bad_input(message: str) -> NoReturn:
    """One line on stderr and exit code 2, before anything is changed."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _demo(
    registry: Path | None,
    ui: bool,
    no_prefect: bool,
    home: Path | None,
    limit: int | None,
    *,
    served: bool,
    prefect_db: str | None = None,
) -> None:
    """The demo itself: a fresh database, the story, the board, and with `ui` the server kept until stopped."""
    home = home or get_settings().data_dir / "demo"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    _use_database(home / "demo.db")
    from smartcity.deployments.demo.receiver import Receiver
    from smartcity.deployments.demo.story import Story, final_board, play

    serve = served and not no_prefect
    with (
        Receiver() as rx,
        _local_prefect(home, enabled=not no_prefect, keep=ui, serve=serve, database_url=prefect_db) as (
            api,
            serve_loop,
        ),
    ):
        story = Story(receiver_url=rx.url, flows=api is not None, served=serve, serve_loop=serve_loop)
        result = play(story, registry, home, limit)
        final_board(story, len(rx.messages))
        typer.echo(f"\nHTML report (simulated data): {result['report']}")
        if api:
            _closing_lines(api, story, keep=ui)
        if api and ui:
            _wait_for_ctrl_c()


def _closing_lines(api: str, story, *, keep: bool) -> None:
    """The runs (and any generated names), then what to open in the UI, with URLs."""
    import asyncio

    from smartcity.deployments.demo.chain import count_runs, generated_names
    from smartcity.deployments.demo.urls import ui_links

    generated = asyncio.run(generated_names())
    typer.echo(
        f"Prefect: {asyncio.run(count_runs())} flow runs, {len(generated)} with a generated name"
        + (f" ({', '.join(generated[:5])})" if generated else "")
    )
    if not keep:
        return
    typer.echo("\nThe program's office in the Prefect UI (the demo's server; Ctrl-C, SIGTERM or SIGHUP stops it):")
    for label, url in ui_links(api, story.revised or story.selected[0], COHORT):
        typer.echo(f"  {label:<44} {url}")


def _use_database(path: Path) -> None:
    from smartcity.models.infra.db import reset_engines
    from smartcity.models.infra.migrate import upgrade

    os.environ["SMARTCITY_DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["SMARTCITY_DATA_DIR"] = str(path.parent)  # reports go next to the demo's database
    get_settings.cache_clear()
    reset_engines()
    upgrade()


#: The demo's server starts no scheduled run: its clock is 2017, simulated; the sweeps run as the story says.
DEMO_SERVER_SETTINGS = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
    # the Event Feed shows events a second after they arrive, not five
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
    # Runs queue behind the serve loop's process limit by design (a day's chains start together): marking
    # them Late says nothing, and each mark is one more write for SQLite's single writer.
    "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
    # SQLite has one writer: on a busy machine a write may wait longer than the default 10 s for the lock, and
    # a request that gives up is a 500 that crashes a run or, three in a row, stops the serve loop's polling.
    "PREFECT_SERVER_DATABASE_TIMEOUT": "30",
}


@contextmanager
def _local_prefect(home: Path, *, enabled: bool, keep: bool, serve: bool, database_url: str | None = None):
    """A fresh local Prefect server for the demo (port 4200 with --ui when free) serving the whole registry:
    (its API URL, the serve loop's process); (None, None) without Prefect. Its database is SQLite in the demo's
    home, or the empty PostgreSQL database at `database_url`."""
    if not enabled:
        yield None, None
        return
    from smartcity.deployments.runtime.server import (
        _server_env,
        _stop,
        drain_prefect_clients,
        seed_database,
        start_server,
        stop_group,
        wait_healthy,
    )

    ports = ExitStack()
    port = ports.enter_context(_server_port(keep=keep))
    env = {
        **_server_env(port),
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        **DEMO_SERVER_SETTINGS,
        **({"PREFECT_API_DATABASE_CONNECTION_URL": database_url} if database_url else {}),
    }
    log = (home / "prefect-server.log").open("w")
    serve_log = (home / "prefect-serve.log").open("w")
    proc = serving = None
    api = f"http://127.0.0.1:{port}/api"
    try:
        if database_url is None:
            seed_database(home / "prefect")
        proc = start_server(port, env=env, log=log)
        os.environ.update(
            PREFECT_API_URL=api, PREFECT_HOME=str(home / "prefect"), PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="CRITICAL"
        )
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
        if serve:
            from smartcity.deployments.demo.serving import start_serving

            serving = start_serving(dict(os.environ), serve_log)  # it imports the flows while the server starts
        wait_healthy(api, proc)
        if serving is not None:
            from smartcity.deployments.demo.serving import wait_served

            wait_served(serving)
        yield api, serving
    finally:
        drain_prefect_clients()
        if serving is not None:
            stop_group(serving, "the serve loop")
        if proc is not None:
            _stop(proc)
        log.close()
        serve_log.close()
        ports.close()


@contextmanager
def _server_port(*, keep: bool) -> Iterator[int]:
    """The demo server's port, held for as long as the demo runs: with `--ui`, 4200 (the UI's usual address)
    when it is free and no other demo holds it, else any free port.

    Two demos started at once both find 4200 free, as neither server has bound it yet, and the second would
    then talk to the first one's server. A lock file decides which demo may take 4200."""
    import fcntl
    import socket
    import tempfile

    from smartcity.deployments.runtime.server import port_in_use

    if not keep:
        yield _any_port(socket)
        return
    with open(Path(tempfile.gettempdir()) / "smartcity-demo-port-4200.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = True
        except BlockingIOError:
            held = False
        yield 4200 if held and not port_in_use(4200) else _any_port(socket)


def _any_port(socket) -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_ctrl_c() -> None:
    import time

    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
