"""notification: reminders with no recipient yet are kept (status 'unaddressed', the role they wait for)

A rung whose role had no contact (a region without an escalation contact, say) was skipped without a
trace. Now it is a row that the outbox lists and that `smartcity contacts add` addresses.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("role", sa.String(length=16), nullable=True))
        batch.alter_column("contact_id", existing_type=sa.Integer(), nullable=True)
        batch.create_index("ix_notification_unaddressed", ["status", "role"])


def downgrade() -> None:
    op.execute("DELETE FROM notification WHERE contact_id IS NULL")
    with op.batch_alter_table("notification") as batch:
        batch.drop_index("ix_notification_unaddressed")
        batch.alter_column("contact_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("role")
