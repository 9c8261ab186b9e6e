"""`smartcity server` and `smartcity up`: a local Prefect server a coordinator can start and stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

DEFAULT_PORT = 4200


def server_command(port: int) -> list[str]:
    """The Prefect server on loopback: SQLite by default, PostgreSQL with PREFECT_API_DATABASE_CONNECTION_URL."""
    return [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]


def wait_healthy(api: str, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    """Block until the API answers /health, or raise with the reason."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {proc.returncode}")
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server at {api} did not become healthy in {timeout:.0f}s")


def _server_env(port: int) -> dict[str, str]:
    # The UI asks PREFECT_UI_API_URL for its API, which defaults to port 4200 whatever port we use.
    return {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"}


def run_server(port: int) -> int:
    """Run the server in the foreground until Ctrl-C."""
    print(f"Prefect UI: http://127.0.0.1:{port}  (API http://127.0.0.1:{port}/api)", flush=True)
    return subprocess.call(server_command(port), env=_server_env(port))


def up(port: int) -> int:
    """Start the server, wait until healthy, serve every deployment; Ctrl-C stops both."""
    server = subprocess.Popen(server_command(port), env=_server_env(port), start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(api, server)
        print(f"Prefect UI: http://127.0.0.1:{port}  — serving the smartcity deployments (Ctrl-C stops both)",
              flush=True)
        os.environ["PREFECT_API_URL"] = api
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
        from smartcity.deployments.runtime.registry import serve_all

        serve_all()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(server)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    print("stopped the Prefect server", file=sys.stderr)


def drain_prefect_clients(timeout: float = 10) -> None:
    """Send the logs and events this process still holds, before the server they go to stops."""
    import sys as _sys

    if "prefect" not in _sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout)
        except Exception:  # noqa: BLE001 - best effort at shutdown; the server may already be gone
            pass
