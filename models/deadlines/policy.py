"""Deadline policy as data (rules, milestones, reminder ladder) plus pure due-date arithmetic.

All offsets are Indonesian working days (see ``smartcity.models.deadlines.workdays``). All datetimes
crossing this module's boundary are timezone-aware; results are stdlib datetimes in UTC.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smartcity.models import POLICIES_DIR
from smartcity.models.deadlines.workdays import add_working_days, local_at, zone_abbrev
from smartcity.models.vocabulary import Role

__all__ = [
    "DEFAULT_POLICY_PATH",
    "DUE_HOUR",
    "SEND_HOUR",
    "DeadlinePolicy",
    "DeadlineRule",
    "Milestone",
    "ReminderRung",
    "Role",
    "Title",
    "compute_due",
    "default_policy",
    "due_rungs",
    "extend_due",
    "rung_key",
    "rung_send_at",
]

DEFAULT_POLICY_PATH = POLICIES_DIR / "deadlines_default.toml"
SEND_HOUR = 8  # reminders at 08:00 local: start of the working day, never at night
DUE_HOUR = 17  # deadlines at 17:00 local: office close on the due working day
_STAGE = r"^[a-z][a-z0-9_]*$"
_KEY = r"^[a-z0-9][a-z0-9_-]*$"


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


class DeadlineRule(_Frozen):
    """Something is due ``working_days`` after a case enters ``stage``."""

    stage: str = Field(pattern=_STAGE)
    working_days: int = Field(ge=1)
    description: str = ""


class Title(_Frozen):
    """Bilingual title: Bahasa Indonesia (``id``) and English (``en``)."""

    id: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Milestone(_Frozen):
    """An intermediate event ``working_days`` after the start of ``stage`` (e.g. a bimtek)."""

    key: str = Field(pattern=_KEY)
    title: Title
    stage: str = Field(pattern=_STAGE)
    working_days: int = Field(ge=0)


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
        for what, vals in (
            ("rule stage", [r.stage for r in self.rules]),
            ("milestone key", [m.key for m in self.milestones]),
            ("ladder key", [r.key for r in self.ladder]),
        ):
            if dup := _dupes(vals):
                raise ValueError(f"duplicate {what}: {', '.join(dup)}")
        limits = {r.stage: r.working_days for r in self.rules}
        for m in self.milestones:
            # A milestone meant to prepare a deliverable must fall before its deadline.
            if m.stage in limits and m.working_days >= limits[m.stage]:
                raise ValueError(
                    f"milestone {m.key!r} at {m.working_days} working days is not before "
                    f"the {m.stage!r} deadline ({limits[m.stage]})"
                )
        return self

    def rule_for(self, stage: str) -> DeadlineRule | None:
        """Return the due rule for ``stage``, or None if the stage has no deadline."""
        return next((r for r in self.rules if r.stage == stage), None)

    def milestones_for(self, stage: str) -> list[Milestone]:
        """Return the milestones of ``stage`` ordered by offset."""
        return sorted((m for m in self.milestones if m.stage == stage), key=lambda m: m.working_days)

    def due_for(self, stage: str, start_utc: datetime, tz: str) -> datetime | None:
        """Due instant (UTC) for a case that entered ``stage`` at ``start_utc``; None if no rule."""
        rule = self.rule_for(stage)
        return None if rule is None else compute_due(start_utc, tz, rule.working_days, self.due_hour)

    @classmethod
    def from_toml_text(cls, text: str, source: str = "<string>") -> DeadlinePolicy:
        """Parse and validate a policy from TOML text; errors are a one-line ValueError."""
        try:
            return cls.model_validate(tomllib.loads(text))
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"invalid deadline policy {source}: TOML syntax error: {e}") from None
        except ValidationError as e:
            raise ValueError(f"invalid deadline policy {source}: {_one_line(e)}") from None

    @classmethod
    def from_toml(cls, path: str | Path) -> DeadlinePolicy:
        """Load and validate a policy from a TOML file; errors are a one-line ValueError."""
        path = Path(path)
        return cls.from_toml_text(path.read_text(encoding="utf-8"), source=str(path))


def _one_line(e: ValidationError) -> str:
    # Pydantic's default message spans many lines; report the first problem compactly.
    errs = e.errors(include_url=False)
    first = errs[0]
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (+{len(errs) - 1} more error(s))" if len(errs) > 1 else ""
    return f"{loc + ': ' if loc else ''}{msg}{more}".replace("\n", " ")


@lru_cache(maxsize=1)
def default_policy() -> DeadlinePolicy:
    """Return the shipped default policy (policies/deadlines_default.toml), cached and immutable."""
    return DeadlinePolicy.from_toml(DEFAULT_POLICY_PATH)


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
