"""Shared fixtures: real SQLite files and a real PostgreSQL, one fresh schema per test."""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings

from tests.helpers import one_ca_bundle

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PG_ADMIN_URL = os.environ.get("SMARTCITY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# HTTP clients load a one-certificate CA bundle, in this process and the ones it starts (tests/helpers.py says why).
for _name, _value in one_ca_bundle().items():
    os.environ.setdefault(_name, _value)
# In-process CLI calls wait as long for the Prefect API as CLI processes do (tests/clirun.py says why).
os.environ.setdefault("SMARTCITY_PREFECT_PROBE_TIMEOUT_S", "30")

# A shell starts a background job (`cmd &` without job control) with SIGINT ignored, and an ignored signal stays
# ignored in every process started after: `up` would then ignore the Ctrl-C its test sends, and Prefect's worker
# (which turns SIGTERM into SIGINT to itself) would ignore SIGTERM. Python's own handler here makes the processes
# the tests start get SIGINT as a terminal's foreground job does (a handler is reset to the default by exec).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# CI runs the same generated examples every time (a property test found flaky there blocks a landing);
# local runs keep exploring new ones.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if IN_CI:
    hypothesis_settings.load_profile("ci")


#: The database URLs that test after test reuses (one SQLite path per worker, the session's PostgreSQL database):
#: their engines survive `reset_caches`, so each SQL statement is compiled once per worker, not once per test
#: (about a quarter of the domain tests' CPU on either database, measured).
REUSED_URLS: set[str] = set()


def reset_caches() -> None:
    """Forget cached settings, close every connection, and forget the engines of all but `REUSED_URLS`."""
    from smartcity.models.infra.db import reset_engines
    from smartcity.models.infra.settings import get_settings

    reset_engines(keep=REUSED_URLS)
    get_settings.cache_clear()


def fresh_sqlite(template: Path, path: Path) -> str:
    """`path` made a new copy of `template` (the old file and its write-ahead log removed first, so a connection
    left open on them keeps the old file); its URL, the same from test to test."""
    reset_caches()  # nothing of ours keeps the old file open
    for old in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        old.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    REUSED_URLS.add(url)
    return url


def pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        engine = sa.create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated to head once; each test copies it."""
    from smartcity.models.infra.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    reset_caches()
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database, migrated to head once for the session."""
    problem = pg_available()
    if problem:
        if IN_CI:
            pytest.fail(f"{problem} (CI=true: PostgreSQL tests must run)")
        pytest.skip(problem)
    name = f"smartcity_test_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        # A commit returns before its WAL reaches the disk: only a crash of PostgreSQL itself could lose the
        # last commits, which no test does. Visibility, locks and isolation are unchanged.
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    from smartcity.models.infra.migrate import upgrade

    upgrade(url)
    REUSED_URLS.add(url)
    reset_caches()
    yield url
    REUSED_URLS.discard(url)
    reset_caches()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty_pg(url: str) -> None:
    """Every table of the app emptied and every id sequence restarted, as TRUNCATE ... RESTART IDENTITY would.

    DELETE with foreign-key checks off for the transaction (replica role) and ALTER SEQUENCE ... RESTART: about
    0.1 s, where TRUNCATE of the ~20 tables took about 0.75 s (it makes new files for every table), per test."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                sa.text("select tablename from pg_tables where schemaname='public' and tablename <> 'alembic_version'")
            )
        ]
        sequences = [
            r[0] for r in conn.execute(sa.text("select sequencename from pg_sequences where schemaname='public'"))
        ]
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        statements = [f'DELETE FROM "{t}"' for t in tables] + [f'ALTER SEQUENCE "{q}" RESTART' for q in sequences]
        if statements:
            conn.execute(sa.text("; ".join(statements)))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, monkeypatch) -> Iterator[str]:
    """A migrated, empty database on each backend, set as SMARTCITY_DATABASE_URL."""
    if request.param == "sqlite":
        url = fresh_sqlite(request.getfixturevalue("sqlite_template"), request.getfixturevalue("sqlite_path"))
    else:
        url = request.getfixturevalue("pg_database")
        _empty_pg(url)
    monkeypatch.setenv("SMARTCITY_DATABASE_URL", url)
    reset_caches()
    yield url
    reset_caches()


@pytest.fixture(scope="session")
def sqlite_path(tmp_path_factory) -> Path:
    """Where this worker's tests keep their SQLite database (each test gets a fresh copy there)."""
    return tmp_path_factory.mktemp("sqlite") / "smartcity.db"


@pytest.fixture
def sqlite_url(monkeypatch, sqlite_template, sqlite_path) -> Iterator[str]:
    """SQLite only, for tests that are about one process and the domain."""
    url = fresh_sqlite(sqlite_template, sqlite_path)
    monkeypatch.setenv("SMARTCITY_DATABASE_URL", url)
    reset_caches()
    yield url
    reset_caches()


def dump_database(url: str) -> list[tuple]:
    """Every row of every table, in a stable order, to compare a database before and after."""
    engine = sa.create_engine(url)
    out = []
    with engine.connect() as conn:
        for table in sorted(sa.inspect(conn).get_table_names()):
            rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).all()
            out.append((table, sorted(tuple(map(str, r)) for r in rows)))
    engine.dispose()
    return out


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory) -> Iterator[str]:
    """One real Prefect server (SQLite-backed) for the whole test session; its API URL."""
    from tests.prefect_server import point_prefect_at, prefect_server

    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    with prefect_server(home) as api:
        point_prefect_at(api)
        yield api


@pytest.fixture
def chromium() -> str:
    """The Chromium binary; skipped locally when absent, a failure under CI."""
    from tests.browser import CHROMIUM

    if CHROMIUM is None:
        message = "chromium not installed (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true needs it")
        pytest.skip(message)
    return CHROMIUM
