"""Deadlines of a region: opened when it enters a stage, extended with a reason, reminded on a ladder.

Each cohort runs its program's deadline policy (the definition's `[deadlines]` table); a deadline may fall
on an event of the cohort's calendar, and follows it when the calendar changes (`follow_calendar`).
No Prefect here. Times are UTC in the database; every rung is sent at 08:00 local time of the
recipient (the region's zone; Asia/Jakarta for coordinators without a region).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from smartcity.models.calendar.dates import EventDates, event_dates
from smartcity.models.core import audit
from smartcity.models.core.datetext import no_such_day
from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.errors import BadInput, DomainRefused, NotFound
from smartcity.models.core.tables import Cohort, Contact, Enrollment, Region
from smartcity.models.deadlines.policy import (
    DeadlinePolicy,
    DeadlineRule,
    Milestone,
    ReminderRung,
    compute_due,
    default_policy,
    due_of,
    due_on_day,
    extend_due,
)
from smartcity.models.deadlines.tables import Deadline, DeadlineExtension, Notification
from smartcity.models.deadlines.workdays import (
    add_working_days,
    format_local,
    is_working_day,
    local_at,
    working_days_between,
    zone,
)
from smartcity.models.infra.db import row_id, rows_matched
from smartcity.models.notifications.notices import (
    DigestSection,
    ReminderFacts,
    announcement_message,
    digest_message,
    format_local_long,
    item_title,
    lang_of,
    reminder_message,
    summary_message,
    when_phrase,
)
from smartcity.models.programs.definition import ProgramDefinition
from smartcity.models.programs.store import program_of_cohort
from smartcity.models.vocabulary import DeadlineKind, DeadlineStatus, NotificationStatus, Role

#: Coordinators have no region: they read their mail on Jakarta time.
COORDINATOR_TZ = "Asia/Jakarta"
SWEEP_BATCH = 500


def _policy(policy: DeadlinePolicy | None) -> DeadlinePolicy:
    """`policy`, else the shipped default's: only for callers that know no cohort (prefer `policy_of`)."""
    return policy or default_policy()


def cohort_policy(session: Session, cohort_id: int) -> DeadlinePolicy:
    """The deadline policy of the cohort's program, looked up once per session (a sweep asks per deadline;
    a cohort's program never changes under it)."""
    memo: dict[int, DeadlinePolicy] = session.info.setdefault("deadline_policies", {})
    if cohort_id not in memo:
        memo[cohort_id] = program_of_cohort(session, cohort_id).deadlines
    return memo[cohort_id]


def policy_of(session: Session, enrollment_id: int, policy: DeadlinePolicy | None = None) -> DeadlinePolicy:
    """`policy` when given (tests, benchmarks), else the policy of the enrollment's cohort."""
    if policy is not None:
        return policy
    enr = session.get(Enrollment, enrollment_id)
    if enr is None:
        raise NotFound(f"enrollment {enrollment_id} does not exist")
    return cohort_policy(session, enr.cohort_id)


Timed = DeadlineRule | Milestone
#: (kind, key, rule or milestone): one deadline a stage owes
Spec = tuple[DeadlineKind, str, Timed]


def stage_specs(policy: DeadlinePolicy, stage: str) -> list[Spec]:
    """(kind, key, rule or milestone) of every deadline a region entering `stage` owes."""
    rule = policy.rule_for(stage) if stage != DeadlineKind.review else None
    specs: list[Spec] = [] if rule is None else [(DeadlineKind.stage, rule.deadline_key, rule)]
    return specs + [(DeadlineKind.milestone, m.key, m) for m in policy.milestones_for(stage)]


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadInput(f"{name} must be timezone-aware (give a UTC offset, e.g. +07:00)")
    return value.astimezone(UTC)


def parse_instant(text: str, name: str = "--now") -> datetime:
    """An ISO instant with its offset, as UTC; a naive or malformed value is BadInput (exit 2)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        if wrong := no_such_day(text):  # the right shape, but a day the calendar lacks (2027-02-30)
            raise BadInput(f"{name} {text!r}: {wrong}") from None
        raise BadInput(f"{name} {text!r} is not an ISO date-time (e.g. 2017-09-01T08:00+07:00)") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadInput(f"{name} {text!r} has no UTC offset: write e.g. 2017-09-01T08:00+07:00 for 08:00 WIB")
    return value.astimezone(UTC)


#: How far ahead of the real clock `remind --now` may be without --simulate (clock skew, a slow prompt).
FUTURE_SLACK = timedelta(minutes=5)


def check_sweep_instant(instant: datetime, real_now: datetime, simulate: bool) -> str | None:
    """Refuse (BadInput) a sweep instant ahead of the real clock unless `simulate`: it would send reminders
    before their time. Returns a warning line when a simulated future instant is accepted."""
    ahead = instant - real_now
    if ahead <= FUTURE_SLACK:
        return None
    said = f"--now {instant:%Y-%m-%d %H:%M} UTC is {_span(ahead)} ahead of the real clock"
    if not simulate:
        raise BadInput(f"{said}: reminders due by then would be sent now; add --simulate if you mean it")
    return f"warning: simulating: {said}; reminders due by then are sent now"


def _span(delta: timedelta) -> str:
    """'3 days', '5 hours' or '12 minutes': a rough size for a message."""
    if delta >= timedelta(days=2):
        return f"{delta.days} days"
    if delta >= timedelta(hours=2):
        return f"{int(delta.total_seconds() // 3600)} hours"
    return f"{int(delta.total_seconds() // 60)} minutes"


def _zone_of(session: Session, enrollment_id: int) -> tuple[Region, str]:
    enr = session.get(Enrollment, enrollment_id)
    region = session.get(Region, enr.region_id) if enr else None
    if region is None:
        raise NotFound(f"enrollment {enrollment_id} has no region")
    return region, region.timezone


# --- the reminder ladder -----------------------------------------------------------------------------


def rung_day(due_at: datetime, tz: str, rung: ReminderRung) -> date:
    """The local date a rung fires: due date (in the region's zone) plus the rung's working-day offset."""
    return add_working_days(_local_date(due_at, tz), rung.offset)


def _local_date(instant: datetime, tz: str) -> date:
    return instant.astimezone(zone(tz)).date()


def recipient_zone(role: Role, region_tz: str) -> str:
    """Zone whose 08:00 a recipient of `role` gets the rung at."""
    return COORDINATOR_TZ if role == Role.coordinator else region_tz


def rung_first_at(due_at: datetime, tz: str, rung: ReminderRung, send_hour: int) -> datetime:
    """Earliest send instant of a rung over its recipients' zones (the sweep's wake-up time)."""
    return _rung_first_at(due_at, tz, rung, send_hour)


@lru_cache(maxsize=4096)
def _rung_first_at(due_at: datetime, tz: str, rung: ReminderRung, send_hour: int) -> datetime:
    # Pure (the holiday calendar is fixed per process) and hot: a cohort's deadlines share due dates,
    # so a sweep of a thousand reminders computes a handful of distinct rung times.
    day = rung_day(due_at, tz, rung)
    return min(_utc(local_at(day, recipient_zone(role, tz), send_hour)) for role in rung.recipients)


def _utc(value: datetime) -> datetime:
    u = value.astimezone(UTC)
    return datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, tzinfo=UTC)


def _schedule(d: Deadline, tz: str, policy: DeadlinePolicy, not_before: datetime) -> None:
    """Point a deadline at its first rung sent at or after `not_before` (rungs already past are skipped)."""
    for rung in policy.ladder:
        at = rung_first_at(d.due_at, tz, rung, policy.send_hour)
        if at >= not_before:
            d.next_rung, d.next_rung_at = rung.key, at
            return
    d.next_rung, d.next_rung_at = None, None


# --- opening, closing, extending ---------------------------------------------------------------------


def open_stage_deadlines(
    session: Session,
    enrollment: Enrollment,
    stage: str,
    entered_at: datetime,
    *,
    actor: str | None = None,
    advanced: bool = False,
    policy: DeadlinePolicy | None = None,
) -> list[Deadline]:
    """Close the deadlines of the stage left and open the new stage's deadline and milestones.

    Called by `change_stage` in its transaction. Leaving a stage by an advance marks its own
    deadline done; everything else still open there (milestones, withdrawals) is cancelled. The cohort's
    policy says what the stage owes; one on a calendar event falls on the event's date (or its working-day
    fallback), and one only on an event the cohort's calendar lacks opens when the calendar gets it.
    """
    now, enrollment_id = _aware(entered_at, "entered_at"), row_id(enrollment)
    policy = policy or cohort_policy(session, enrollment.cohort_id)
    _close_left_stages(session, enrollment_id, stage, now, actor, advanced)
    specs = stage_specs(policy, stage)
    created: list[Deadline] = []
    if specs:
        _, tz = _zone_of(session, enrollment_id)
        have = set(
            session.exec(
                select(Deadline.key).where(
                    Deadline.enrollment_id == enrollment_id, Deadline.status == DeadlineStatus.open
                )
            ).all()
        )
        events = _events_for(session, enrollment.cohort_id, specs)
        created = _open_specs(session, enrollment_id, stage, specs, have, tz, policy, events, now)
    session.flush()
    return created


def open_first_deadlines(
    session: Session, enrollments: Sequence[Enrollment], stage: str, entered_at: datetime, zones: Mapping[int, str]
) -> list[Deadline]:
    """What `open_stage_deadlines` does for enrollments of one cohort just created in `stage`, in one pass.

    New enrollments have no deadline to close or to keep, and the caller knows their zones (`zones`: enrollment
    id -> IANA zone), so nominating 514 regions costs one flush rather than four queries and a flush each."""
    if not enrollments:
        return []
    cohorts = {e.cohort_id for e in enrollments}
    if len(cohorts) != 1:
        raise ValueError(f"open_first_deadlines takes the enrollments of one cohort, got cohorts {sorted(cohorts)}")
    now, cohort_id = _aware(entered_at, "entered_at"), cohorts.pop()
    policy = cohort_policy(session, cohort_id)
    specs = stage_specs(policy, stage)
    events = _events_for(session, cohort_id, specs)
    created = [
        deadline
        for e in enrollments
        for deadline in _open_specs(session, row_id(e), stage, specs, set(), zones[row_id(e)], policy, events, now)
    ]
    session.flush()
    return created


def _events_for(session: Session, cohort_id: int, specs: list[Spec]) -> dict[str, EventDates]:
    """The cohort's calendar, read only when one of `specs` is on an event: a stage change costs what it did."""
    return event_dates(session, cohort_id=cohort_id) if any(t.event for _, _, t in specs) else {}


