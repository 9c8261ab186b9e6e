"""`smartcity demo`: set up a fresh embedded database (and a local Prefect server), then play the story."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import typer
from smartcity.models.infra.settings import get_settings


def demo(registry: Path | None = typer.Option(None, help="nominate from this registry CSV (e.g. all 514)"),
         ui: bool = typer.Option(False, "--ui", help="keep the local Prefect server running afterwards"),
         no_prefect: bool = typer.Option(False, "--no-prefect", help="domain only, no Prefect server (fast)"),
         home: Path | None = typer.Option(None, help="where the demo keeps its database and server")) -> None:
    """Replay phase 1 (2017) end to end on a simulated clock; prints the final board and the report path."""
    home = home or get_settings().data_dir / "demo"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    _use_database(home / "demo.db")
    from smartcity.deployments.demo.receiver import Receiver
    from smartcity.deployments.demo.story import Story, final_board, play

    with Receiver() as rx, _local_prefect(home, enabled=not no_prefect, keep=ui) as api:
        story = Story(receiver_url=rx.url, flows=api is not None)
        result = play(story, registry, home)
        final_board(story, len(rx.messages))
        typer.echo(f"\nHTML report (simulated data): {result['report']}")
        if api and ui:
            typer.echo(f"Prefect UI with the runs and artifacts: {api.removesuffix('/api')}  (Ctrl-C stops it)")
            _wait_for_ctrl_c()


def _use_database(path: Path) -> None:
    from smartcity.models.infra.db import reset_engines
    from smartcity.models.infra.migrate import upgrade

    os.environ["SMARTCITY_DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["SMARTCITY_DATA_DIR"] = str(path.parent)  # reports go next to the demo's database
    get_settings.cache_clear()
    reset_engines()
    upgrade()


@contextmanager
def _local_prefect(home: Path, *, enabled: bool, keep: bool):
    """A fresh local Prefect server for the demo (port 4200 with --ui when free), or none."""
    if not enabled:
        yield None
        return
    import socket
    import subprocess

    from smartcity.deployments.runtime.server import (
        _server_env,
        _stop,
        drain_prefect_clients,
        server_command,
        wait_healthy,
    )

    port = 4200 if keep and _free(4200) else _any_port(socket)
    env = {**_server_env(port), "PREFECT_HOME": str(home / "prefect"), "PREFECT_LOGGING_LEVEL": "WARNING"}
    log = (home / "prefect-server.log").open("w")
    proc = subprocess.Popen(server_command(port), env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(api, proc)
        os.environ.update(PREFECT_API_URL=api, PREFECT_HOME=str(home / "prefect"),
                          PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="CRITICAL")
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
        yield api
    finally:
        drain_prefect_clients()
        _stop(proc)
        log.close()


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


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
