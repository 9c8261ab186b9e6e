"""A cohort's calendar: its dated events imported from a file like `program_calendar.csv`, and read back.

A file has the columns cohort,event,start,end,place,confidence,source,note. It may hold several cohorts;
an import takes the rows of one (a row for `2017+2018` belongs to both). Every row of the file is checked and
every bad one reported with its line, and nothing is written unless all are good. Deadlines and milestones
on an event fall on its date; an import that adds an event or re-dates one (that needs a reason) moves the
open ones with it (`smartcity.models.deadlines.ops.follow_calendar`). Events not in the file are kept.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlmodel import Session, col, select

from smartcity.models.calendar.dates import event_dates
from smartcity.models.calendar.tables import CalendarEvent
from smartcity.models.core import audit
from smartcity.models.core.datetext import no_such_day
from smartcity.models.core.errors import BadInput, NotFound
from smartcity.models.core.tables import Cohort, Enrollment, Region
from smartcity.models.deadlines.ops import cohort_policy, follow_calendar
from smartcity.models.deadlines.policy import EVENT_NAME, EventDates
from smartcity.models.deadlines.workdays import local_at, zone_abbrev
from smartcity.models.infra.csvfile import read_csv_text
from smartcity.models.infra.db import row_id

__all__ = ["CalendarImport", "CalendarRow", "calendar_of", "event_dates", "event_started", "import_calendar"]

COLUMNS = ("cohort", "event", "start", "end", "place", "confidence", "source", "note")
REQUIRED = ("cohort", "event", "start")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
YEARS = (2000, 2100)  # the years a cohort may have (core/program.py)


class CalendarRow(BaseModel):
    """One row of a calendar file; `cohort` may join several cohorts with '+' ("2017+2018")."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cohort: tuple[str, ...]
    event: str
    start: date
    end: date | None = None  # blank: a one-day event
    place: str | None = Field(default=None, max_length=300)
    confidence: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=4000)
    note: str | None = Field(default=None, max_length=4000)

    @field_validator("cohort", mode="before")
    @classmethod
    def _cohorts(cls, raw: object) -> tuple[str, ...]:
        parts = tuple(p.strip() for p in str(raw).split("+"))
        if not all(parts):
            raise ValueError(f"cohort {raw!r}: name one cohort, or several joined by '+' (2017+2018)")
        return parts

    @field_validator("event")
    @classmethod
    def _event_name(cls, event: str) -> str:
        if not re.match(EVENT_NAME, event) or len(event) > 64:
            raise ValueError(f"{event!r} is not a name of lower-case letters, digits and _ (like mou_signed)")
        return event

    @field_validator("start", "end", mode="before")
    @classmethod
    def _iso_date(cls, raw: object) -> date:
        # Strict: pydantic alone would also take a number as a Unix time, or 2017-5-2.
        text = str(raw)
        if not _ISO_DATE.match(text):
            raise ValueError(f"{text!r} is not a date written YYYY-MM-DD")
        if wrong := no_such_day(text):
            raise ValueError(wrong)
        day = date.fromisoformat(text)
        if not YEARS[0] <= day.year <= YEARS[1]:
            raise ValueError(f"{text} is outside the years {YEARS[0]}-{YEARS[1]}")
        return day

    @model_validator(mode="after")
    def _in_order(self) -> CalendarRow:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    @property
    def dates(self) -> EventDates:
        """(first day, last day)."""
        return self.start, self.end or self.start

    def details(self) -> dict[str, str | None]:
        """What the calendar keeps besides the dates."""
        return {"place": self.place, "confidence": self.confidence, "source": self.source, "note": self.note}


@dataclass
class CalendarImport:
    """What an import did: events by what happened to them, and the deadlines that moved or opened."""

    cohort: str
    added: list[str] = field(default_factory=list)
    redated: list[str] = field(default_factory=list)  # a start or end date changed
    updated: list[str] = field(default_factory=list)  # only place, confidence, source or note changed
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # in the calendar, not in the file: left as they were
    deadlines: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for --json."""
        return asdict(self)


# --- reading a file ----------------------------------------------------------------------------------

#: Stands for the cells past the header's columns (a stray comma: the row's columns are shifted).
_EXTRA = "\x00extra"


def read_calendar(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line where the row starts, its cells by column) for each non-blank row of a calendar file."""
    text = read_csv_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    if missing := [c for c in REQUIRED if c not in header]:
        raise BadInput(
            f"{path.name}: missing column(s) {', '.join(missing)} (need {','.join(COLUMNS)}), nothing imported",
            [f"line 1: header {','.join(header)!r} lacks {', '.join(missing)}"],
        )
    out: list[tuple[int, dict[str, str]]] = []
    while True:
        line = reader.line_num + 1  # a quoted cell may span lines: a row is where it starts
        try:
            cells = next(reader)
        except StopIteration:
            return out
        except csv.Error as exc:
            raise BadInput(f"{path.name}: line {line}: {exc}, nothing imported") from None
        if cells:  # a blank line is no row
            row = dict(zip(header, cells, strict=False))
            out.append((line, row | {_EXTRA: "yes"} if len(cells) > len(header) else row))