def _open_specs(
    session: Session,
    enrollment_id: int,
    stage: str,
    specs: list[Spec],
    have: set[str],
    tz: str,
    policy: DeadlinePolicy,
    events: dict[str, EventDates],
    now: datetime,
) -> list[Deadline]:
    """The deadlines of `specs` not already open (`have`: their keys) and due by now's rules, added."""
    created = []
    for kind, key, timed in specs:
        if key in have:  # idempotent: a re-run never doubles a deadline
            continue
        if (due := due_of(timed, now, tz, policy.due_hour, events)) is None:
            continue
        created.append(_new_deadline(session, enrollment_id, kind, key, stage, due, tz, policy, now, now))
    return created


def _new_deadline(
    session: Session,
    enrollment_id: int,
    kind: DeadlineKind,
    key: str,
    stage: str,
    due: datetime,
    tz: str,
    policy: DeadlinePolicy,
    created_at: datetime,
    now: datetime,
) -> Deadline:
    """An open deadline, its first reminder scheduled at or after `now`."""
    d = Deadline(enrollment_id=enrollment_id, kind=kind, key=key, stage=stage, created_at=created_at, due_at=due)
    _schedule(d, tz, policy, now)
    session.add(d)
    return d


def open_review_deadline(
    session: Session,
    enrollment_id: int,
    assignment_id: int,
    assigned_at: datetime,
    policy: DeadlinePolicy | None = None,
) -> Deadline | None:
    """A reviewer's deadline (10 working days by default), on the same reminder ladder as the region's.

    It belongs to the stage the region is reviewed in (the stage it is in now)."""
    policy, now = policy_of(session, enrollment_id, policy), _aware(assigned_at, "assigned_at")
    rule = policy.rule_for(DeadlineKind.review)
    if rule is None or rule.working_days is None:
        return None
    _, tz = _zone_of(session, enrollment_id)
    enr = session.get(Enrollment, enrollment_id)
    if enr is None:
        raise NotFound(f"enrollment {enrollment_id} does not exist")
    d = Deadline(
        enrollment_id=enrollment_id,
        kind=DeadlineKind.review,
        key=f"review:{assignment_id}",
        stage=enr.stage,
        created_at=now,
        due_at=compute_due(now, tz, rule.working_days, policy.due_hour),
    )
    _schedule(d, tz, policy, now)
    session.add(d)
    session.flush()
    return d


def close_review_deadlines(
    session: Session, assignment_ids: list[int], now: datetime, *, done_by: str | None, done: bool
) -> None:
    """A review came in (done) or its round closed without it (cancelled): stop its reminders."""
    keys = [f"review:{i}" for i in assignment_ids]
    query = select(Deadline).where(col(Deadline.key).in_(keys), Deadline.status == DeadlineStatus.open)
    for d in session.exec(query).all():
        d.status = DeadlineStatus.done if done else DeadlineStatus.cancelled
        d.done_at, d.done_by = (now, done_by) if done else (None, None)
        d.next_rung, d.next_rung_at = None, None
        session.add(d)
        cancel_pending(session, d.id)


def _close_left_stages(
    session: Session, enrollment_id: int, stage: str, now: datetime, actor: str | None, advanced: bool
) -> None:
    rows = session.exec(
        select(Deadline).where(
            Deadline.enrollment_id == enrollment_id, Deadline.status == DeadlineStatus.open, Deadline.stage != stage
        )
    ).all()
    for d in rows:
        met = advanced and d.kind == DeadlineKind.stage
        d.status = DeadlineStatus.done if met else DeadlineStatus.cancelled
        d.done_at, d.done_by = (now, actor) if met else (None, None)
        d.next_rung, d.next_rung_at = None, None
        session.add(d)
        cancel_pending(session, d.id)


def cancel_pending(session: Session, deadline_id: int | None) -> int:
    """Withdraw reminders of a deadline that wait to be sent or addressed (rows being sent are left alone)."""
    res = session.execute(
        update(Notification)
        .where(
            col(Notification.deadline_id) == deadline_id,
            col(Notification.status).in_([NotificationStatus.pending, NotificationStatus.unaddressed]),
        )
        .values(status=NotificationStatus.cancelled)
    )
    return rows_matched(res)


