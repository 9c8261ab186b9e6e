"""Masterplan review tables: rounds (more to come with the reviews work)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.tables import utc_column


class MasterplanRound(SQLModel, table=True):
    """A review round of a submitted masterplan version (filled in by the reviews work)."""

    __tablename__ = "masterplan_round"
    __table_args__ = (sa.UniqueConstraint("enrollment_id", "round_no", name="uq_round_enrollment_no"),)
    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    round_no: int
    status: str = Field(default="open", max_length=24)  # open | approved | revision_requested
    submitted_at: datetime = utc_column()
    closed_at: datetime | None = utc_column(nullable=True)
