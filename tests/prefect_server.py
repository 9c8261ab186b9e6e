"""A real `prefect server start` for the test session (not ephemeral mode), in a temp PREFECT_HOME."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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


@contextmanager
def prefect_server(home: Path, *, database_url: str | None = None, port: int | None = None,
                   extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Start a server, yield its API URL, stop it (and its children) on exit."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING",
               PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT="false")
    # The UI asks this URL for its API; by default it is port 4200 whatever port the server has.
    env["PREFECT_UI_API_URL"] = f"http://127.0.0.1:{port}/api"
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    env.update(extra_env or {})
    log = (home / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        auth = extra_env.get("PREFECT_SERVER_API_AUTH_STRING") if extra_env else None
        headers = {"Authorization": "Basic " + __import__("base64").b64encode(auth.encode()).decode()} if auth else {}
        wait_healthy(api, headers=headers)
        yield api
    finally:
        from deployments.server import drain_prefect_clients

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