#: The largest extension (or shortening) in one step: 260 working days, about a year. The deadline policy
#: model forbids unknown keys, so this lives here rather than in a program definition's [deadlines].
MAX_EXTENSION_WORKING_DAYS = 260
#: How far a recorded instant may lie ahead of the clock (clocks of laptops and servers disagree a little).
CLOCK_SKEW = timedelta(minutes=5)


def _check_extension(working_days: int, reason: str, actor: str) -> None:
    """BadInput for a missing reason or actor, 0 days, or more than the sane maximum either way."""
    if not (reason or "").strip():
        raise BadInput("an extension needs a --reason")
    if not (actor or "").strip():
        raise BadInput("an extension needs an --actor")
    if working_days == 0:
        raise BadInput("--days must not be 0 (a positive number extends, a negative one shortens)")
    if abs(working_days) > MAX_EXTENSION_WORKING_DAYS:
        raise BadInput(
            f"--days {working_days} is implausible: at most {MAX_EXTENSION_WORKING_DAYS} working days "
            "(about a year) either way in one step"
        )


def _shortened_due(session: Session, d: Deadline, tz: str, working_days: int, now: datetime, code: str) -> datetime:
    """The due instant `-working_days` working days earlier; refused before today or the original due date."""
    local = d.due_at.astimezone(zone(tz))
    new = _utc(local_at(add_working_days(local.date(), working_days), tz, local.hour, local.minute))
    first = session.exec(
        select(DeadlineExtension.old_due)
        .where(DeadlineExtension.deadline_id == d.id)
        .order_by(col(DeadlineExtension.id))
        .limit(1)
    ).first()
    original = first or d.due_at
    if new < original:
        raise DomainRefused(
            f"region {code}: {d.key} cannot be shortened to {format_local(new, tz)}, before its "
            f"original due date {format_local(original, tz)} (only an extension can be taken back)"
        )
    if _local_date(new, tz) < _local_date(now, tz):
        raise DomainRefused(f"region {code}: {d.key} cannot be shortened to {format_local(new, tz)}, before today")
    return new


def extend_deadline(
    session: Session,
    deadline_id: int,
    working_days: int,
    reason: str,
    actor: str,
    now: datetime,
    policy: DeadlinePolicy | None = None,
) -> Deadline:
    """Push an open deadline `working_days` later (earlier when negative: taking back part of an extension),
    record why and who, and restart its reminders."""
    now = _aware(now, "now")
    _check_extension(working_days, reason, actor)
    d = session.get(Deadline, deadline_id)
    if d is None:
        raise NotFound(f"deadline {deadline_id} does not exist")
    region, tz = _zone_of(session, d.enrollment_id)
    if d.status != DeadlineStatus.open:
        raise DomainRefused(f"region {region.bps_code}: deadline {d.key} is {d.status}, it cannot be extended")
    old = d.due_at
    d.due_at = (
        extend_due(old, tz, working_days)
        if working_days > 0
        else _shortened_due(session, d, tz, working_days, now, region.bps_code)
    )
    session.add(
        DeadlineExtension(
            deadline_id=row_id(d),
            old_due=old,
            new_due=d.due_at,
            working_days=working_days,
            reason=reason.strip(),
            actor=actor.strip(),
            at=now,
        )
    )
    audit.record(
        session,
        kind="deadline_extended" if working_days > 0 else "deadline_shortened",
        subject=f"region {region.bps_code} deadline {d.key}",
        actor=actor.strip(),
        at=now,
        content={
            "deadline_id": d.id,
            "key": d.key,
            "old_due": _utc(old).isoformat(),
            "new_due": _utc(d.due_at).isoformat(),
            "working_days": working_days,
            "reason": reason.strip(),
        },
    )
    d.extended, d.cycle = True, d.cycle + 1
    cancel_pending(session, d.id)
    _schedule(d, tz, policy_of(session, d.enrollment_id, policy), now)
    session.add(d)
    session.flush()
    return d


def find_deadline(session: Session, code: str, key: str, cohort: str | None = None) -> Deadline:
    """The region's latest deadline called `key` (open ones first)."""

    enr = find_enrollment(session, code.strip(), cohort)
    rows = session.exec(
        select(Deadline).where(Deadline.enrollment_id == enr.id, Deadline.key == key).order_by(col(Deadline.id).desc())
    ).all()
    if not rows:
        keys = session.exec(
            select(Deadline.key).where(Deadline.enrollment_id == enr.id, Deadline.status == DeadlineStatus.open)
        ).all()
        raise NotFound(f"region {code}: no deadline {key!r} (open: {', '.join(sorted(keys)) or 'none'})")
    return next((d for d in rows if d.status == DeadlineStatus.open), rows[0])


def complete_milestone(
    session: Session,
    code: str,
    key: str,
    actor: str,
    at: datetime,
    cohort: str | None = None,
    *,
    now: datetime | None = None,
) -> tuple[Deadline, bool]:
    """Record a milestone (e.g. bimtek-1) done by `actor` at `at`; returns (row, changed).

    `at` may not lie ahead of `now` (the real clock; None when `at` is the clock itself, as in a
    simulation) by more than a few minutes, nor before the region entered the milestone's stage."""
    at = _aware(at, "--at")
    if not (actor or "").strip():
        raise BadInput("--actor must name who records the milestone")
    if now is not None and at > _aware(now, "now") + CLOCK_SKEW:
        raise BadInput(
            f"--at {at.isoformat()} is in the future (now is {_aware(now, 'now').isoformat()}): "
            "record a milestone once it happened"
        )
    d = find_deadline(session, code, key, cohort)
    if d.kind != DeadlineKind.milestone:
        raise DomainRefused(
            f"region {code}: {key} is a {d.kind} deadline, not a milestone; it closes when the region advances"
        )
    if d.status == DeadlineStatus.done:
        return d, False
    if d.status != DeadlineStatus.open:
        raise DomainRefused(f"region {code}: milestone {key} is {d.status}")
    _check_done_at(session, d, code, at)
    _mark_done(session, d, code, actor.strip(), at, now or at)
    return d, True


def _check_done_at(session: Session, d: Deadline, code: str, at: datetime) -> None:
    """BadInput when `at` lies before the region entered the milestone's stage."""
    if at < d.created_at:
        _, tz = _zone_of(session, d.enrollment_id)
        raise BadInput(
            f"--at {format_local(at, tz)} is before region {code} entered {d.stage} ({format_local(d.created_at, tz)})"
        )


def _mark_done(session: Session, d: Deadline, code: str, actor: str, at: datetime, now: datetime) -> None:
    """Close an open milestone as done at `at` by `actor`, stop its reminders, and audit it."""
    d.status, d.done_at, d.done_by = DeadlineStatus.done, at, actor
    d.next_rung, d.next_rung_at = None, None
    cancel_pending(session, d.id)
    session.add(d)
    session.flush()
    audit.record(
        session,
        kind="milestone_done",
        subject=f"region {code} deadline {d.key}",
        actor=actor,
        at=_aware(now, "now"),
        content={"deadline_id": d.id, "key": d.key, "done_at": _utc(at).isoformat()},
    )


