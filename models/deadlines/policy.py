"""Deadline policy as data (rules, milestones, reminder ladder) plus pure due-date arithmetic.

A rule or milestone falls ``working_days`` Indonesian working days (see ``smartcity.models.deadlines.workdays``)
after a region enters its stage, or on a named event of the cohort's calendar (its first or last day), or on
the event with the working days as the fallback when the cohort's calendar lacks it. The policy is the
``[deadlines]`` table of a program definition (``smartcity.models.programs``). All datetimes crossing this
module's boundary are timezone-aware; results are stdlib datetimes in UTC.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from smartcity.models import PACKAGE_DIR
from smartcity.models.deadlines.workdays import add_working_days, local_at, zone_abbrev
from smartcity.models.vocabulary import DeadlineKind, Role

__all__ = [
    "DUE_HOUR",
    "SEND_HOUR",
    "DeadlinePolicy",
    "DeadlineRule",
    "EventDates",
    "Milestone",
    "ReminderRung",
    "Role",
    "Title",
    "compute_due",
    "default_policy",
    "due_of",
    "due_on_day",
    "due_rungs",
    "extend_due",
    "rung_key",
    "rung_send_at",
]

#: The shipped default program, whose `[deadlines]` table is the default policy.
DEFAULT_PROGRAM_FILE = PACKAGE_DIR / "programs" / "default.toml"
SEND_HOUR = 8  # reminders at 08:00 local: start of the working day, never at night
DUE_HOUR = 17  # deadlines at 17:00 local: office close on the due working day
_STAGE = r"^[a-z][a-z0-9_]*$"
_KEY = r"^[a-z0-9][a-z0-9_-]*$"
#: A calendar event's name, as the cohort's calendar file spells it (mou_signed, masterplan_evaluation).
EVENT_NAME = r"^[a-z][a-z0-9_]*$"
#: The first and last day of a calendar event (the same day for a one-day event).
EventDates = tuple[date, date]


def _ladder_role(role: Role) -> Role:
    # Reviewers are reached through a review deadline's `pic` recipient, never named on the ladder.
    if role == Role.reviewer:
        raise ValueError("a ladder names pic, coordinator or escalation (a review deadline's pic is its reviewer)")
    return role


#: A recipient of a reminder rung: any contact role but reviewer.
LadderRole = Annotated[Role, AfterValidator(_ladder_role)]


class _Frozen(BaseModel):
    # Frozen + extra=forbid: a typo in the TOML is an error, and the shared default is immutable.
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Timed(_Frozen):
    """When something falls due: ``working_days`` after the stage starts, on a calendar ``event``, or both
    (the event's date when the cohort's calendar has the event, the working days when it lacks it)."""

    working_days: int | None = None
    event: str | None = Field(default=None, pattern=EVENT_NAME, max_length=64)
    event_day: Literal["start", "end"] = "start"  # which day of a several-day event (bimtek: Jul-Oct)

    @model_validator(mode="after")
    def _has_a_time(self) -> _Timed:
        if self.working_days is None and self.event is None:
            raise ValueError("give working_days, a calendar event, or both (the event first, the days as fallback)")
        return self

    def day_of(self, events: Mapping[str, EventDates] | None) -> date | None:
        """The calendar day this falls on, when it names an event the calendar has; else None."""
        dates = (events or {}).get(self.event) if self.event else None
        if dates is None:
            return None
        return dates[0] if self.event_day == "start" else dates[1]


class DeadlineRule(_Timed):
    """A stage's deliverable, due ``working_days`` after a case enters ``stage`` or on a calendar event.

    ``key`` names the deadline (``masterplan``); without one it is called after its stage."""

    stage: str = Field(pattern=_STAGE)
    key: str | None = Field(default=None, pattern=_KEY, max_length=64)
    working_days: int | None = Field(default=None, ge=1)
    description: str = ""

    @property
    def deadline_key(self) -> str:
        """The key of the deadline this rule opens."""
        return self.key or self.stage


class Title(_Frozen):
    """Bilingual title: Bahasa Indonesia (``id``) and English (``en``)."""

    id: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Milestone(_Timed):
    """An intermediate event (e.g. a bimtek) ``working_days`` after the start of ``stage``, or on a calendar event."""

    key: str = Field(pattern=_KEY, max_length=64)
    title: Title
    stage: str = Field(pattern=_STAGE)
    working_days: int | None = Field(default=None, ge=0)

    @property
    def deadline_key(self) -> str:
        """The key of the deadline this milestone opens."""
        return self.key


def rung_key(offset: int) -> str:
    """Canonical rung key for a signed working-day offset: 'T-14', 'due', '+1'."""
    if offset == 0:
        return "due"
    return f"T{offset}" if offset < 0 else f"+{offset}"


class ReminderRung(_Frozen):
    """One reminder: sent ``offset`` working days from the due date to ``recipients``."""

    key: str
    offset: int
    recipients: tuple[LadderRole, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _key_matches_offset(self) -> ReminderRung:
        # The key is used as an idempotency key downstream, so it must agree with the offset.
        if self.key != rung_key(self.offset):
            raise ValueError(
                f"rung key {self.key!r} does not match offset {self.offset} (expected {rung_key(self.offset)!r})"
            )
        return self


def _dupes(values: list[str]) -> list[str]:
    return sorted({v for v in values if values.count(v) > 1})


class DeadlinePolicy(_Frozen):
    """Complete deadline policy: due rules, milestones, reminder ladder and local hours."""

    rules: tuple[DeadlineRule, ...]
    milestones: tuple[Milestone, ...] = ()
    ladder: tuple[ReminderRung, ...]
    send_hour: int = Field(default=SEND_HOUR, ge=0, le=23)
    due_hour: int = Field(default=DUE_HOUR, ge=0, le=23)

    @field_validator("ladder")
    @classmethod
    def _sort_ladder(cls, v: tuple[ReminderRung, ...]) -> tuple[ReminderRung, ...]:
        # Sweeps rely on ladder order == chronological order, whatever order the file uses.
        return tuple(sorted(v, key=lambda r: r.offset))

    @model_validator(mode="after")
    def _consistent(self) -> DeadlinePolicy:
        stage_rules = [r for r in self.rules if r.stage != DeadlineKind.review]
        for what, vals in (
            ("rule stage", [r.stage for r in self.rules]),
            # A region's deadlines are found by key (`deadline extend 3273 masterplan`): one key, one deadline.
            ("deadline key", [r.deadline_key for r in stage_rules] + [m.key for m in self.milestones]),
            ("ladder key", [r.key for r in self.ladder]),
        ):
            if dup := _dupes(vals):
                raise ValueError(f"duplicate {what}: {', '.join(dup)}")
        review = self.rule_for(DeadlineKind.review)
        if review is not None and (review.event is not None or review.working_days is None):
            raise ValueError("the review rule counts working days from each assignment: no calendar event")
        # Only offsets can be compared here; a calendar date is known once the cohort's calendar is.
        limits = {r.stage: r.working_days for r in self.rules if r.event is None and r.working_days is not None}
        for m in self.milestones:
            # A milestone meant to prepare a deliverable must fall before its deadline.
            if (
                m.event is None
                and m.working_days is not None
                and m.stage in limits
                and m.working_days >= limits[m.stage]
            ):
                raise ValueError(
                    f"milestone {m.key!r} at {m.working_days} working days is not before "
                    f"the {m.stage!r} deadline ({limits[m.stage]})"
                )
        return self

    def rule_for(self, stage: str) -> DeadlineRule | None:
        """Return the due rule for ``stage``, or None if the stage has no deadline."""
        return next((r for r in self.rules if r.stage == stage), None)

    def milestones_for(self, stage: str) -> list[Milestone]:
        """Return the milestones of ``stage`` ordered by offset (those only on a calendar event last)."""
        mine = [m for m in self.milestones if m.stage == stage]
        return sorted(mine, key=lambda m: (m.working_days is None, m.working_days or 0))

    def timed(self, kind: str, key: str) -> DeadlineRule | Milestone | None:
        """The rule (kind "stage") or milestone that opens a deadline called ``key``; None for any other."""
        if kind == DeadlineKind.stage:
            return next((r for r in self.rules if r.stage != DeadlineKind.review and r.deadline_key == key), None)
        if kind == DeadlineKind.milestone:
            return next((m for m in self.milestones if m.key == key), None)
        return None

    def on_event(self, event: str) -> list[DeadlineRule | Milestone]:
        """The rules and milestones that fall on calendar event ``event``."""
        timed: list[DeadlineRule | Milestone] = [*self.rules, *self.milestones]
        return [t for t in timed if t.event == event]

    def due_for(
        self, stage: str, start_utc: datetime, tz: str, events: Mapping[str, EventDates] | None = None
    ) -> datetime | None:
        """Due instant (UTC) for a case that entered ``stage`` at ``start_utc``; None if no rule (or a rule
        only on a calendar event that ``events``, the cohort's calendar, lacks)."""
        rule = self.rule_for(stage)
        return None if rule is None else due_of(rule, start_utc, tz, self.due_hour, events)


@lru_cache(maxsize=1)
def default_policy() -> DeadlinePolicy:
    """The shipped default program's deadline policy: the `[deadlines]` table of models/programs/default.toml,
    read once per process and immutable. A cohort runs its own program's policy (`program_of_cohort`)."""
    # Read here rather than through the program loader, whose definition embeds this module's DeadlinePolicy
    # (no import cycle); it is the same table of the same file that `shipped().deadlines` holds.
    with DEFAULT_PROGRAM_FILE.open("rb") as fh:
        return DeadlinePolicy.model_validate(tomllib.load(fh)["deadlines"])


def _require_aware(dt: datetime, name: str) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _local(dt: datetime, tz: str) -> datetime:
    zone_abbrev(tz)  # the calendar is Indonesian: reject any non-Indonesian zone early
    return dt.astimezone(ZoneInfo(tz))


def _utc(dt: datetime) -> datetime:
    # Normalise pendulum results to plain stdlib datetimes: friendlier to DB drivers and pickling.
    u = dt.astimezone(UTC)
    return datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, UTC)


