"""event outbox: a unique dedupe key per database, and random event ids

Two databases that share one Prefect server (a reset, a staging copy) produced the same derived
event ids, and the server dropped the second database's events as repeats.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event_outbox") as batch:
        batch.add_column(sa.Column("dedupe_key", sa.String(length=300), nullable=True))
    op.execute("UPDATE event_outbox SET dedupe_key = event_id WHERE dedupe_key IS NULL")
    with op.batch_alter_table("event_outbox") as batch:
        batch.alter_column("dedupe_key", existing_type=sa.String(length=300), nullable=False)
        batch.create_unique_constraint("uq_event_outbox_dedupe_key", ["dedupe_key"])


def downgrade() -> None:
    with op.batch_alter_table("event_outbox") as batch:
        batch.drop_constraint("uq_event_outbox_dedupe_key", type_="unique")
        batch.drop_column("dedupe_key")
