"""The reconciler: follow-ups whose triggering event was lost, found from our own tables and done again.

Events are a signal and can be lost (a trigger action that met "database is locked" on the Prefect server is
not retried). Each event-triggered deployment of the registry has a follow-up that leaves a mark in our
database, so a region whose triggering change is older than the grace period and whose mark is missing is
stalled:

- selected -> drafting-setup: the region is still `selected` (the follow-up moves it to drafting);
- masterplan_completed -> quick-win-tracking: a PIC exists but no quick-win "start" notice was ever queued;
- quick_win_delivered -> close-region-file: no `smartcity.region.file_closed` outbox row (`file-closed:<id>`).

A repair does the follow-up's own domain operation with the follow-up's own idempotency key or marker, as of
the trigger's business time (what the lost run would have used), so a trigger that fires late too, or a second
reconcile, finds it done and changes nothing. Pure: no Prefect import.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from smartcity.models.core.errors import SmartCityError
from smartcity.models.core.program import close_file
from smartcity.models.core.tables import Cohort, Contact, Enrollment, EventOutbox, Region, StageTransition
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.ops import announce_deadline
from smartcity.models.deadlines.tables import Deadline, Notification
from smartcity.models.deadlines.workdays import format_local
from smartcity.models.infra.markdown import md_table
from smartcity.models.programs.definition import FollowUp
from smartcity.models.programs.store import program_of_cohort, programs_in_use
from smartcity.models.vocabulary import Role

ACTOR = "system:reconcile"


@dataclass(frozen=True, kw_only=True)
class Stalled:
    """A region whose follow-up did not happen within the grace period."""

    region_code: str
    name: str
    timezone: str
    cohort: str
    enrollment_id: int
    stage: str
    since: datetime  # the triggering change's business time (UTC), which the lost run would have used
    follow_up: FollowUp
    event_id: str | None  # the triggering event's id (its outbox row), the trigger's `event_id` parameter

    @property
    def marker(self) -> str:
        """The follow-up's own idempotency key or marker, shown so an operator can look it up."""
        if self.follow_up == FollowUp.drafting_setup:
            # No outbox row means no event was ever queued, so no trigger can come late: any key is safe.
            return f"drafting-setup:{self.event_id or f'enrollment-{self.enrollment_id}'}"
        if self.follow_up == FollowUp.close_region_file:
            return f"file-closed:{self.enrollment_id}"
        return "start notice of deadline quick-win"

    def as_dict(self) -> dict:
        """Plain data for JSON output and flow results (no contact, no URL)."""
        return {
            "region_code": self.region_code,
            "name": self.name,
            "cohort": self.cohort,
            "stage": self.stage,
            "since": self.since.isoformat(),
            "since_local": format_local(self.since, self.timezone),
            "follow_up": self.follow_up.value,
            "event_id": self.event_id,
            "marker": self.marker,
        }


@dataclass(frozen=True)
class Repair:
    """What the reconciler did for one stalled region: repaired, already done, refused, or would repair."""

    stalled: Stalled
    outcome: str
    detail: str = ""

    def as_dict(self) -> dict:
        """Plain data for JSON output and flow results."""
        return {**self.stalled.as_dict(), "outcome": self.outcome, "detail": self.detail}


# --- finding -----------------------------------------------------------------------------------------


def find_stalled(session: Session, *, now: datetime, grace: timedelta) -> list[Stalled]:
    """Regions whose triggering change is at least `grace` old at `now` and whose follow-up left no mark."""
    cutoff = now.astimezone(UTC) - grace
    followed = sorted({s for p in programs_in_use(session) for s in p.stage_names if p.follow_up(s)})
    found = session.exec(
        select(Enrollment, Region, Cohort)
        .join(Region, col(Enrollment.region_id) == Region.id)
        .join(Cohort, col(Enrollment.cohort_id) == Cohort.id)
        .where(col(Enrollment.stage).in_(followed), col(Enrollment.entered_stage_at) <= cutoff)
        .order_by(col(Enrollment.entered_stage_at), col(Region.bps_code))
    ).all()
    follow = {_id(e): program_of_cohort(session, e.cohort_id).follow_up(e.stage) for e, _, _ in found}
    rows = [(e, r, c) for e, r, c in found if follow[_id(e)] is not None]
    done = _quick_win_announced(session, [e for e, _, _ in rows if follow[_id(e)] == FollowUp.quick_win_tracking])
    done |= _files_closed(session, [e for e, _, _ in rows if follow[_id(e)] == FollowUp.close_region_file])
    waiting = [(e, r, c) for e, r, c in rows if e.id not in done]
    event_ids = _trigger_event_ids(session, [e for e, _, _ in waiting])
    return [
        Stalled(
            region_code=r.bps_code,
            name=r.name,
            timezone=r.timezone,
            cohort=c.name,
            enrollment_id=_id(e),
            stage=e.stage,
            since=e.entered_stage_at,
            follow_up=_follow(follow, e),
            event_id=event_ids.get(_id(e)),
        )
        for e, r, c in waiting
    ]


def _follow(follow: dict[int, FollowUp | None], enrollment: Enrollment) -> FollowUp:
    found = follow[_id(enrollment)]
    assert found is not None  # rows without a follow-up were dropped above
    return found


def _id(row: Enrollment) -> int:
    """A stored enrollment's id (never None once read from the database)."""
    assert row.id is not None
    return row.id


