"""Schema migrations with Alembic, callable from the CLI and the tests."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from smartcity.models import MIGRATIONS_DIR
from smartcity.models.infra.settings import get_settings, normalise_url

MIGRATIONS = MIGRATIONS_DIR


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url) if url else get_settings().resolved_database_url())
    return cfg


def upgrade(url: str | None = None, revision: str = "heads") -> None:
    """Create or upgrade the database to `revision`."""
    command.upgrade(alembic_config(url), revision)


def current_heads() -> list[str]:
    """The head revision(s) the code expects."""
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