def compute_due(start_utc: datetime, tz: str, working_days: int, due_hour: int = DUE_HOUR) -> datetime:
    """Due instant (UTC): 17:00 local (office close) on the n-th working day after start's local date.

    Taking the *local* date matters: 16:30 UTC is still today in WIB but already tomorrow in WIT.
    """
    _require_aware(start_utc, "start_utc")
    due_date = add_working_days(_local(start_utc, tz).date(), working_days)
    return _utc(local_at(due_date, tz, due_hour))


def due_on_day(day: date, tz: str, due_hour: int = DUE_HOUR) -> datetime:
    """Due instant (UTC) on a calendar day: ``due_hour`` local time in the region's zone, whatever the weekday
    (a national event's date is real: it does not move to a working day)."""
    zone_abbrev(tz)
    return _utc(local_at(day, tz, due_hour))


def due_of(
    timed: DeadlineRule | Milestone,
    start_utc: datetime,
    tz: str,
    due_hour: int = DUE_HOUR,
    events: Mapping[str, EventDates] | None = None,
) -> datetime | None:
    """Due instant (UTC) of a rule or milestone for a case that entered its stage at ``start_utc``: on its
    calendar event's day when ``events`` (the cohort's calendar) has it, else ``working_days`` after start;
    None when it names only an event the calendar lacks (it opens once the calendar has the event)."""
    _require_aware(start_utc, "start_utc")
    day = timed.day_of(events)
    if day is not None:
        return due_on_day(day, tz, due_hour)
    if timed.working_days is None:
        return None
    return compute_due(start_utc, tz, timed.working_days, due_hour)