def parse_calendar(numbered: Iterable[tuple[int, Mapping[str, Any]]], source: str) -> list[tuple[int, CalendarRow]]:
    """Every row checked: BadInput listing each bad line (and each event given twice for a cohort), or all rows."""
    rows: list[tuple[int, CalendarRow]] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for line, cells in numbered:
        if _EXTRA in cells or None in cells:  # csv.DictReader keeps cells past the header under None
            errors.append(f"line {line}: more fields than the header")
            continue
        values = {k: str(v).strip() for k, v in cells.items() if v is not None and str(v).strip()}
        try:
            row = CalendarRow.model_validate(values)
        except ValidationError as exc:
            errors += [f"line {line}: {_problem(e)}" for e in exc.errors(include_url=False)]
            continue
        for cohort in row.cohort:
            if (first := seen.setdefault((cohort, row.event), line)) != line:
                errors.append(f"line {line}: duplicate event {row.event} for cohort {cohort} (first on line {first})")
        rows.append((line, row))
    if errors:
        raise BadInput(f"{source}: {len(errors)} error(s), nothing imported", errors)
    if not rows:
        raise BadInput(f"{source}: no data rows, nothing imported", ["line 2: no data rows after the header"])
    return rows


def _problem(error: Any) -> str:
    """A pydantic error in the importer's words: 'missing start', 'end 2017-05-01 is before start ...'."""
    where = ".".join(str(p) for p in error["loc"])
    if error["type"] == "missing":
        return f"missing {where}"
    message = str(error.get("ctx", {}).get("error", error["msg"])) if error["type"] == "value_error" else error["msg"]
    return f"{where}: {message}" if where else message


def rows_of(cohort: Cohort, rows: list[tuple[int, CalendarRow]], source: str) -> list[CalendarRow]:
    """The rows that name the cohort, by its name or its year; BadInput when none does."""
    mine = [r for _, r in rows if cohort.name in r.cohort or str(cohort.year) in r.cohort]
    if not mine:
        named = sorted({c for _, r in rows for c in r.cohort})
        raise BadInput(
            f"{source}: no rows for cohort {cohort.name} (the file has {', '.join(named)}), nothing imported"
        )
    return mine


# --- importing ---------------------------------------------------------------------------------------


def import_calendar(
    *,
    session: Session,
    cohort: str,
    actor: str,
    now: datetime,
    path: Path | None = None,
    rows: Iterable[Mapping[str, Any]] | None = None,
    reason: str | None = None,
    source: str | None = None,
) -> CalendarImport:
    """Import the cohort's events from `path` (or `rows`, as csv.DictReader gives them: line 2 is the first),
    all or nothing, audited; a changed date needs `reason`, and moves the open deadlines on the event."""
    who, why = audit.actor_name(actor), _reason(reason)
    target = session.exec(select(Cohort).where(Cohort.name == cohort.strip())).first()
    if target is None:
        raise NotFound(f"cohort {cohort!r} does not exist (see `smartcity cohort list`)")
    if (path is None) == (rows is None):
        raise BadInput("give either a calendar file or rows")
    source = source or (path.name if path is not None else "calendar rows")
    numbered = read_calendar(path) if path is not None else enumerate(rows or [], start=2)
    mine = rows_of(target, parse_calendar(numbered, source), source)
    existing = {e.event: e for e in session.exec(select(CalendarEvent).where(CalendarEvent.cohort_id == target.id))}
    result = _compare(target.name, mine, existing)
    if result.redated and why is None:
        raise BadInput(
            f"cohort {target.name}: the file changes dates ({_redating(mine, existing)}): give --reason (the open "
            "deadlines and milestones on a changed event move with it)"
        )
    if not (result.added or result.redated or result.updated):
        return result  # the calendar already says all this: nothing to write or audit
    content = _changes(target, source, result, mine, existing, why)
    _write(session, row_id(target), mine, existing, who, now)
    audit.record(
        session, kind="calendar_imported", subject=f"cohort {target.name} calendar", actor=who, at=now, content=content
    )
    why = why or f"calendar of cohort {target.name}: {', '.join(result.added)} added"
    events = result.added + result.redated
    result.deadlines = follow_calendar(session, cohort_id=row_id(target), events=events, reason=why, actor=who, now=now)
    return result


