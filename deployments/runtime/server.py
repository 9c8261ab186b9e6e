"""`smartcity server` and `smartcity up`: a local Prefect server a coordinator can start and stop.

The server runs in its own session, so no signal meant for us reaches it: Ctrl-C (SIGINT), SIGTERM (kill,
systemd, docker stop) and SIGHUP (a closed terminal) all unwind through the same `finally` that stops it,
and all three end with exit code 0, a stop that was asked for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx

DEFAULT_PORT = 4200
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised as Ctrl-C is, so every `except KeyboardInterrupt` and `finally` treats them alike."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP interrupt like Ctrl-C; a repeat is ignored so the cleanup it started can finish."""

    def interrupt(signum: int, frame: object) -> None:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        raise StopSignal(signum)

    previous = {s: signal.signal(s, interrupt) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


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


#: How often the server's own client retries a request its server answered 503 (Prefect's default is 5).
#: On SQLite a trigger's run-deployment action loses the write-lock race to the trigger that published it (the
#: server answers its own client 503, "database is locked") and retries after 2, 4, 8... s; a burst of events
#: (25 selections, then their runs' writes) keeps the lock busy. Once in a 25-region served demo a triggered run
#: was never created, most likely its five retries (62 s) ran out. Two more wait up to about 4 min in all.
SERVER_CLIENT_RETRIES = "7"


def _server_env(port: int) -> dict[str, str]:
    # The UI asks PREFECT_UI_API_URL for its API, which defaults to port 4200 whatever port we use.
    return {
        "PREFECT_CLIENT_MAX_RETRIES": SERVER_CLIENT_RETRIES,  # a coordinator's own setting wins
        **os.environ,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
    }


def migrated_prefect_database() -> Path:
    """An empty Prefect SQLite database already migrated to head, made once per machine and Prefect version.

    A fresh server spends several seconds of CPU on Prefect's own migrations before it answers; a copy of this
    file lets it skip them (the server still checks and upgrades at start, so a copy can never be behind). Made
    under a file lock: two demos, or parallel test workers, may ask for it at once."""
    import fcntl
    import shutil
    import tempfile

    import prefect

    cached = Path(tempfile.gettempdir()) / f"smartcity-prefect-{prefect.__version__}.db"
    with open(cached.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cached.exists():
            scratch = Path(tempfile.mkdtemp(prefix="smartcity-prefect-"))
            env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
            subprocess.run(
                [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
                env={**env, "PREFECT_HOME": str(scratch), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
                check=True,
                capture_output=True,
                timeout=300,
            )
            shutil.copy(scratch / "prefect.db", cached.with_suffix(".tmp"))
            os.replace(cached.with_suffix(".tmp"), cached)
            shutil.rmtree(scratch, ignore_errors=True)
    return cached


def seed_database(prefect_home: Path) -> None:
    """Give a fresh PREFECT_HOME a copy of `migrated_prefect_database()`; a home that has a database keeps it."""
    import shutil

    prefect_home.mkdir(parents=True, exist_ok=True)
    if not (prefect_home / "prefect.db").exists():
        shutil.copy(migrated_prefect_database(), prefect_home / "prefect.db")


@contextmanager
def throwaway_postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database on the PostgreSQL server of `server_url` (any database its user may connect to, and a user
    who may create databases), holding Prefect's empty schema, dropped on exit; yields its URL for Prefect's
    server (asyncpg driver). It is a copy of `prefect_postgres_template`, so the server skips Prefect's
    migrations.

    Raises `ValueError` with one line when the URL is not PostgreSQL or the server refuses; the URL is never
    part of a message (it may carry a password)."""
    import uuid

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        url = make_url(server_url)
    except ArgumentError:
        raise ValueError("not a database URL (postgresql://user@host:port/database)") from None
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"a PostgreSQL URL is needed, not {url.get_backend_name()}")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        template = prefect_postgres_template(admin)
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    except (SQLAlchemyError, RuntimeError, subprocess.SubprocessError) as exc:
        admin.dispose()
        cause = getattr(exc, "orig", None) or exc  # the driver's error, when there is one
        first = (str(cause).strip().splitlines() or [""])[0]
        if url.password:
            first = first.replace(url.password, "***")
        raise ValueError(f"cannot create a database there: {type(cause).__name__}: {first}") from None
    try:
        yield url.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


#: Serialises the builds of `prefect_postgres_template` on one PostgreSQL server (pg_advisory_lock's key).
TEMPLATE_LOCK = 0x5C17_9E3F


def prefect_postgres_template(admin: Any) -> str:
    """The name of a database on `admin`'s PostgreSQL server (an AUTOCOMMIT engine) holding Prefect's empty
    schema at this Prefect version, built the first time it is asked for; new server databases are copies of it.

    A fresh server on an empty database spends several seconds of CPU on Prefect's migrations before it
    answers; a copy skips them (the server still checks and upgrades at start). The build runs Prefect's own
    `prefect server database upgrade` on a scratch database, renamed only when complete, under an advisory lock
    (two demos or test workers may ask at once). The template stays on the server for the next run, one per
    Prefect version, named `smartcity_prefect_template_<version>`; dropping it only makes the next run build it
    again."""
    import re

    import prefect
    import sqlalchemy as sa

    name = "smartcity_prefect_template_" + re.sub(r"\W", "_", prefect.__version__)
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": TEMPLATE_LOCK})
        try:
            known = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if known is None:
                scratch = f"{name}_building"
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))  # a build that died
                conn.execute(sa.text(f'CREATE DATABASE "{scratch}"'))
                target = admin.url.set(drivername="postgresql+asyncpg", database=scratch)
                env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
                done = subprocess.run(
                    [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
                    env={
                        **env,
                        "PREFECT_API_DATABASE_CONNECTION_URL": target.render_as_string(hide_password=False),
                        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    },
                    capture_output=True,  # its output may name the URL, password included: never shown whole
                    text=True,
                    timeout=300,
                )
                if done.returncode != 0:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
                    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                    raise RuntimeError(f"Prefect's migrations failed there ({last})")
                conn.execute(sa.text(f'ALTER DATABASE "{scratch}" RENAME TO "{name}"'))
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": TEMPLATE_LOCK})
    return name


def start_server(port: int, env: dict[str, str] | None = None, log: IO[str] | None = None) -> subprocess.Popen:
    """The server as a child in its own session, so `_stop` can end its whole process group; output to `log`."""
    output: dict[str, Any] = {"stdout": log, "stderr": subprocess.STDOUT} if log else {}
    return subprocess.Popen(server_command(port), env=env or _server_env(port), start_new_session=True, **output)


def port_in_use(port: int) -> bool:
    """True when something listens on 127.0.0.1:`port`."""
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def require_free_port(port: int) -> None:
    """Refuse (exit 1, one line) a port that something already listens on: our server would fail to bind it,
    and the health check would be answered by the other server, which we would then serve against."""
    from smartcity.models.core.errors import SmartCityError

    if port_in_use(port):
        raise SmartCityError(f"port {port} is in use (another Prefect server?): stop it, or pass --port")


def run_server(port: int) -> int:
    """Run the server in the foreground until Ctrl-C, SIGTERM or SIGHUP; its exit code if it stops by itself."""
    require_free_port(port)
    print(f"Prefect UI: http://127.0.0.1:{port}  (API http://127.0.0.1:{port}/api)", flush=True)
    server = None
    with stop_on_signals():
        try:
            server = start_server(port)
            return server.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            if server is not None:
                _stop(server)


def up(port: int) -> int:
    """Start the server, wait until healthy, serve every deployment; Ctrl-C, SIGTERM or SIGHUP stops both."""
    require_free_port(port)
    server = None
    with stop_on_signals():
        try:
            server = start_server(port)
            return _serve_against(port, server)
        except KeyboardInterrupt:
            return 0
        finally:
            if server is not None:
                _stop(server)


def _serve_against(port: int, server: subprocess.Popen) -> int:
    """Wait for the server, then serve every deployment from this process until interrupted."""
    api = f"http://127.0.0.1:{port}/api"
    wait_healthy(api, server)
    print(f"Prefect UI: http://127.0.0.1:{port}  — serving the smartcity deployments (Ctrl-C stops both)", flush=True)
    os.environ["PREFECT_API_URL"] = api
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()
    from smartcity.deployments.runtime.registry import serve_all

    serve_all()  # returns when Prefect's runner stops: on Ctrl-C, SIGHUP, or its own SIGTERM handler
    return 0


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL after 20 s."""
    stop_group(proc, "the Prefect server")


@contextmanager
def _stop_signals_ignored() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP are ignored (in the main thread, the only one that may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


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


def stop_group(proc: subprocess.Popen, what: str) -> None:
    """Stop a child started in its own session (`what`, e.g. "the serve loop") with its whole process group:
    SIGTERM, then SIGKILL after 20 s."""
    # A repeated SIGTERM must not cut the stop short, whoever owns its handler by now (Prefect's runner may).
    with _stop_signals_ignored():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    print(f"stopped {what}", file=sys.stderr)
