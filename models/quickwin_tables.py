"""Quick-win tables (more to come with the quick-wins work)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.tables import utc_column


class QuickWin(SQLModel, table=True):
    """A region's quick-win program; the guard of quick_win_delivered needs one verified."""

    __tablename__ = "quick_win"
    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    title: str = Field(max_length=300)
    verified_at: datetime | None = utc_column(nullable=True)
    verified_by: str | None = Field(default=None, max_length=200)
