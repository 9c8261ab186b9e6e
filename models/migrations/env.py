"""Alembic environment: the target schema is the SQLModel metadata of `smartcity.models.core.tables`."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import smartcity.models.infra.schema  # noqa: F401  (registers every table on SQLModel.metadata)
from smartcity.models.infra.db import get_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Run against the URL the caller put in the config (see smartcity.models.infra.migrate)."""
    url = config.get_main_option("sqlalchemy.url")
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    with get_engine(url).connect() as connection:
        _run(connection)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