def _quick_win_announced(session: Session, enrollments: list[Enrollment]) -> set[int]:
    """Enrollments whose quick-win tracking is done: a start notice was queued, or there is no PIC to tell."""
    if not enrollments:
        return set()
    keys = {_id(e): program_of_cohort(session, e.cohort_id).quick_win_key for e in enrollments}
    deadlines = [
        (enr, d)
        for enr, d, key in session.exec(
            select(Deadline.enrollment_id, Deadline.id, Deadline.key).where(
                col(Deadline.enrollment_id).in_(list(keys)), col(Deadline.key).in_(set(keys.values()))
            )
        ).all()
        if keys[enr] == key
    ]
    announced = set(
        session.exec(
            select(Notification.deadline_id).where(
                col(Notification.deadline_id).in_([d for _, d in deadlines]), Notification.rung == "start"
            )
        ).all()
    )
    with_pic = set(
        session.exec(
            select(Contact.region_id).where(
                Contact.role == Role.pic, col(Contact.region_id).in_([e.region_id for e in enrollments])
            )
        ).all()
    )
    has_deadline = {enr for enr, _ in deadlines}
    # No quick-win deadline or no PIC: the follow-up has nothing to do, so it is not waiting for anything.
    nothing_to_do = {_id(e) for e in enrollments if e.region_id not in with_pic or _id(e) not in has_deadline}
    return {enr for enr, d in deadlines if d in announced} | nothing_to_do


def _files_closed(session: Session, enrollments: list[Enrollment]) -> set[int]:
    """Enrollments whose file-closed marker (outbox key `file-closed:<id>`) exists."""
    if not enrollments:
        return set()
    keys = {f"file-closed:{_id(e)}": _id(e) for e in enrollments}
    found = session.exec(select(EventOutbox.dedupe_key).where(col(EventOutbox.dedupe_key).in_(list(keys)))).all()
    return {keys[k] for k in found}


def _trigger_event_ids(session: Session, enrollments: list[Enrollment]) -> dict[int, str]:
    """Enrollment id -> id of the event its last transition queued (the triggering event)."""
    if not enrollments:
        return {}
    versions = {_id(e): e.version for e in enrollments}
    last = [
        t
        for t in session.exec(
            select(StageTransition).where(col(StageTransition.enrollment_id).in_(list(versions)))
        ).all()
        if versions[t.enrollment_id] == t.version
    ]
    keys = {f"transition:{t.id}:{t.idempotency_key}": t.enrollment_id for t in last}
    rows = session.exec(
        select(EventOutbox.dedupe_key, EventOutbox.event_id).where(col(EventOutbox.dedupe_key).in_(list(keys)))
    ).all()
    return {keys[key]: event_id for key, event_id in rows}


# --- repairing ---------------------------------------------------------------------------------------


def repair(session: Session, item: Stalled, *, now: datetime) -> Repair:
    """Do one stalled follow-up again, once, in its own transaction; a refusal is reported, not raised."""
    try:
        if item.follow_up == FollowUp.drafting_setup:
            result = change_stage(session, drafting_change(session, item, now=now), now=item.since)
            done = result.status == "applied"
        elif item.follow_up == FollowUp.quick_win_tracking:
            done = announce_deadline(session, item.region_code, None, item.since, item.cohort) > 0
        else:
            done = close_file(session, item.region_code, cohort=item.cohort, at=item.since)
        session.commit()
    except SmartCityError as exc:
        session.rollback()
        return Repair(item, "refused", str(exc))
    return Repair(item, "repaired" if done else "already done", item.marker)


def drafting_change(session: Session, item: Stalled, *, now: datetime) -> StageChange:
    """The stage change drafting-setup would have made (the automatic edge), under its own idempotency key."""
    cohort_id = session.get_one(Enrollment, item.enrollment_id).cohort_id
    edge = program_of_cohort(session, cohort_id).automatic_from(item.stage)
    assert edge is not None  # found stalled because its program has this edge
    return StageChange(
        region_code=item.region_code,
        to=edge.target,
        actor=ACTOR,
        cohort=item.cohort,
        reason=f"{item.stage}: {edge.target} starts (reconciled at {now.astimezone(UTC).isoformat()}: "
        "no drafting-setup run within the grace period)",
        idempotency_key=item.marker,
    )


def reconcile(session: Session, *, now: datetime, grace: timedelta, dry_run: bool = False) -> list[Repair]:
    """Find every stalled region and repair it (or, with `dry_run`, only say what would be repaired)."""
    stalled = find_stalled(session, now=now, grace=grace)
    session.rollback()  # end the read transaction: each repair below is its own transaction
    if dry_run:
        return [Repair(item, "would repair", item.marker) for item in stalled]
    return [repair(session, item, now=now) for item in stalled]


# --- showing -----------------------------------------------------------------------------------------


def stalled_line(item: Stalled) -> str:
    """One line for `smartcity status`: code, name, waiting since (local time), for what."""
    return (
        f"  {item.region_code} {item.name:<32} {item.stage} since {format_local(item.since, item.timezone)}, "
        f"waiting for {item.follow_up}"
    )


def repairs_markdown(repairs: list[Repair], *, now: datetime, grace: timedelta) -> str:
    """The `reconcile` artifact: a markdown table of what was repaired (no contact, no URL)."""
    minutes = int(grace.total_seconds() // 60)
    head = [
        f"# Reconcile as of {now.astimezone(UTC).isoformat()}",
        "",
        f"Follow-ups missing more than {minutes} min after their triggering change.",
    ]
    if not repairs:
        return "\n".join([*head, "", "Nothing stalled: every triggered follow-up happened."])
    rows = [
        [
            r.stalled.region_code,
            r.stalled.name,
            r.stalled.cohort,
            r.stalled.stage,
            format_local(r.stalled.since, r.stalled.timezone),
            r.stalled.follow_up.value,
            r.outcome,
            r.detail,
        ]
        for r in repairs
    ]
    table = md_table(["region", "name", "cohort", "stage", "waiting since", "follow-up", "outcome", "detail"], rows)
    return "\n".join([*head, "", table])
