"""deadlines, extensions and the notification outbox

Revision ID: 0002
Revises: (see down_revision)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deadline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("next_rung", sa.String(length=8), nullable=True),
        sa.Column("next_rung_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["enrollment_id"], ["enrollment.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deadline_sweep", "deadline", ["status", "next_rung_at"], unique=False)
    op.create_index("ix_deadline_enrollment_key", "deadline", ["enrollment_id", "key"], unique=False)

    op.create_table(
        "deadline_extension",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deadline_id", sa.Integer(), nullable=False),
        sa.Column("old_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("new_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["deadline_id"], ["deadline.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deadline_extension_deadline_id", "deadline_extension", ["deadline_id"], unique=False)

    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("deadline_id", sa.Integer(), nullable=True),
        sa.Column("rung", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("send_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=36), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.ForeignKeyConstraint(["deadline_id"], ["deadline.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key", name="uq_notification_dedupe_key"),
    )
    op.create_index("ix_notification_dispatch", "notification", ["status", "send_after"], unique=False)
    op.create_index("ix_notification_deadline_id", "notification", ["deadline_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_notification_deadline_id", table_name="notification")
    op.drop_index("ix_notification_dispatch", table_name="notification")
    op.drop_table("notification")
    op.drop_index("ix_deadline_extension_deadline_id", table_name="deadline_extension")
    op.drop_table("deadline_extension")
    op.drop_index("ix_deadline_enrollment_key", table_name="deadline")
    op.drop_index("ix_deadline_sweep", table_name="deadline")
    op.drop_table("deadline")
