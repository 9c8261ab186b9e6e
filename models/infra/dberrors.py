"""Database failures said in one line, with what to do about them, instead of a driver's traceback."""

from __future__ import annotations

import re

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url


def masked(url: str) -> str:
    """The URL with its password hidden (the only form a URL is ever shown in)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "(unparseable URL)"


def describe(error: BaseException, url: str) -> str | None:
    """One line for a failure to reach or use the database at `url`; None when `error` is something else."""
    where = masked(url)
    text = str(getattr(error, "orig", None) or error)
    if isinstance(error, sa_exc.ArgumentError) and "URL" in str(error):
        shown = repr(url) if "@" not in url else "(not shown: it may hold a password)"
        return (
            f"SMARTCITY_DATABASE_URL {shown} is not a database URL: give e.g. "
            "postgresql://user@host/db or sqlite:////path/smartcity.db"
        )
    if isinstance(error, sa_exc.NoSuchModuleError) or (
        isinstance(error, ModuleNotFoundError) and where.split(":", 1)[0] not in ("sqlite", "postgresql")
    ):
        return f"database {where}: this kind of database is not supported; use PostgreSQL or SQLite"
    if not isinstance(error, sa_exc.OperationalError | sa_exc.ProgrammingError):
        return None
    if re.search(r"no such table|relation \"[^\"]+\" does not exist|UndefinedTable", text):
        return f"database {where} has no tables yet: run `smartcity init`"
    if (missing := re.search(r"database \"([^\"]+)\" does not exist", text)) is not None:
        return (
            f"database {missing.group(1)!r} does not exist on that server ({where}): create it, "
            "or fix SMARTCITY_DATABASE_URL"
        )
    if re.search(
        r"connection refused|could not connect|Connection refused|timeout expired|"
        r"could not translate host name|Name or service not known",
        text,
    ):
        return f"cannot reach the database server at {where}: is it running? (SMARTCITY_DATABASE_URL)"
    if "unable to open database file" in text:
        return f"cannot open the SQLite file of {where}: check that its folder exists and is writable"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"database {where}: {first}"