def complete_milestone_for_cohort(
    session: Session, cohort: str, key: str, actor: str, at: datetime, *, now: datetime | None = None
) -> dict[str, list[str]]:
    """Record milestone `key` done at `at` for every region of `cohort` that has it open, all or nothing:
    one bad region (an `at` before it entered the stage) refuses the whole batch. One audit record per region.

    Returns BPS codes: "done" (now), "already" (before), "closed" (cancelled: the region left the stage); regions
    without the milestone are left out."""
    at = _aware(at, "--at")
    who = audit.actor_name(actor)
    if now is not None and at > _aware(now, "now") + CLOCK_SKEW:
        raise BadInput(f"--at {at.isoformat()} is in the future: record a milestone once it happened")
    target = session.exec(select(Cohort).where(Cohort.name == cohort.strip())).first()
    if target is None:
        raise NotFound(f"cohort {cohort!r} does not exist (see `smartcity cohort list`)")
    latest = _latest_per_region(session, row_id(target), key)
    if not latest:
        raise NotFound(f"cohort {target.name}: no region has a deadline {key!r}")
    kinds = {d.kind for d, _ in latest}
    if kinds != {DeadlineKind.milestone}:
        raise DomainRefused(f"cohort {target.name}: {key} is not a milestone; it closes when a region advances")
    opened = [(d, code) for d, code in latest if d.status == DeadlineStatus.open]
    outcome = {
        "done": [code for _, code in opened],
        "already": [code for d, code in latest if d.status == DeadlineStatus.done],
        "closed": [code for d, code in latest if d.status not in (DeadlineStatus.open, DeadlineStatus.done)],
    }
    for d, code in opened:  # every check before the first write
        _check_done_at(session, d, code, at)
    for d, code in opened:
        _mark_done(session, d, code, who, at, now or at)
    return outcome


def _latest_per_region(session: Session, cohort_id: int, key: str) -> list[tuple[Deadline, str]]:
    """Each region's latest deadline called `key` in a cohort (an open one first), with its BPS code, by code."""
    rows = session.exec(
        select(Deadline, Region.bps_code)
        .join(Enrollment, col(Deadline.enrollment_id) == Enrollment.id)
        .join(Region, col(Enrollment.region_id) == Region.id)
        .where(Enrollment.cohort_id == cohort_id, Deadline.key == key)
        .order_by(Region.bps_code, col(Deadline.id).desc())
    ).all()
    chosen: dict[str, Deadline] = {}
    for d, code in rows:
        if code not in chosen or (d.status == DeadlineStatus.open and chosen[code].status != DeadlineStatus.open):
            chosen[code] = d
    return [(d, code) for code, d in chosen.items()]


def undo_milestone(
    session: Session,
    code: str,
    key: str,
    reason: str,
    actor: str,
    now: datetime,
    cohort: str | None = None,
    policy: DeadlinePolicy | None = None,
) -> Deadline:
    """Reopen a milestone recorded done by mistake (audited, with the reason); its reminders restart."""
    now = _aware(now, "now")
    if not (reason or "").strip() or not (actor or "").strip():
        raise BadInput("undoing a milestone needs a --reason and an --actor")
    d = find_deadline(session, code, key, cohort)
    if d.kind != DeadlineKind.milestone:
        raise DomainRefused(f"region {code}: {key} is a {d.kind} deadline, not a milestone")
    if d.status != DeadlineStatus.done:
        raise DomainRefused(f"region {code}: milestone {key} is {d.status}, not done: nothing to undo")
    enr = session.get(Enrollment, d.enrollment_id)
    if enr is None or enr.stage != d.stage:
        raise DomainRefused(
            f"region {code}: milestone {key} belongs to {d.stage} and the region is now "
            f"{enr.stage if enr else 'gone'}: it cannot be reopened"
        )
    region, tz = _zone_of(session, d.enrollment_id)
    audit.record(
        session,
        kind="milestone_undone",
        subject=f"region {region.bps_code} deadline {d.key}",
        actor=actor.strip(),
        at=now,
        content={
            "deadline_id": d.id,
            "key": d.key,
            "done_at": _utc(d.done_at).isoformat() if d.done_at else None,
            "done_by": d.done_by,
            "reason": reason.strip(),
        },
    )
    # A new cycle: the reminders cancelled when it was marked done keep their keys, and would block these.
    d.status, d.done_at, d.done_by, d.cycle = DeadlineStatus.open, None, None, d.cycle + 1
    _schedule(d, tz, policy_of(session, d.enrollment_id, policy), now)
    session.add(d)
    session.flush()
    return d


# --- following the cohort's calendar ------------------------------------------------------------------


@dataclass(frozen=True)
class _Follow:
    """One calendar change as the deadlines follow it: the cohort's policy, and why, who and when."""

    policy: DeadlinePolicy
    reason: str
    actor: str
    now: datetime


def follow_calendar(
    session: Session, *, cohort_id: int, events: Collection[str], reason: str, actor: str, now: datetime
) -> list[dict[str, Any]]:
    """Put the cohort's open deadlines and milestones that fall on `events` (just added to its calendar or
    re-dated) on the events' dates, as an extension does: audited with `reason`, reminders restarted. A
    region keeps the working days it was granted. Done and cancelled ones stay as they were; one a region's
    current stage owes but could not open without the event's date opens now. Returns what moved or opened."""
    how = _Follow(cohort_policy(session, cohort_id), reason, actor, _aware(now, "now"))
    dates = event_dates(session, cohort_id=cohort_id)
    timed = [(t, day) for e in sorted(set(events)) for t in how.policy.on_event(e) if (day := t.day_of(dates))]
    if not timed:
        return []
    rows = session.exec(
        select(Enrollment, Region)
        .join(Region, col(Region.id) == Enrollment.region_id)
        .where(Enrollment.cohort_id == cohort_id)
        .order_by(Region.bps_code)
    ).all()
    query = select(Deadline).where(col(Deadline.enrollment_id).in_([row_id(enr) for enr, _ in rows]))
    mine: dict[int, list[Deadline]] = {}
    for d in session.exec(query.order_by(col(Deadline.id))).all():
        mine.setdefault(d.enrollment_id, []).append(d)
    changes = []
    for enr, region in rows:
        for t, day in timed:
            found = [d for d in mine.get(row_id(enr), []) if d.key == t.deadline_key and d.stage == t.stage]
            opened = next((d for d in found if d.status == DeadlineStatus.open), None)
            if opened is not None:
                changes.append(_move_to_day(session, opened, region, day, t, how))
            elif enr.stage == t.stage and not [d for d in found if d.created_at >= enr.entered_stage_at]:
                changes.append(_open_on_day(session, enr, region, day, t, how))
    session.flush()
    return [c for c in changes if c is not None]


def _move_to_day(
    session: Session, d: Deadline, region: Region, day: date, timed: Timed, how: _Follow
) -> dict[str, Any] | None:
    """Move an open deadline onto `day` (plus the working days its extensions granted); None if it is there."""
    tz = region.timezone
    granted = sum(e.working_days for e in extensions_of(session, row_id(d)))
    new = due_on_day(add_working_days(day, granted) if granted else day, tz, how.policy.due_hour)
    if new == d.due_at:
        return None
    old = d.due_at
    d.due_at, d.cycle = new, d.cycle + 1  # a new cycle: reminders restart for the new date, as after an extension
    cancel_pending(session, d.id)
    _schedule(d, tz, how.policy, how.now)
    session.add(d)
    change = {
        "deadline_id": d.id,
        "key": d.key,
        "event": timed.event,
        "old_due": _utc(old).isoformat(),
        "new_due": _utc(new).isoformat(),
        "reason": how.reason,
    }
    subject = f"region {region.bps_code} deadline {d.key}"
    audit.record(session, kind="deadline_moved", subject=subject, actor=how.actor, at=how.now, content=change)
    return {"action": "moved", "bps_code": region.bps_code, **change}


