"""kpi direction: a quick-win KPI may be lower-is-better (a service time, a cost)

`quick_win_kpi.lower_is_better` is false for every existing row, which keeps their meaning: until now
every KPI was read as "reach the target".

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quick_win_kpi") as batch:
        batch.add_column(sa.Column("lower_is_better", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("quick_win_kpi") as batch:
        batch.drop_column("lower_is_better")
