"""corrections: a contact can be deactivated (kept for the audit trail), a reviewer unassigned from a round

A contact removed by a coordinator stays in the database (`active` false) so that the messages sent to
it still name it; a reviewer who declares a conflict after assignment, or leaves the pool, is unassigned
from the open round (`unassigned_at`), and their answer no longer counts toward its quorum.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact") as batch:
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table("review_assignment") as batch:
        batch.add_column(sa.Column("unassigned_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review_assignment") as batch:
        batch.drop_column("unassigned_at")
    with op.batch_alter_table("contact") as batch:
        batch.drop_column("active")
