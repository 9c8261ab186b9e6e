"""Engines and sessions. Nothing is built at import time: `get_engine()` is cached per URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smartcity.models.infra.settings import get_settings, normalise_url
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below decide transactions, not the driver.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return on_connect


def _begin_immediate(conn: Any) -> None:
    # Take the write lock at BEGIN: a deferred transaction that reads, then writes, fails with
    # SQLITE_BUSY_SNAPSHOT under WAL instead of waiting on the busy timeout.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


_ENGINES: dict[str, Engine] = {}  # a cache filled on first use, never at import


def get_engine(url: str | None = None) -> Engine:
    """The engine for `url` (default: the configured database), built once per URL."""
    url = normalise_url(url) if url else get_settings().resolved_database_url()
    if url not in _ENGINES:
        _ENGINES[url] = _build_engine(url)
    return _ENGINES[url]


def reset_engines() -> None:
    """Dispose every cached engine (tests and forked workers call this)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def _build_engine(url: str) -> Engine:
    settings = get_settings()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000})
        event.listen(engine, "connect", _sqlite_pragmas(settings.sqlite_busy_timeout_ms))
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