def _open_on_day(
    session: Session, enr: Enrollment, region: Region, day: date, timed: Timed, how: _Follow
) -> dict[str, Any]:
    """Open what the region's stage owes on a calendar event that was missing when the region entered it."""
    tz, key = region.timezone, timed.deadline_key
    kind = DeadlineKind.stage if isinstance(timed, DeadlineRule) else DeadlineKind.milestone
    due = due_on_day(day, tz, how.policy.due_hour)
    d = _new_deadline(session, row_id(enr), kind, key, enr.stage, due, tz, how.policy, enr.entered_stage_at, how.now)
    session.flush()
    change = {
        "deadline_id": d.id,
        "key": key,
        "event": timed.event,
        "new_due": _utc(due).isoformat(),
        "reason": how.reason,
    }
    subject = f"region {region.bps_code} deadline {key}"
    audit.record(session, kind="deadline_opened", subject=subject, actor=how.actor, at=how.now, content=change)
    return {"action": "opened", "bps_code": region.bps_code, **change}


# --- the sweep ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One reminder the sweep would enqueue."""

    deadline_id: int
    cycle: int
    rung_index: int
    row: dict[str, Any]
    facts: ReminderFacts | None = None  # what the row says, for the coordinator's summary


def due_deadlines(session: Session, now: datetime, limit: int = SWEEP_BATCH) -> list[Deadline]:
    """Open deadlines whose next rung is due: one range scan of ix_deadline_sweep."""
    return list(
        session.exec(
            select(Deadline)
            .where(Deadline.status == DeadlineStatus.open, col(Deadline.next_rung_at) <= now)
            .order_by(col(Deadline.next_rung_at), col(Deadline.id))
            .limit(limit)
        ).all()
    )


def _due_span(d: Deadline, tz: str, policy: DeadlinePolicy, now: datetime) -> tuple[int, int] | None:
    """(pointer, latest due) ladder indexes of a deadline at `now`; None when no rung is due."""
    keys = [r.key for r in policy.ladder]
    if d.next_rung not in keys:
        return None
    first = keys.index(d.next_rung)
    due = [i for i in range(first, len(keys)) if rung_first_at(d.due_at, tz, policy.ladder[i], policy.send_hour) <= now]
    return (first, due[-1]) if due else None


def recipient_role(d: Deadline, ladder_role: Role) -> Role:
    """Who a ladder role reaches for this deadline: a review's PIC is its reviewer, and a late review
    escalates to the coordinator (reviews are the programme's business, not the region's)."""
    if d.kind == DeadlineKind.review:
        return {Role.pic: Role.reviewer, Role.escalation: Role.coordinator}.get(ladder_role, ladder_role)
    return ladder_role


def _rungs_per_role(d: Deadline, policy: DeadlinePolicy, first: int, last: int) -> list[tuple[Role, int]]:
    """Each recipient role with the latest rung meant for it among the due ones (ladder indexes first..last).

    After downtime several rungs are due at once. Each role gets its latest only (an old 'due in 14 days' is
    wrong by now), but every role gets one: a jump from T-7 to +5 still tells the PIC and the coordinator,
    not the escalation contact alone.
    """
    latest: dict[Role, int] = {}
    for i in range(first, last + 1):
        for ladder_role in policy.ladder[i].recipients:
            latest[recipient_role(d, ladder_role)] = i
    return sorted(latest.items(), key=lambda item: (item[1], item[0]))


def rung_named(policy: DeadlinePolicy, key: str) -> ReminderRung:
    """The rung of `policy`'s ladder called `key` (a reminder row names the rung it was written for)."""
    rung = next((r for r in policy.ladder if r.key == key), None)
    if rung is None:
        raise NotFound(f"the reminder ladder has no rung {key!r}")
    return rung


def _title(d: Deadline, policy: DeadlinePolicy) -> dict[str, str]:
    milestone = next((m for m in policy.milestones if m.key == d.key), None)
    return item_title(d.kind, d.key, milestone.title.model_dump() if milestone else None)


def reviewer_of(session: Session, d: Deadline) -> tuple[int | None, Contact | None]:
    """The reviewer id of a review deadline, and the reviewer's contact (None: no inbox, or a removed one)."""
    from smartcity.models.reviews.tables import ReviewAssignment, Reviewer

    assignment = session.get(ReviewAssignment, int(d.key.split(":", 1)[1]))
    reviewer = session.get(Reviewer, assignment.reviewer_id) if assignment else None
    contact = session.get(Contact, reviewer.contact_id) if reviewer and reviewer.contact_id else None
    contact = contact if contact is not None and contact.active else None  # a removed contact gets nothing
    return (reviewer.id if reviewer else None), contact


def contacts_for(session: Session, d: Deadline, role: Role, region: Region) -> list[Contact]:
    """The contacts a deadline's reminder for `role` goes to: the review's reviewer, or by role and region."""
    if role == Role.reviewer:
        contact = reviewer_of(session, d)[1]
        return [contact] if contact is not None else []
    return [c for _, c in recipients(session, (role,), region)]


def recipients(session: Session, roles: tuple[Role, ...], region: Region) -> list[tuple[Role, Contact]]:
    """(role, contact) for each role: region PIC/escalation by region, coordinators without a region."""
    if "contacts" in session.info:  # preloaded by the sweep for its batch: {(role, region_id): [contact]}
        index = session.info["contacts"]
        return [
            (role, c) for role in roles for c in index.get((role, None if role == Role.coordinator else region.id), [])
        ]
    out: list[tuple[Role, Contact]] = []
    for role in roles:
        query = select(Contact).where(Contact.role == role, col(Contact.active))
        query = query.where(
            col(Contact.region_id).is_(None) if role == Role.coordinator else Contact.region_id == region.id
        )
        out += [(role, c) for c in session.exec(query.order_by(col(Contact.id))).all()]
    return out


def _plan_one(session: Session, d: Deadline, now: datetime, policy: DeadlinePolicy) -> list[Planned] | None:
    """The rows a sweep at `now` owes a deadline: for each role its latest due rung, one row per contact, or
    one 'unaddressed' row when the role has no contact (kept, listed and addressed later, never dropped)."""
    region, tz = _zone_of(session, d.enrollment_id)
    span = _due_span(d, tz, policy, now)
    if span is None:
        return None
    out = []
    for role, index in _rungs_per_role(d, policy, *span):
        rung = policy.ladder[index]
        addressed: list[Contact | None] = list(contacts_for(session, d, role, region))
        for contact in addressed or [None]:
            row, facts = _row_and_facts(d, rung, role, contact, region, policy, now, stage_label_of(session, d))
            out.append(Planned(row_id(d), d.cycle, index, row, facts))
    return out


