"""Indicator values used for cohort selection, versioned by year and source."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from smartcity.models.core.tables import utc_column


class IndicatorValue(SQLModel, table=True):
    """One region's value of one indicator for one year, as given by one source.

    Re-importing the same (region, indicator, year, source) updates the value; another year or
    another source is another row, so earlier figures stay available for audits and replays.
    """

    __tablename__ = "indicator_value"
    __table_args__ = (
        sa.UniqueConstraint("region_id", "indicator", "year", "source", name="uq_indicator_value_version"),
        sa.Index("ix_indicator_value_indicator_year", "indicator", "year"),
    )
    id: int | None = Field(default=None, primary_key=True)
    region_id: int = Field(foreign_key="region.id", index=True)
    indicator: str = Field(max_length=64)
    value: float
    year: int
    source: str = Field(max_length=200)
    imported_at: datetime = utc_column()
