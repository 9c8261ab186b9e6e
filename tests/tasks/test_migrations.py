"""Alembic migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import smartcity.models.infra.schema  # noqa: F401
from smartcity.models.infra.migrate import current_heads


def test_migrated_schema_matches_models(db_url):
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        versions = {r[0] for r in conn.execute(sa.text("select version_num from alembic_version"))}
    engine.dispose()
    assert diff == [], f"models and migrations differ (write a migration): {diff}"
    assert versions == set(current_heads())