def _reason(reason: str | None) -> str | None:
    """The stripped reason (None when blank); BadInput when it is too long or not printable."""
    text = (reason or "").strip()
    if len(text) > 2000 or any(not c.isprintable() for c in text):
        raise BadInput("--reason must be at most 2000 printable characters")
    return text or None


def _compare(name: str, rows: list[CalendarRow], existing: dict[str, CalendarEvent]) -> CalendarImport:
    """Sort the file's events by what importing them changes."""
    result = CalendarImport(cohort=name)
    for r in rows:
        had = existing.get(r.event)
        if had is None:
            result.added.append(r.event)
        elif (had.start_date, had.end_date) != r.dates:
            result.redated.append(r.event)
        elif _details(had) != r.details():
            result.updated.append(r.event)
        else:
            result.unchanged.append(r.event)
    result.kept = sorted(set(existing) - {r.event for r in rows})
    return result


def _details(e: CalendarEvent) -> dict[str, str | None]:
    return {"place": e.place, "confidence": e.confidence, "source": e.source, "note": e.note}


def _span(first: date, last: date) -> str:
    return first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"


def _redating(rows: list[CalendarRow], existing: dict[str, CalendarEvent]) -> str:
    """'mou_signed 2017-05-22 -> 2017-05-23, ...' for each event whose dates change."""
    return ", ".join(
        f"{r.event} {_span(e.start_date, e.end_date)} -> {_span(*r.dates)}"
        for r in rows
        if (e := existing.get(r.event)) is not None and (e.start_date, e.end_date) != r.dates
    )


def _changes(
    cohort: Cohort,
    source: str,
    result: CalendarImport,
    rows: list[CalendarRow],
    existing: dict[str, CalendarEvent],
    reason: str | None,
) -> dict[str, Any]:
    """The audit record's content: the events added (with dates), re-dated (old and new) and updated."""
    by_event = {r.event: r for r in rows}
    return {
        "cohort_id": cohort.id,
        "source": source,
        "added": {e: [d.isoformat() for d in by_event[e].dates] for e in result.added},
        "redated": {
            e: {
                "old": [existing[e].start_date.isoformat(), existing[e].end_date.isoformat()],
                "new": [d.isoformat() for d in by_event[e].dates],
            }
            for e in result.redated
        },
        "updated": result.updated,
        "reason": reason,
    }


def _write(
    session: Session,
    cohort_id: int,
    rows: list[CalendarRow],
    existing: dict[str, CalendarEvent],
    who: str,
    now: datetime,
) -> None:
    """Insert the new events and overwrite the others with the file's values."""
    for r in rows:
        e = existing.get(r.event) or CalendarEvent(
            cohort_id=cohort_id, event=r.event, start_date=r.start, end_date=r.start, updated_at=now, updated_by=who
        )
        e.start_date, e.end_date = r.dates
        e.place, e.confidence, e.source, e.note = r.place, r.confidence, r.source, r.note
        e.updated_at, e.updated_by = now, who
        session.add(e)
    session.flush()


# --- reading -----------------------------------------------------------------------------------------


def calendar_of(session: Session, cohort: str) -> list[dict[str, Any]]:
    """The cohort's events by date, each with the deadlines and milestones of its program that fall on it."""
    target = session.exec(select(Cohort).where(Cohort.name == cohort.strip())).first()
    if target is None:
        raise NotFound(f"cohort {cohort!r} does not exist (see `smartcity cohort list`)")
    policy = cohort_policy(session, row_id(target))
    rows = session.exec(
        select(CalendarEvent)
        .where(CalendarEvent.cohort_id == target.id)
        .order_by(col(CalendarEvent.start_date), col(CalendarEvent.event))
    ).all()
    return [
        {
            "event": e.event,
            "start": e.start_date.isoformat(),
            "end": e.end_date.isoformat(),
            **_details(e),
            "deadlines": [t.deadline_key for t in policy.on_event(e.event)],
            "updated_by": e.updated_by,
            "updated_at": e.updated_at.isoformat(),
        }
        for e in rows
    ]


def event_started(session: Session, *, enrollment: Enrollment, event: str, now: datetime) -> str | None:
    """None once the cohort's event `event` has begun (its first day, 00:00 in the region's zone), else why not."""
    cohort = session.get(Cohort, enrollment.cohort_id)
    name = cohort.name if cohort else str(enrollment.cohort_id)
    dates = event_dates(session, cohort_id=enrollment.cohort_id).get(event)
    if dates is None:
        return f"cohort {name} has no calendar event {event} (`smartcity cohort calendar import {name} FILE`)"
    region = session.get(Region, enrollment.region_id)
    tz = region.timezone if region else "Asia/Jakarta"
    if now < local_at(dates[0], tz, 0):
        return f"{event} of cohort {name} begins {dates[0].isoformat()} (00:00 {zone_abbrev(tz)})"
    return None