def reminder_row(
    d: Deadline,
    rung: ReminderRung,
    role: Role,
    contact: Contact | None,
    region: Region,
    policy: DeadlinePolicy,
    now: datetime,
    label: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The notification row of one rung for one recipient (or, with no contact, for the role it awaits)."""
    return _row_and_facts(d, rung, role, contact, region, policy, now, label)[0]


def stage_label_of(session: Session, d: Deadline) -> dict[str, str] | None:
    """The deadline's stage as its program calls it, in both languages (None for a stage it does not know)."""
    enrollment = session.get_one(Enrollment, d.enrollment_id)
    program = program_of_cohort(session, enrollment.cohort_id)
    return program.stage(d.stage).label.model_dump() if d.stage in program.stage_names else None


def _said_offset(d: Deadline, tz: str, rung: ReminderRung, now: datetime) -> int:
    """The rung's offset; for a rung sent after its day (downtime), how things stand on `now`'s local day."""
    today = _local_date(now, tz)
    if today <= rung_day(d.due_at, tz, rung):
        return rung.offset
    return working_days_between(_local_date(d.due_at, tz), today)


def _row_and_facts(
    d: Deadline,
    rung: ReminderRung,
    role: Role,
    contact: Contact | None,
    region: Region,
    policy: DeadlinePolicy,
    now: datetime,
    label: dict[str, str] | None = None,
) -> tuple[dict[str, Any], ReminderFacts]:
    """A reminder's notification row and the facts it renders (a coordinator summary lists the facts)."""
    tz = region.timezone
    ref = f"rem:{d.id}:{d.cycle}:{rung.key}:" + (str(contact.id) if contact else f"{role}:unaddressed")
    escalated = Role.escalation in rung.recipients and recipient_role(d, Role.escalation) == role
    facts = ReminderFacts(
        region.name,
        region.bps_code,
        d.stage,
        d.kind,
        d.key,
        _title(d, policy),
        d.due_at,
        tz,
        _said_offset(d, tz, rung, now),
        role,
        ref,
        escalated,
        label,
    )
    language = contact.language if contact else "id"
    subject, body = reminder_message(facts, language)
    send_after = _utc(local_at(rung_day(d.due_at, tz, rung), recipient_zone(role, tz), policy.send_hour))
    row = dict(
        dedupe_key=ref,
        deadline_id=d.id,
        rung=rung.key,
        contact_id=contact.id if contact else None,
        role=role,
        language=language,
        subject=subject,
        body=body,
        status=NotificationStatus.pending if contact else NotificationStatus.unaddressed,
        attempts=0,
        created_at=now,
        send_after=send_after,
    )
    return row, facts


# --- the coordinator's summary -----------------------------------------------------------------------

#: The `rung` of a coordinator summary row (it has no deadline of its own).
SUMMARY_RUNG = "summary"


def _split_coordinators(planned: list[Planned]) -> tuple[list[dict[str, Any]], list[Planned]]:
    """(rows sent one by one, reminders a coordinator contact gets in its one summary instead)."""
    rows, summarised = [], []
    for p in planned:
        if p.row["role"] == Role.coordinator and p.row["contact_id"] is not None:
            summarised.append(p)
        else:
            rows.append(p.row)
    return rows, summarised


def summary_rows(planned: list[Planned], now: datetime, suffix: str = "") -> list[dict[str, Any]]:
    """One row per coordinator contact listing all its reminders of this sweep; keyed by (contact, instant)."""
    by_contact: dict[int, list[Planned]] = {}
    for p in planned:
        by_contact.setdefault(p.row["contact_id"], []).append(p)
    out = []
    for contact_id, items in sorted(by_contact.items()):
        language = items[0].row["language"]
        ref = f"sum:{contact_id}:{now.isoformat()}{suffix}"
        subject, body = summary_message([p.facts for p in items if p.facts], language, ref)
        out.append(
            dict(
                dedupe_key=ref,
                deadline_id=None,
                rung=SUMMARY_RUNG,
                contact_id=contact_id,
                role=Role.coordinator,
                language=language,
                subject=subject,
                body=body,
                status=NotificationStatus.pending,
                attempts=0,
                created_at=now,
                send_after=min(p.row["send_after"] for p in items),
            )
        )
    return out


def _enqueue_summaries(session: Session, planned: list[Planned], now: datetime) -> int:
    """Insert the coordinators' summaries of this sweep; how many went in.

    A summary lists only deadlines whose pointer this sweep moved, so a second sweep at the same instant
    (run at the same time) has other items: it is kept under a key naming its first deadline, not dropped.
    """
    added = 0
    for row in summary_rows(planned, now):
        if insert_ignore(session, row) == 0:
            mine = [p for p in planned if p.row["contact_id"] == row["contact_id"]]
            added += insert_ignore_many(session, summary_rows(mine, now, f":d{min(p.deadline_id for p in mine)}"))
        else:
            added += 1
    return added


def address_waiting(
    session: Session,
    contact: Contact,
    now: datetime,
    policy: DeadlinePolicy | None = None,
    *,
    review_keys: list[str] | None = None,
) -> int:
    """Give a new contact the reminders that waited for its role (and region); returns how many.

    With `review_keys` ("review:<assignment id>"), the contact is a reviewer's and takes the waiting
    reminders of those review deadlines instead (the ladder's PIC of a review deadline is the reviewer).
    Per deadline only the latest waiting rung is sent (an old 'due in 14 days' is wrong by now, as
    after downtime); older ones are cancelled. Reminders of closed deadlines were cancelled with them.
    """
    if review_keys is None and contact.role == Role.reviewer:
        return 0  # a reviewer's reminders wait for `reviewers contact`, which says whose inbox this is
    query = _waiting_query(contact, review_keys)
    latest: dict[int, tuple[Notification, Deadline, Region]] = {}
    for n, d, r in session.exec(query.order_by(col(Notification.id))).all():
        if row_id(d) in latest:
            latest[row_id(d)][0].status = NotificationStatus.cancelled
        latest[row_id(d)] = (n, d, r)
    if contact.role == Role.coordinator:
        _summarise_waiting(session, contact, list(latest.values()), policy, now)
        return len(latest)
    for n, d, region in latest.values():
        mine = policy_of(session, d.enrollment_id, policy)
        row = reminder_row(d, rung_named(mine, n.rung), n.role or contact.role, contact, region, mine, now)
        for field in ("dedupe_key", "contact_id", "language", "subject", "body", "status"):
            setattr(n, field, row[field])
    session.flush()
    return len(latest)


def _waiting_query(contact: Contact, review_keys: list[str] | None) -> Any:
    """Unaddressed reminders of open deadlines that `contact` may take, with their deadline and region."""
    query = (
        select(Notification, Deadline, Region)
        .join(Deadline, col(Deadline.id) == Notification.deadline_id)
        .join(Enrollment, col(Enrollment.id) == Deadline.enrollment_id)
        .join(Region, col(Region.id) == Enrollment.region_id)
        .where(Notification.status == NotificationStatus.unaddressed, Deadline.status == DeadlineStatus.open)
    )
    if review_keys is not None:
        # Rows written before reviewers had their own role name the ladder's 'pic'.
        return query.where(
            Deadline.kind == DeadlineKind.review,
            col(Deadline.key).in_(review_keys),
            col(Notification.role).in_([Role.reviewer, Role.pic]),
        )
    query = query.where(Notification.role == contact.role)
    if contact.role != Role.coordinator:  # a late review escalates to the coordinator, never to the region
        query = query.where(Deadline.kind != DeadlineKind.review)
    if contact.region_id is not None:
        query = query.where(Region.id == contact.region_id)
    return query


def _summarise_waiting(
    session: Session,
    contact: Contact,
    waiting: list[tuple[Notification, Deadline, Region]],
    policy: DeadlinePolicy | None,
    now: datetime,
) -> None:
    """A new coordinator takes the reminders that waited for one as one summary, not one message each."""
    items = []
    for n, d, region in waiting:
        mine = policy_of(session, d.enrollment_id, policy)
        label = stage_label_of(session, d)
        row, facts = _row_and_facts(d, rung_named(mine, n.rung), Role.coordinator, contact, region, mine, now, label)
        items.append(Planned(row_id(d), d.cycle, 0, row, facts))
        n.status, n.last_error = NotificationStatus.cancelled, "superseded: listed in a coordinator summary"
    session.flush()
    for row in summary_rows(items, now, ":waiting"):
        insert_ignore(session, row)


def waiting_label(session: Session, n: Notification) -> str:
    """Who an unaddressed message waits for, by its real role, and for a reviewer how to give it an inbox."""
    d = session.get(Deadline, n.deadline_id) if n.deadline_id is not None else None
    if d is not None and d.kind == DeadlineKind.review and n.role in (Role.reviewer, Role.pic):
        reviewer_id, _ = reviewer_of(session, d)
        return (
            f"nobody yet: no reviewer contact: reviewer #{reviewer_id} has no inbox; "
            f"`smartcity reviewers contact {reviewer_id} --contact-id C`"
        )
    return f"nobody yet: no {n.role} contact"


def plan_sweep(session: Session, now: datetime, policy: DeadlinePolicy | None = None) -> list[dict[str, Any]]:
    """What a sweep at `now` would enqueue (not yet in the outbox); writes nothing."""
    now = _aware(now, "now")
    planned = [
        p
        for d in due_deadlines(session, now, limit=100_000)
        for p in _plan_one(session, d, now, policy_of(session, d.enrollment_id, policy)) or []
    ]
    rows, summarised = _split_coordinators(planned)
    return [
        r
        for r in rows + summary_rows(summarised, now)
        if session.exec(select(Notification.id).where(Notification.dedupe_key == r["dedupe_key"])).first() is None
    ]


def sweep(session: Session, now: datetime, policy: DeadlinePolicy | None = None) -> int:
    """Enqueue every reminder due at `now` exactly once; returns how many were enqueued for sending
    (reminders for a role with no contact are kept as 'unaddressed' rows and not counted).

    A coordinator gets one summary per sweep listing every deadline at a coordinator rung, not one message
    per region; PICs, reviewers and escalation contacts get their own messages. Each deadline follows its
    cohort's policy unless `policy` is given for all."""
    now = _aware(now, "now")
    enqueued, summarised = 0, []
    try:
        while batch := due_deadlines(session, now):
            held = _preload(session, batch)  # noqa: F841 - the session's identity map holds rows weakly
            policies = [policy_of(session, d.enrollment_id, policy) for d in batch]
            plans = [(d, _plan_one(session, d, now, mine)) for d, mine in zip(batch, policies, strict=True)]
            moves = [_move(session, d, plan, mine) for (d, plan), mine in zip(plans, policies, strict=True)]
            moved = _move_pointers(session, moves)
            rows, mine = _split_coordinators([p for (d, plan) in plans if d.id in moved for p in plan or []])
            summarised += mine
            enqueued += insert_ignore_many(session, [r for r in rows if r["status"] == NotificationStatus.pending])
            insert_ignore_many(session, [r for r in rows if r["status"] != NotificationStatus.pending])
            for d in batch:
                session.expire(d)
            session.flush()
        enqueued += _enqueue_summaries(session, summarised, now)
    finally:
        session.info.pop("contacts", None)
    return enqueued


def _preload(session: Session, batch: list[Deadline]) -> list:
    """Load the batch's enrollments, regions and contacts in three queries, so the per-deadline lookups
    hit the session (the sweep's cost then grows with what is due, a few statements per reminder)."""
    ids = {d.enrollment_id for d in batch}
    rows = session.exec(
        select(Enrollment, Region)
        .join(Region, col(Enrollment.region_id) == Region.id)
        .where(col(Enrollment.id).in_(ids))
    ).all()
    regions = {r.id for _, r in rows}
    contacts = session.exec(
        select(Contact)
        .where(col(Contact.active))
        .where(col(Contact.region_id).in_(regions) | col(Contact.region_id).is_(None))
    ).all()
    index: dict[tuple[Role, int | None], list[Contact]] = {}
    for c in sorted(contacts, key=row_id):
        index.setdefault((c.role, c.region_id), []).append(c)
    session.info["contacts"] = index
    return [rows, contacts]


def _move(session: Session, d: Deadline, plan: list[Planned] | None, policy: DeadlinePolicy) -> dict[str, Any]:
    """Parameters of the compare-and-set that moves the deadline's rung pointer past the rung it sends."""
    _, tz = _zone_of(session, d.enrollment_id)
    index = max(p.rung_index for p in plan) if plan else None  # past the latest rung sent, whoever got it
    nxt = None if index is None or index + 1 >= len(policy.ladder) else policy.ladder[index + 1]
    return {
        "d_id": d.id,
        "d_cycle": d.cycle,
        "d_rung": d.next_rung,
        "new_rung": nxt.key if nxt else None,
        "new_at": rung_first_at(d.due_at, tz, nxt, policy.send_hour) if nxt else None,
    }


#: Compare-and-set on the pointer: of two sweeps (or a sweep and an extension), one moves it.
_MOVE = (
    update(Deadline)
    .where(
        col(Deadline.id) == bindparam("d_id"),
        col(Deadline.cycle) == bindparam("d_cycle"),
        col(Deadline.next_rung) == bindparam("d_rung"),
        col(Deadline.status) == DeadlineStatus.open,
    )
    .values(next_rung=bindparam("new_rung"), next_rung_at=bindparam("new_at"))
)


def _move_pointers(session: Session, moves: list[dict[str, Any]]) -> set[int]:
    """Ids of the deadlines whose pointer this sweep moved.

    One executemany for the batch; when its total row count says every pointer moved (the normal case)
    that is the answer. Otherwise another writer got to some of them: undo the batch's moves and redo them
    one by one, which says exactly which ones are ours.
    """
    if not moves:
        return set()
    conn = session.connection()
    with conn.begin_nested() as savepoint:
        if conn.execute(_MOVE, moves).rowcount == len(moves):
            return {m["d_id"] for m in moves}
        savepoint.rollback()
    return {m["d_id"] for m in moves if conn.execute(_MOVE, m).rowcount == 1}


def insert_ignore(session: Session, row: dict[str, Any]) -> int:
    """INSERT a notification unless its dedupe key exists (ON CONFLICT DO NOTHING); 1 if inserted."""
    return insert_ignore_many(session, [row])


def _insert_new_keys(dialect: str, table: Any) -> Insert:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING in the dialect's own form."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])


def insert_ignore_many(session: Session, rows: list[dict[str, Any]]) -> int:
    """INSERT notifications whose dedupe keys are new, in multi-row statements; how many went in."""
    if not rows:
        return 0
    table = Notification.__table__  # type: ignore[attr-defined]  # SQLModel sets it at class creation, untyped
    stmt = _insert_new_keys(session.get_bind().dialect.name, table).returning(table.c.id)
    # One statement compiled once; SQLAlchemy's "insertmanyvalues" sends it as multi-row INSERTs.
    # RETURNING, not rowcount: drivers disagree on rowcount for a skipped conflicting insert.
    return len(session.connection().execute(stmt, rows).all())


# --- reading -----------------------------------------------------------------------------------------


def list_deadlines(session: Session, code: str | None = None, include_closed: bool = True) -> list[dict]:
    """Deadlines with local times (WIB/WITA/WIT), oldest due first; one region when `code` is given."""
    query = (
        select(Deadline, Region)
        .join(Enrollment, col(Enrollment.id) == Deadline.enrollment_id)
        .join(Region, col(Region.id) == Enrollment.region_id)
    )
    if code:
        if session.exec(select(Region.id).where(Region.bps_code == code.strip())).first() is None:
            raise NotFound(f"region {code}: not in the registry")
        query = query.where(Region.bps_code == code.strip())
    if not include_closed:
        query = query.where(Deadline.status == DeadlineStatus.open)
    rows = session.exec(query.order_by(col(Deadline.due_at), col(Deadline.id))).all()
    return [_deadline_dict(d, r) for d, r in rows]


def _deadline_dict(d: Deadline, region: Region) -> dict:
    tz = region.timezone
    return {
        "id": d.id,
        "bps_code": region.bps_code,
        "region": region.name,
        "kind": d.kind,
        "key": d.key,
        "stage": d.stage,
        "status": d.status,
        "due_local": format_local(d.due_at, tz),
        "due_at": d.due_at.isoformat(),
        "extended": d.extended,
        "done_by": d.done_by,
        "done_local": format_local(d.done_at, tz) if d.done_at else None,
        "next_rung": d.next_rung,
        "next_rung_local": format_local(d.next_rung_at, tz) if d.next_rung_at else None,
    }


def extensions_of(session: Session, deadline_id: int) -> list[DeadlineExtension]:
    """The extension history of a deadline, oldest first."""
    return list(
        session.exec(
            select(DeadlineExtension)
            .where(DeadlineExtension.deadline_id == deadline_id)
            .order_by(col(DeadlineExtension.id))
        ).all()
    )


def overdue_days(due_at: datetime, tz: str, now: datetime) -> int:
    """Working days a deadline is late at `now` (0 when not late)."""
    if now <= due_at:
        return 0
    return max(working_days_between(_local_date(due_at, tz), _local_date(now, tz)), 0)


# --- the weekly digest -------------------------------------------------------------------------------

#: A region that sits this many working days in a stage without a deadline of its own is "stuck".
STUCK_WORKING_DAYS = 20


def build_digest(session: Session, now: datetime, policy: DeadlinePolicy | None = None) -> int:
    """Enqueue one digest per coordinator (no region) for the ISO week of `now`; returns rows added."""
    now = _aware(now, "now")
    coordinators = session.exec(
        select(Contact)
        .where(Contact.role == Role.coordinator, col(Contact.region_id).is_(None), col(Contact.active))
        .order_by(col(Contact.id))
    ).all()
    year, week, _ = _local_date(now, COORDINATOR_TZ).isocalendar()
    label = f"{year}-W{week:02d}"
    sections: dict[str, list[DigestSection]] = {}
    added = 0
    for c in coordinators:
        lang = lang_of(c.language)
        if lang not in sections:
            sections[lang] = digest_sections(session, now, lang, policy)
        ref = f"digest:{label}:{c.id}"
        subject, body = digest_message(label, sections[lang], lang, ref)
        added += insert_ignore(
            session,
            dict(
                dedupe_key=ref,
                deadline_id=None,
                rung=f"digest:{label}",
                contact_id=c.id,
                role=c.role,
                language=lang,
                subject=subject,
                body=body,
                status=NotificationStatus.pending,
                attempts=0,
                created_at=now,
                send_after=now,
            ),
        )
    return added


def digest_sections(
    session: Session, now: datetime, language: str, policy: DeadlinePolicy | None = None
) -> list[DigestSection]:
    """Per cohort with open regions: deadlines due within 7 days, overdue ones, and stuck regions (each cohort
    read with its own program: its closed stages, stage labels and milestone titles)."""
    lang = lang_of(language)
    rows = session.exec(
        select(Enrollment, Region, Cohort)
        .join(Region, col(Region.id) == Enrollment.region_id)
        .join(Cohort, col(Cohort.id) == Enrollment.cohort_id)
        .order_by(Cohort.name, Region.bps_code)
    ).all()
    by_enrollment: dict[int, list[Deadline]] = {}
    query = select(Deadline).where(Deadline.status == DeadlineStatus.open).order_by(col(Deadline.due_at))
    for d in session.exec(query).all():
        by_enrollment.setdefault(d.enrollment_id, []).append(d)
    sections: dict[str, DigestSection] = {}
    programs: dict[int, ProgramDefinition] = {}
    for enr, region, cohort in rows:
        if (cohort_id := row_id(cohort)) not in programs:
            programs[cohort_id] = program_of_cohort(session, cohort_id)
        program = programs[cohort_id]
        if enr.stage in program.closed:
            continue
        section = sections.setdefault(cohort.name, DigestSection(cohort.name))
        mine = policy or cohort_policy(session, row_id(cohort))
        stage_label = program.label(enr.stage, lang)
        _digest_region(section, enr, region, by_enrollment.get(row_id(enr), []), now, lang, mine, stage_label)
    return list(sections.values())


def _digest_region(
    section: DigestSection,
    enr: Enrollment,
    region: Region,
    deadlines: list[Deadline],
    now: datetime,
    lang: str,
    policy: DeadlinePolicy,
    stage_label: str,
) -> None:
    tz, who = region.timezone, f"{region.name} ({region.bps_code})"
    for d in deadlines:
        line = f"{who}: {_title(d, policy)[lang]}, {format_local_long(d.due_at, tz, lang)}"
        if d.due_at < now:
            section.overdue.append(f"{line} ({when_phrase(overdue_days(d.due_at, tz, now), lang)})")
        elif d.due_at < now + timedelta(days=7):
            section.due.append(line)
    idle = working_days_between(_local_date(enr.entered_stage_at, tz), _local_date(now, tz))
    if not any(d.kind == DeadlineKind.stage for d in deadlines) and idle > STUCK_WORKING_DAYS:
        since = "sejak" if lang == "id" else "since"
        section.stuck.append(
            f"{who}: {stage_label} {since} "
            f"{format_local_long(enr.entered_stage_at, tz, lang)} ({idle} "
            f"{'hari kerja' if lang == 'id' else 'working days'})"
        )


# --- announcements -----------------------------------------------------------------------------------


def first_send_at(now: datetime, tz: str, send_hour: int = 8, close_hour: int = 17) -> datetime:
    """`now` during local office hours on a working day, else the next 08:00 local: never at night."""
    day = _local_date(now, tz)
    if is_working_day(day) and local_at(day, tz, send_hour) <= now < local_at(day, tz, close_hour):
        return _utc(now)
    while not is_working_day(day) or local_at(day, tz, send_hour) < now:
        day += timedelta(days=1)
    return _utc(local_at(day, tz, send_hour))


def announce_deadline(session: Session, code: str, key: str | None, now: datetime, cohort: str | None = None) -> int:
    """Tell the region's PIC, once, that a deadline is running and when it falls due; rows enqueued.

    Without a key: the quick-win deadline of the region's program (`ProgramDefinition.quick_win_key`)."""
    if key is None:
        enrollment = find_enrollment(session, code, cohort)
        key = program_of_cohort(session, enrollment.cohort_id).quick_win_key
    d = find_deadline(session, code, key, cohort)
    region, tz = _zone_of(session, d.enrollment_id)
    enqueued = 0
    # PICs only: they cannot run `smartcity`, so the text says what to send to whom (their coordinator
    # registers the quick win). Coordinators get no copy per region: they follow it in the weekly digest.
    for _, contact in recipients(session, (Role.pic,), region):
        ref = f"start:{d.id}:{d.cycle}:{contact.id}"
        subject, body = announcement_message(
            region.name, _title(d, policy_of(session, d.enrollment_id)), key, d.due_at, tz, contact.language, ref
        )
        enqueued += insert_ignore(
            session,
            {
                "dedupe_key": ref,
                "deadline_id": d.id,
                "rung": "start",
                "contact_id": contact.id,
                "role": Role.pic,
                "language": lang_of(contact.language),
                "subject": subject,
                "body": body,
                "status": NotificationStatus.pending,
                "attempts": 0,
                "created_at": now,
                "send_after": first_send_at(now, tz),
            },
        )
    return enqueued
