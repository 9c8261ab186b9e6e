"""quick wins: details, KPIs, evidence, verification checklist

Revision ID: 0005
Revises: (see down_revision)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # quick_win exists since 0001: add columns (batch mode rebuilds the table on SQLite).
    with op.batch_alter_table("quick_win", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.String(length=4000), nullable=True))
        batch_op.add_column(sa.Column("dimension", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("budget_idr", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("start_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("registered_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("verification_checklist", sa.JSON(), nullable=True))
        batch_op.create_check_constraint("ck_quick_win_budget_nonneg", "budget_idr >= 0")

    op.create_table(
        "quick_win_kpi",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quick_win_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=50), nullable=False),
        sa.Column("target", sa.Float(), nullable=False),
        sa.Column("actual", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["quick_win_id"], ["quick_win.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("quick_win_id", "name", name="uq_quick_win_kpi_name"),
    )
    with op.batch_alter_table("quick_win_kpi", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quick_win_kpi_quick_win_id"), ["quick_win_id"], unique=False)

    op.create_table(
        "quick_win_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quick_win_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("location", sa.String(length=2000), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("provided_sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["quick_win_id"], ["quick_win.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("quick_win_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quick_win_evidence_quick_win_id"), ["quick_win_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quick_win_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quick_win_evidence_quick_win_id"))
    op.drop_table("quick_win_evidence")
    with op.batch_alter_table("quick_win_kpi", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quick_win_kpi_quick_win_id"))
    op.drop_table("quick_win_kpi")
    with op.batch_alter_table("quick_win", schema=None) as batch_op:
        batch_op.drop_constraint("ck_quick_win_budget_nonneg", type_="check")
        for column in (
            "verification_checklist",
            "registered_by",
            "registered_at",
            "start_date",
            "budget_idr",
            "dimension",
            "description",
        ):
            batch_op.drop_column(column)
