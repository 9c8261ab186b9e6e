"""masterplan reviews: reviewer pool, conflicts, assignments, reviews; round details

Revision ID: 0003
Revises: (see down_revision)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("masterplan_round", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version_label", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("submitted_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("quorum", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decision_summary", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("comments", sa.JSON(), nullable=True))

    op.create_table(
        "reviewer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("institution", sa.String(length=200), nullable=False),
        sa.Column("expertise", sa.JSON(), nullable=False),
        sa.Column("home_province", sa.String(length=100), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "institution", name="uq_reviewer_name_institution"),
    )
    with op.batch_alter_table("reviewer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reviewer_home_province"), ["home_province"], unique=False)

    op.create_table(
        "reviewer_conflict",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["region_id"], ["region.id"]),
        sa.ForeignKeyConstraint(["reviewer_id"], ["reviewer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reviewer_id", "region_id", name="uq_conflict_reviewer_region"),
    )
    with op.batch_alter_table("reviewer_conflict", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reviewer_conflict_region_id"), ["region_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reviewer_conflict_reviewer_id"), ["reviewer_id"], unique=False)

    # Typed so the checker sees a list of columns, not `object`, in `*extra` below.
    child_tables: tuple[tuple[str, list[sa.Column], str], ...] = (
        (
            "review_assignment",
            [
                sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("why", sa.String(length=500), nullable=False),
            ],
            "uq_assignment_round_reviewer",
        ),
        (
            "review",
            [
                sa.Column("scores", sa.JSON(), nullable=False),
                sa.Column("decision", sa.String(length=10), nullable=False),
                sa.Column("comment", sa.String(length=2000), nullable=True),
                sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("source", sa.String(length=8), nullable=False),
            ],
            "uq_review_round_reviewer",
        ),
    )
    for table, extra, unique_name in child_tables:
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("round_id", sa.Integer(), nullable=False),
            sa.Column("reviewer_id", sa.Integer(), nullable=False),
            *extra,
            sa.ForeignKeyConstraint(["reviewer_id"], ["reviewer.id"]),
            sa.ForeignKeyConstraint(["round_id"], ["masterplan_round.id"]),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("round_id", "reviewer_id", name=unique_name),
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_reviewer_id"), ["reviewer_id"], unique=False)
            batch_op.create_index(batch_op.f(f"ix_{table}_round_id"), ["round_id"], unique=False)


def downgrade() -> None:
    for table in ("review", "review_assignment"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_round_id"))
            batch_op.drop_index(batch_op.f(f"ix_{table}_reviewer_id"))
        op.drop_table(table)
    with op.batch_alter_table("reviewer_conflict", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reviewer_conflict_reviewer_id"))
        batch_op.drop_index(batch_op.f("ix_reviewer_conflict_region_id"))
    op.drop_table("reviewer_conflict")
    with op.batch_alter_table("reviewer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reviewer_home_province"))
    op.drop_table("reviewer")
    with op.batch_alter_table("masterplan_round", schema=None) as batch_op:
        for column in ("comments", "decision_summary", "quorum", "submitted_by", "version_label"):
            batch_op.drop_column(column)
