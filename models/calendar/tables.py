"""A cohort's calendar: its dated events (MoU signing, bimtek, masterplan evaluation), one row per event."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from smartcity.models.core.tables import utc_column


class CalendarEvent(SQLModel, table=True):
    """One dated event of a cohort, as imported from a calendar file (`program_calendar.csv`).

    Deadlines and milestones of the cohort's program may fall on an event's first or last day; a changed
    date moves the open ones (see `smartcity.models.calendar.ops.import_calendar`)."""

    __tablename__ = "calendar_event"
    __table_args__ = (
        # The unique index also serves every lookup by cohort (its first column).
        sa.UniqueConstraint("cohort_id", "event", name="uq_calendar_event_cohort_event"),
        sa.CheckConstraint("end_date >= start_date", name="ck_calendar_event_dates"),
    )
    id: int | None = Field(default=None, primary_key=True)
    cohort_id: int = Field(foreign_key="cohort.id")
    event: str = Field(max_length=64)  # mou_signed, bimtek, masterplan_evaluation, ...
    start_date: date
    end_date: date  # the same day for a one-day event
    place: str | None = Field(default=None, max_length=300)
    confidence: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, sa_type=sa.Text)
    note: str | None = Field(default=None, sa_type=sa.Text)
    updated_at: datetime = utc_column()
    updated_by: str = Field(max_length=200)
