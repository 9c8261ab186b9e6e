"""Engines and sessions. Nothing is built at import time: `get_engine()` is cached per URL."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import String, event
from sqlalchemy.engine import CursorResult, Dialect, Engine, Result
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Session, create_engine

from smartcity.models.infra.settings import get_settings, normalise_url


class EnumText(TypeDecorator[StrEnum]):
    """A VARCHAR(length) column holding a StrEnum: stores the member's value, loads the member back.

    The schema stays a plain VARCHAR of the same length (no database enum type, so no migration, and
    old rows read as before). A value outside the enum is refused on write, and a stray one in the
    database fails loudly on read instead of flowing on as an unknown string.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length=length)
        self.enum = enum
        self.length = length

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """The member's value; a plain string is checked against the enum first."""
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> StrEnum | None:
        """The member for a stored value."""
        return None if value is None else self.enum(value)

    @property
    def python_type(self) -> type[StrEnum]:
        """The enum class (what SQLAlchemy and SQLModel report for the column)."""
        return self.enum


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


def enum_field(enum: type[StrEnum], length: int, **field: Any) -> Any:
    """A SQLModel field stored as VARCHAR(length) through `EnumText` (other Field arguments pass through)."""
    return Field(sa_type=EnumText(enum, length), **field)


class HasId(Protocol):
    """A table row with an autoincrement primary key (None until the row is flushed)."""

    id: int | None


def row_id(row: HasId) -> int:
    """The id of a row that is in the database (flushed or loaded); an unflushed row is a bug, said loudly."""
    if row.id is None:
        raise RuntimeError(f"{type(row).__name__} has no id yet: flush the session first")
    return row.id


def rows_matched(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through `Session.execute` matched.

    SQLModel types `Session.execute` as returning a plain `Result`; for DML it is a `CursorResult`,
    the only kind with a `rowcount`."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(result).__name__} has no row count: not the result of an UPDATE or DELETE")
    return result.rowcount


_ENGINES: dict[str, Engine] = {}  # a cache filled on first use, never at import


def get_engine(url: str | None = None) -> Engine:
    """The engine for `url` (default: the configured database), built once per URL."""
    url = normalise_url(url) if url else get_settings().resolved_database_url()
    if url not in _ENGINES:
        _ENGINES[url] = _build_engine(url)
    return _ENGINES[url]


def reset_engines(*, keep: Collection[str] = ()) -> None:
    """Close every cached engine's connections and forget the engines, except those for the URLs in `keep`
    (tests and forked workers call this).

    A kept engine opens new connections on next use and keeps its compiled-statement cache: a test suite that
    reuses one URL for test after test compiles each statement once, not once per test."""
    kept = {normalise_url(url) for url in keep}
    for url, engine in list(_ENGINES.items()):
        engine.dispose()
        if url not in kept:
            del _ENGINES[url]


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