def rung_send_at(due_utc: datetime, tz: str, rung: ReminderRung, send_hour: int = SEND_HOUR) -> datetime:
    """Send instant (UTC) of a rung: 08:00 local on (due local date + rung.offset working days)."""
    _require_aware(due_utc, "due_utc")
    day = add_working_days(_local(due_utc, tz).date(), rung.offset)
    return _utc(local_at(day, tz, send_hour))


def due_rungs(
    due_utc: datetime,
    tz: str,
    ladder: tuple[ReminderRung, ...] | list[ReminderRung],
    now_utc: datetime,
    send_hour: int = SEND_HOUR,
) -> list[ReminderRung]:
    """Rungs whose send time is <= now, in ladder order (the sweep dedupes already-sent ones)."""
    _require_aware(now_utc, "now_utc")
    return [r for r in ladder if rung_send_at(due_utc, tz, r, send_hour) <= now_utc]


def extend_due(due_utc: datetime, tz: str, extra_working_days: int) -> datetime:
    """Push a due instant ``extra_working_days`` working days later, keeping its local wall time."""
    _require_aware(due_utc, "due_utc")
    if extra_working_days < 0:
        raise ValueError("extra_working_days must be >= 0 (an extension cannot shorten a deadline)")
    local = _local(due_utc, tz)
    day = add_working_days(local.date(), extra_working_days)
    return _utc(local_at(day, tz, local.hour, local.minute))
