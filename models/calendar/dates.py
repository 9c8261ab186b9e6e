"""Looking up a cohort's event dates: what deadline arithmetic needs of the calendar, and nothing more
(`smartcity.models.deadlines.ops` reads it; `smartcity.models.calendar.ops`, which moves deadlines, imports that)."""

from __future__ import annotations

from sqlmodel import Session, select

from smartcity.models.calendar.tables import CalendarEvent
from smartcity.models.deadlines.policy import EventDates


def event_dates(session: Session, *, cohort_id: int) -> dict[str, EventDates]:
    """The cohort's events: name -> (first day, last day)."""
    rows = session.exec(select(CalendarEvent).where(CalendarEvent.cohort_id == cohort_id)).all()
    return {e.event: (e.start_date, e.end_date) for e in rows}
