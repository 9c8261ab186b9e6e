"""A real `prefect server start` for the test session (not ephemeral mode), in a temp PREFECT_HOME."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(api: str, timeout: float = 120, headers: dict | None = None) -> None:
    """Block until GET /health answers 200, or fail with the reason."""
    deadline, last = time.monotonic() + timeout, "no answer"
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{api}/health", timeout=2, headers=headers or {})
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.5)
    raise RuntimeError(f"Prefect server at {api} not healthy after {timeout}s: {last}")


def _server_env(home: Path) -> dict[str, str]:
    from tests.helpers import one_ca_bundle

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        one_ca_bundle(),
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT="false",
    )
    return env


@contextmanager
def prefect_server(
    home: Path, *, database_url: str | None = None, port: int | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start a server, yield its API URL, stop it (and its children) on exit."""
    from smartcity.deployments.runtime.server import seed_database

    port = port or free_port()
    env = _server_env(home)
    if database_url is None:
        seed_database(home)
    # The UI asks this URL for its API; by default it is port 4200 whatever port the server has.
    env["PREFECT_UI_API_URL"] = f"http://127.0.0.1:{port}/api"
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    env.update(extra_env or {})
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        auth = extra_env.get("PREFECT_SERVER_API_AUTH_STRING") if extra_env else None
        headers = {"Authorization": "Basic " + __import__("base64").b64encode(auth.encode()).decode()} if auth else {}
        wait_healthy(api, headers=headers)
        # The CLI probes /admin/version with a 2 s timeout and falls back to running in-process when it gets no
        # answer. A fresh server's first answer there can take longer than that on a loaded machine (seen:
        # 1.8 s), so ask once here, patiently, before any test's CLI does.
        httpx.get(f"{api}/admin/version", headers=headers, timeout=120).raise_for_status()
        yield api
    finally:
        from smartcity.deployments.runtime.server import drain_prefect_clients

        drain_prefect_clients()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def point_prefect_at(api: str) -> None:
    """Make this process's Prefect client talk to `api`."""
    os.environ["PREFECT_API_URL"] = api
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()


@contextmanager
def served(db_url: str, api: str, log: Path, *, refresh_window_s: int = 3600) -> Iterator[Callable[[], None]]:
    """`smartcity serve` against `api` with the runner polling every second, once every deployment of the
    registry is registered and its triggers are loaded; yields a `stop()` that a test may call early.

    The board refresh gathers bursts for `refresh_window_s`: by default an hour, so a test about another
    chain starts no refresh run (each one a Python process on Prefect's runner); the board refresh's own test
    sets a short window.

    Stopping also deletes the deployments and the triggers they own. The session's server outlives the test:
    without this, the next test on it would meet this one's triggers (every later stage event starting runs
    of a deployment nobody serves) and its leftover scheduled runs (taken by the next `serve`, against the next
    test's database).
    """
    from smartcity.deployments.demo.serving import wait_served
    from tests.clirun import cli_env

    env = cli_env(
        db_url, PREFECT_API_URL=api, PREFECT_RUNNER_POLL_FREQUENCY="1", SMARTCITY_REFRESH_WINDOW_S=str(refresh_window_s)
    )
    if "PREFECT_HOME" in os.environ:
        env["PREFECT_HOME"] = os.environ["PREFECT_HOME"]  # the session's temp home, not ~/.prefect
    with log.open("w") as out:  # a file, not a pipe: nobody reads serve's log while it runs, and a full pipe blocks
        proc = subprocess.Popen(
            [sys.executable, "-m", "smartcity.deployments.cli.entry", "serve"],
            env=env,
            cwd=Path(__file__).resolve().parents[1],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        asyncio.run(_forget_deployments())

    try:
        # The demo's own wait: every registry deployment and every trigger (an automation, by name) is on the
        # server. On SQLite the server loads an automation into its trigger service as its row commits.
        try:
            wait_served(proc, timeout=120)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}: {log.read_text()[-2000:]}") from None
        time.sleep(0.5)
        yield stop
    finally:
        stop()


async def drop_triggers(*, and_deployments: bool = False) -> None:
    """Delete the automations (triggers) of every deployment on the server, and with `and_deployments` the
    deployments too."""
    from prefect import get_client

    async with get_client() as client:
        for deployment in await client.read_deployments():
            await client.delete_resource_owned_automations(f"prefect.deployment.{deployment.id}")
            if and_deployments:
                await client.delete_deployment(deployment.id)


async def _forget_deployments() -> None:
    """Delete every deployment on the server with the automations it owns (its triggers)."""
    await drop_triggers(and_deployments=True)
