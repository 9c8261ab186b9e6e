"""evaluation scores: the yearly implementation evaluation (monev), one row per region, year and dimension

A new table only: no existing row changes. Each score belongs to an enrollment (region and cohort), so a
region evaluated in two cohorts keeps both; UNIQUE(enrollment, year, dimension) makes a re-import idempotent.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluation_score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=True),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["enrollment_id"], ["enrollment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enrollment_id", "year", "dimension", name="uq_evaluation_score_key"),
        sa.CheckConstraint("score >= 0", name="ck_evaluation_score_nonneg"),
    )
    with op.batch_alter_table("evaluation_score") as batch:
        batch.create_index(batch.f("ix_evaluation_score_enrollment_id"), ["enrollment_id"], unique=False)
        batch.create_index(batch.f("ix_evaluation_score_year"), ["year"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evaluation_score") as batch:
        batch.drop_index(batch.f("ix_evaluation_score_year"))
        batch.drop_index(batch.f("ix_evaluation_score_enrollment_id"))
    op.drop_table("evaluation_score")
