"""program definitions: each program row names the definition it runs

`program.definition` names a shipped definition ("default" for every existing row, which keeps today's
behaviour: the shipped default reproduces the stage machine, deadlines and selection policy that were code).
A program loaded from a file keeps that file's text and digest in `definition_source` / `definition_digest`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("program") as batch:
        batch.add_column(sa.Column("definition", sa.String(100), nullable=False, server_default="default"))
        batch.add_column(sa.Column("definition_source", sa.Text(), nullable=True))
        batch.add_column(sa.Column("definition_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("program") as batch:
        batch.drop_column("definition_digest")
        batch.drop_column("definition_source")
        batch.drop_column("definition")
