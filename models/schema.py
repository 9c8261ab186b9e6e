"""Imports every table module, so SQLModel.metadata (and Alembic) sees the whole schema."""

from models import deadline_tables, indicator_tables, quickwin_tables, review_tables, tables  # noqa: F401
