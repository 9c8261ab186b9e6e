"""indicator values for cohort selection

Revision ID: 0004
Revises: (see down_revision)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "indicator_value",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("indicator", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["region_id"], ["region.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("region_id", "indicator", "year", "source", name="uq_indicator_value_version"),
    )
    with op.batch_alter_table("indicator_value", schema=None) as batch_op:
        batch_op.create_index("ix_indicator_value_indicator_year", ["indicator", "year"], unique=False)
        batch_op.create_index(batch_op.f("ix_indicator_value_region_id"), ["region_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("indicator_value", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_indicator_value_region_id"))
        batch_op.drop_index("ix_indicator_value_indicator_year")
    op.drop_table("indicator_value")
