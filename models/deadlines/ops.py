"""Deadlines of a region: opened when it enters a stage, extended with a reason, reminded on a ladder.

No Prefect here. Times are UTC in the database; every rung is sent at 08:00 local time of the
recipient (the region's zone; Asia/Jakarta for coordinators without a region).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from smartcity.models.core import audit
from smartcity.models.core.errors import BadInput, DomainRefused, NotFound
from smartcity.models.core.stages import TERMINAL
from smartcity.models.core.tables import Cohort, Contact, Enrollment, Region
from smartcity.models.deadlines.policy import DeadlinePolicy, ReminderRung, compute_due, default_policy, extend_due
from smartcity.models.deadlines.tables import Deadline, DeadlineExtension, Notification
from smartcity.models.deadlines.workdays import (
    add_working_days,
    format_local,
    is_working_day,
    local_at,
    working_days_between,
    zone,
)
from smartcity.models.notifications.notices import (
    STAGES,
    DigestSection,
    ReminderFacts,
    digest_message,
    format_local_long,
    item_title,
    lang_of,
    reminder_message,
    when_phrase,
)
from sqlalchemy import bindparam, update
from sqlmodel import Session, select

#: The key of each stage's own deadline (the deliverable that closes the stage).
STAGE_KEYS = {"drafting": "masterplan", "masterplan_completed": "quick-win"}
#: Coordinators have no region: they read their mail on Jakarta time.
COORDINATOR_TZ = "Asia/Jakarta"
SWEEP_BATCH = 500


def _policy(policy: DeadlinePolicy | None) -> DeadlinePolicy:
    return policy or default_policy()


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadInput(f"{name} must be timezone-aware (give a UTC offset, e.g. +07:00)")
    return value.astimezone(UTC)


def parse_instant(text: str, name: str = "--now") -> datetime:
    """An ISO instant with its offset, as UTC; a naive or malformed value is BadInput (exit 2)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{name} {text!r} is not an ISO date-time (e.g. 2017-09-01T08:00+07:00)") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadInput(f"{name} {text!r} has no UTC offset: write e.g. 2017-09-01T08:00+07:00 for 08:00 WIB")
    return value.astimezone(UTC)


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


def recipient_zone(role: str, region_tz: str) -> str:
    """Zone whose 08:00 a recipient of `role` gets the rung at."""
    return COORDINATOR_TZ if role == "coordinator" else region_tz


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

def open_stage_deadlines(session: Session, enrollment: Enrollment, stage: str, entered_at: datetime, *,
                         actor: str | None = None, advanced: bool = False,
                         policy: DeadlinePolicy | None = None) -> list[Deadline]:
    """Close the deadlines of the stage left and open the new stage's deadline and milestones.

    Called by `change_stage` in its transaction. Leaving a stage by an advance marks its own
    deadline done; everything else still open there (milestones, withdrawals) is cancelled.
    """
    policy, now = _policy(policy), _aware(entered_at, "entered_at")
    _close_left_stages(session, enrollment.id, stage, now, actor, advanced)
    _, tz = _zone_of(session, enrollment.id)
    have = set(session.exec(select(Deadline.key).where(
        Deadline.enrollment_id == enrollment.id, Deadline.status == "open")).all())
    specs: list[tuple[str, str, int]] = []
    if (rule := policy.rule_for(stage)) is not None:
        specs.append(("stage", STAGE_KEYS.get(stage, stage), rule.working_days))
    specs += [("milestone", m.key, m.working_days) for m in policy.milestones_for(stage)]
    created = []
    for kind, key, days in specs:
        if key in have:  # idempotent: a re-run never doubles a deadline
            continue
        d = Deadline(enrollment_id=enrollment.id, kind=kind, key=key, stage=stage, created_at=now,
                     due_at=compute_due(now, tz, days, policy.due_hour))
        _schedule(d, tz, policy, now)
        session.add(d)
        created.append(d)
    session.flush()
    return created


def open_review_deadline(session: Session, enrollment_id: int, assignment_id: int, assigned_at: datetime,
                         policy: DeadlinePolicy | None = None) -> Deadline | None:
    """A reviewer's deadline (10 working days by default), on the same reminder ladder as the region's."""
    policy, now = _policy(policy), _aware(assigned_at, "assigned_at")
    rule = policy.rule_for("review")
    if rule is None:
        return None
    _, tz = _zone_of(session, enrollment_id)
    d = Deadline(enrollment_id=enrollment_id, kind="review", key=f"review:{assignment_id}", stage="drafting",
                 created_at=now, due_at=compute_due(now, tz, rule.working_days, policy.due_hour))
    _schedule(d, tz, policy, now)
    session.add(d)
    session.flush()
    return d


def close_review_deadlines(session: Session, assignment_ids: list[int], now: datetime, *, done_by: str | None,
                           done: bool) -> None:
    """A review came in (done) or its round closed without it (cancelled): stop its reminders."""
    keys = [f"review:{i}" for i in assignment_ids]
    for d in session.exec(select(Deadline).where(Deadline.key.in_(keys), Deadline.status == "open")).all():
        d.status = "done" if done else "cancelled"
        d.done_at, d.done_by = (now, done_by) if done else (None, None)
        d.next_rung, d.next_rung_at = None, None
        session.add(d)
        cancel_pending(session, d.id)


def _close_left_stages(session: Session, enrollment_id: int, stage: str, now: datetime,
                       actor: str | None, advanced: bool) -> None:
    rows = session.exec(select(Deadline).where(
        Deadline.enrollment_id == enrollment_id, Deadline.status == "open", Deadline.stage != stage)).all()
    for d in rows:
        met = advanced and d.kind == "stage"
        d.status = "done" if met else "cancelled"
        d.done_at, d.done_by = (now, actor) if met else (None, None)
        d.next_rung, d.next_rung_at = None, None
        session.add(d)
        cancel_pending(session, d.id)


def cancel_pending(session: Session, deadline_id: int | None) -> int:
    """Withdraw reminders of a deadline that wait to be sent or addressed (rows being sent are left alone)."""
    res = session.execute(update(Notification).where(
        Notification.deadline_id == deadline_id,
        Notification.status.in_(["pending", "unaddressed"])).values(status="cancelled"))  # type: ignore[attr-defined]
    return res.rowcount


def extend_deadline(session: Session, deadline_id: int, working_days: int, reason: str, actor: str,
                    now: datetime, policy: DeadlinePolicy | None = None) -> Deadline:
    """Push an open deadline `working_days` later, record why and who, and restart its reminders."""
    now = _aware(now, "now")
    if not (reason or "").strip():
        raise BadInput("an extension needs a --reason")
    if not (actor or "").strip():
        raise BadInput("an extension needs an --actor")
    if working_days < 1:
        raise BadInput(f"--days must be at least 1 (got {working_days})")
    d = session.get(Deadline, deadline_id)
    if d is None:
        raise NotFound(f"deadline {deadline_id} does not exist")
    region, tz = _zone_of(session, d.enrollment_id)
    if d.status != "open":
        raise DomainRefused(f"region {region.bps_code}: deadline {d.key} is {d.status}, it cannot be extended")
    old = d.due_at
    d.due_at = extend_due(old, tz, working_days)
    session.add(DeadlineExtension(deadline_id=d.id, old_due=old, new_due=d.due_at, working_days=working_days,
                                  reason=reason.strip(), actor=actor.strip(), at=now))
    audit.record(session, kind="deadline_extended", subject=f"region {region.bps_code} deadline {d.key}",
                 actor=actor.strip(), at=now,
                 content={"deadline_id": d.id, "key": d.key, "old_due": _utc(old).isoformat(),
                          "new_due": _utc(d.due_at).isoformat(), "working_days": working_days,
                          "reason": reason.strip()})
    d.extended, d.cycle = True, d.cycle + 1
    cancel_pending(session, d.id)
    _schedule(d, tz, _policy(policy), now)
    session.add(d)
    session.flush()
    return d


def find_deadline(session: Session, code: str, key: str, cohort: str | None = None) -> Deadline:
    """The region's latest deadline called `key` (open ones first)."""
    from smartcity.models.core.transitions import find_enrollment  # transitions imports this module

    enr = find_enrollment(session, code.strip(), cohort)
    rows = session.exec(select(Deadline).where(Deadline.enrollment_id == enr.id, Deadline.key == key)
                        .order_by(Deadline.id.desc())).all()  # type: ignore[union-attr]
    if not rows:
        keys = session.exec(select(Deadline.key).where(
            Deadline.enrollment_id == enr.id, Deadline.status == "open")).all()
        raise NotFound(f"region {code}: no deadline {key!r} (open: {', '.join(sorted(keys)) or 'none'})")
    return next((d for d in rows if d.status == "open"), rows[0])


def complete_milestone(session: Session, code: str, key: str, actor: str, at: datetime,
                       cohort: str | None = None) -> tuple[Deadline, bool]:
    """Record a milestone (e.g. bimtek-1) done by `actor` at `at`; returns (row, changed)."""
    at = _aware(at, "--at")
    if not (actor or "").strip():
        raise BadInput("--actor must name who records the milestone")
    d = find_deadline(session, code, key, cohort)
    if d.kind != "milestone":
        raise DomainRefused(f"region {code}: {key} is a {d.kind} deadline, not a milestone; it closes "
                            "when the region advances")
    if d.status == "done":
        return d, False
    if d.status != "open":
        raise DomainRefused(f"region {code}: milestone {key} is {d.status}")
    d.status, d.done_at, d.done_by = "done", at, actor.strip()
    d.next_rung, d.next_rung_at = None, None
    cancel_pending(session, d.id)
    session.add(d)
    session.flush()
    return d, True


# --- the sweep ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Planned:
    """One reminder the sweep would enqueue."""

    deadline_id: int
    cycle: int
    rung_index: int
    row: dict[str, Any]


def due_deadlines(session: Session, now: datetime, limit: int = SWEEP_BATCH) -> list[Deadline]:
    """Open deadlines whose next rung is due: one range scan of ix_deadline_sweep."""
    return list(session.exec(select(Deadline).where(Deadline.status == "open", Deadline.next_rung_at <= now)
                             .order_by(Deadline.next_rung_at, Deadline.id).limit(limit)).all())


def _latest_due_rung(d: Deadline, tz: str, policy: DeadlinePolicy, now: datetime) -> int | None:
    """Index of the latest rung due by `now` from the deadline's pointer on.

    After downtime several rungs can be due at once: only the latest is sent, because an old
    'due in 14 days' is wrong by now. Coordinators still see everything in the weekly digest.
    """
    keys = [r.key for r in policy.ladder]
    if d.next_rung not in keys:
        return None
    found = None
    for i in range(keys.index(d.next_rung), len(keys)):
        if rung_first_at(d.due_at, tz, policy.ladder[i], policy.send_hour) <= now:
            found = i
    return found


def _title(d: Deadline, policy: DeadlinePolicy) -> dict[str, str]:
    milestone = next((m for m in policy.milestones if m.key == d.key), None)
    return item_title(d.kind, d.key, milestone.title.model_dump() if milestone else None)


def review_recipients(session: Session, d: Deadline, roles: tuple[str, ...],
                      region: Region) -> list[tuple[str, Contact]]:
    """For a review deadline the ladder's PIC is the reviewer; coordinator and escalation stay the region's."""
    from smartcity.models.reviews.tables import ReviewAssignment, Reviewer

    assignment = session.get(ReviewAssignment, int(d.key.split(":", 1)[1]))
    reviewer = session.get(Reviewer, assignment.reviewer_id) if assignment else None
    contact = session.get(Contact, reviewer.contact_id) if reviewer and reviewer.contact_id else None
    out = [("pic", contact)] if "pic" in roles and contact is not None else []
    return out + recipients(session, tuple(r for r in roles if r != "pic"), region)


def recipients(session: Session, roles: tuple[str, ...], region: Region) -> list[tuple[str, Contact]]:
    """(role, contact) for each role: region PIC/escalation by region, coordinators without a region."""
    if "contacts" in session.info:  # preloaded by the sweep for its batch: {(role, region_id): [contact]}
        index = session.info["contacts"]
        return [(role, c) for role in roles
                for c in index.get((role, None if role == "coordinator" else region.id), [])]
    out: list[tuple[str, Contact]] = []
    for role in roles:
        query = select(Contact).where(Contact.role == role)
        query = query.where(Contact.region_id.is_(None) if role == "coordinator"  # type: ignore[union-attr]
                            else Contact.region_id == region.id)
        out += [(role, c) for c in session.exec(query.order_by(Contact.id)).all()]
    return out


def _plan_one(session: Session, d: Deadline, now: datetime, policy: DeadlinePolicy) -> list[Planned] | None:
    """The rows of the latest due rung: one per contact of each recipient role, and one 'unaddressed' row
    for each role that has no contact (kept and listed, and addressed by `contacts add`, never dropped)."""
    region, tz = _zone_of(session, d.enrollment_id)
    index = _latest_due_rung(d, tz, policy, now)
    if index is None:
        return None
    rung = policy.ladder[index]
    people = (review_recipients(session, d, rung.recipients, region) if d.kind == "review"
              else recipients(session, rung.recipients, region))
    missing = [(role, None) for role in rung.recipients if role not in {r for r, _ in people}]
    return [Planned(d.id, d.cycle, index, reminder_row(d, rung, role, contact, region, policy, now))
            for role, contact in people + missing]


def reminder_row(d: Deadline, rung: ReminderRung, role: str, contact: Contact | None, region: Region,
                 policy: DeadlinePolicy, now: datetime) -> dict[str, Any]:
    """The notification row of one rung for one recipient (or, with no contact, for the role it awaits)."""
    tz = region.timezone
    ref = f"rem:{d.id}:{d.cycle}:{rung.key}:" + (str(contact.id) if contact else f"{role}:unaddressed")
    facts = ReminderFacts(region.name, region.bps_code, d.stage, d.kind, d.key, _title(d, policy), d.due_at, tz,
                          rung.offset, role, ref)
    language = contact.language if contact else "id"
    subject, body = reminder_message(facts, language)
    send_after = _utc(local_at(rung_day(d.due_at, tz, rung), recipient_zone(role, tz), policy.send_hour))
    return dict(dedupe_key=ref, deadline_id=d.id, rung=rung.key, contact_id=contact.id if contact else None,
                role=role, language=language, subject=subject, body=body,
                status="pending" if contact else "unaddressed", attempts=0, created_at=now, send_after=send_after)


def address_waiting(session: Session, contact: Contact, now: datetime, policy: DeadlinePolicy | None = None, *,
                    review_keys: list[str] | None = None) -> int:
    """Give a new contact the reminders that waited for its role (and region); returns how many.

    With `review_keys` ("review:<assignment id>"), the contact is a reviewer's and takes the waiting
    reminders of those review deadlines instead (the ladder's PIC of a review deadline is the reviewer).
    Per deadline only the latest waiting rung is sent (an old 'due in 14 days' is wrong by now, as
    after downtime); older ones are cancelled. Reminders of closed deadlines were cancelled with them.
    """
    policy = _policy(policy)
    query = (select(Notification, Deadline, Region)
             .join(Deadline, Deadline.id == Notification.deadline_id)
             .join(Enrollment, Enrollment.id == Deadline.enrollment_id)
             .join(Region, Region.id == Enrollment.region_id)
             .where(Notification.status == "unaddressed", Deadline.status == "open"))
    if review_keys is not None:
        query = query.where(Deadline.kind == "review", Deadline.key.in_(review_keys),  # type: ignore[attr-defined]
                            Notification.role == "pic")
    else:
        query = query.where(Deadline.kind != "review", Notification.role == contact.role)
        if contact.region_id is not None:
            query = query.where(Region.id == contact.region_id)
    latest: dict[int, tuple[Notification, Deadline, Region]] = {}
    for n, d, r in session.exec(query.order_by(Notification.id)).all():
        if d.id in latest:
            latest[d.id][0].status = "cancelled"
        latest[d.id] = (n, d, r)
    rungs = {r.key: r for r in policy.ladder}
    for n, d, region in latest.values():
        row = reminder_row(d, rungs[n.rung], n.role or contact.role, contact, region, policy, now)
        for field in ("dedupe_key", "contact_id", "language", "subject", "body", "status"):
            setattr(n, field, row[field])
    session.flush()
    return len(latest)


def plan_sweep(session: Session, now: datetime, policy: DeadlinePolicy | None = None) -> list[dict[str, Any]]:
    """What a sweep at `now` would enqueue (not yet in the outbox); writes nothing."""
    now, policy = _aware(now, "now"), _policy(policy)
    out = []
    for d in due_deadlines(session, now, limit=100_000):
        for p in _plan_one(session, d, now, policy) or []:
            if p.row and session.exec(select(Notification.id).where(
                    Notification.dedupe_key == p.row["dedupe_key"])).first() is None:
                out.append(p.row)
    return out


def sweep(session: Session, now: datetime, policy: DeadlinePolicy | None = None) -> int:
    """Enqueue every reminder due at `now` exactly once; returns how many were enqueued for sending
    (reminders for a role with no contact are kept as 'unaddressed' rows and not counted)."""
    now, policy = _aware(now, "now"), _policy(policy)
    enqueued = 0
    try:
        while batch := due_deadlines(session, now):
            held = _preload(session, batch)  # noqa: F841 - the session's identity map holds rows weakly
            plans = [(d, _plan_one(session, d, now, policy)) for d in batch]
            moves = [_move(session, d, plan, policy) for d, plan in plans]
            moved = _move_pointers(session, moves)
            rows = [p.row for (d, plan) in plans if d.id in moved for p in plan or []]
            enqueued += insert_ignore_many(session, [r for r in rows if r["status"] == "pending"])
            insert_ignore_many(session, [r for r in rows if r["status"] != "pending"])
            for d in batch:
                session.expire(d)
            session.flush()
    finally:
        session.info.pop("contacts", None)
    return enqueued


def _preload(session: Session, batch: list[Deadline]) -> list:
    """Load the batch's enrollments, regions and contacts in three queries, so the per-deadline lookups
    hit the session (the sweep's cost then grows with what is due, a few statements per reminder)."""
    ids = {d.enrollment_id for d in batch}
    rows = session.exec(select(Enrollment, Region).join(Region, Enrollment.region_id == Region.id)
                        .where(Enrollment.id.in_(ids))).all()  # type: ignore[union-attr]
    regions = {r.id for _, r in rows}
    contacts = session.exec(select(Contact).where(
        Contact.region_id.in_(regions) | Contact.region_id.is_(None))).all()  # type: ignore[union-attr]
    index: dict[tuple[str, int | None], list[Contact]] = {}
    for c in sorted(contacts, key=lambda c: c.id):
        index.setdefault((c.role, c.region_id), []).append(c)
    session.info["contacts"] = index
    return [rows, contacts]


def _move(session: Session, d: Deadline, plan: list[Planned] | None, policy: DeadlinePolicy) -> dict[str, Any]:
    """Parameters of the compare-and-set that moves the deadline's rung pointer past the rung it sends."""
    _, tz = _zone_of(session, d.enrollment_id)
    index = plan[0].rung_index if plan else None
    nxt = None if index is None or index + 1 >= len(policy.ladder) else policy.ladder[index + 1]
    return {"d_id": d.id, "d_cycle": d.cycle, "d_rung": d.next_rung, "new_rung": nxt.key if nxt else None,
            "new_at": rung_first_at(d.due_at, tz, nxt, policy.send_hour) if nxt else None}


#: Compare-and-set on the pointer: of two sweeps (or a sweep and an extension), one moves it.
_MOVE = (update(Deadline)
         .where(Deadline.id == bindparam("d_id"), Deadline.cycle == bindparam("d_cycle"),
                Deadline.next_rung == bindparam("d_rung"), Deadline.status == "open")
         .values(next_rung=bindparam("new_rung"), next_rung_at=bindparam("new_at")))


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


def insert_ignore_many(session: Session, rows: list[dict[str, Any]]) -> int:
    """INSERT notifications whose dedupe keys are new, in multi-row statements; how many went in."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    if not rows:
        return 0
    table = Notification.__table__  # type: ignore[attr-defined]
    stmt = insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
    # One statement compiled once; SQLAlchemy's "insertmanyvalues" sends it as multi-row INSERTs.
    # RETURNING, not rowcount: drivers disagree on rowcount for a skipped conflicting insert.
    return len(session.connection().execute(stmt, rows).all())


# --- reading -----------------------------------------------------------------------------------------

def list_deadlines(session: Session, code: str | None = None, include_closed: bool = True) -> list[dict]:
    """Deadlines with local times (WIB/WITA/WIT), oldest due first; one region when `code` is given."""
    query = (select(Deadline, Region).join(Enrollment, Enrollment.id == Deadline.enrollment_id)
             .join(Region, Region.id == Enrollment.region_id))
    if code:
        if session.exec(select(Region.id).where(Region.bps_code == code.strip())).first() is None:
            raise NotFound(f"region {code}: not in the registry")
        query = query.where(Region.bps_code == code.strip())
    if not include_closed:
        query = query.where(Deadline.status == "open")
    rows = session.exec(query.order_by(Deadline.due_at, Deadline.id)).all()
    return [_deadline_dict(d, r) for d, r in rows]


def _deadline_dict(d: Deadline, region: Region) -> dict:
    tz = region.timezone
    return {
        "id": d.id, "bps_code": region.bps_code, "region": region.name, "kind": d.kind, "key": d.key,
        "stage": d.stage, "status": d.status, "due_local": format_local(d.due_at, tz),
        "due_at": d.due_at.isoformat(), "extended": d.extended, "done_by": d.done_by,
        "done_local": format_local(d.done_at, tz) if d.done_at else None, "next_rung": d.next_rung,
        "next_rung_local": format_local(d.next_rung_at, tz) if d.next_rung_at else None,
    }


def extensions_of(session: Session, deadline_id: int) -> list[DeadlineExtension]:
    """The extension history of a deadline, oldest first."""
    return list(session.exec(select(DeadlineExtension).where(DeadlineExtension.deadline_id == deadline_id)
                             .order_by(DeadlineExtension.id)).all())


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
    now, policy = _aware(now, "now"), _policy(policy)
    coordinators = session.exec(select(Contact).where(
        Contact.role == "coordinator", Contact.region_id.is_(None)).order_by(Contact.id)).all()  # type: ignore
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
        added += insert_ignore(session, dict(
            dedupe_key=ref, deadline_id=None, rung=f"digest:{label}", contact_id=c.id, role=c.role, language=lang,
            subject=subject, body=body, status="pending", attempts=0, created_at=now, send_after=now))
    return added


def digest_sections(session: Session, now: datetime, language: str,
                    policy: DeadlinePolicy | None = None) -> list[DigestSection]:
    """Per cohort with open regions: deadlines due within 7 days, overdue ones, and stuck regions."""
    policy, lang = _policy(policy), lang_of(language)
    rows = session.exec(select(Enrollment, Region, Cohort).join(Region, Region.id == Enrollment.region_id)
                        .join(Cohort, Cohort.id == Enrollment.cohort_id)
                        .where(Enrollment.stage.not_in([s.value for s in TERMINAL]))  # type: ignore
                        .order_by(Cohort.name, Region.bps_code)).all()
    by_enrollment: dict[int, list[Deadline]] = {}
    for d in session.exec(select(Deadline).where(Deadline.status == "open").order_by(Deadline.due_at)).all():
        by_enrollment.setdefault(d.enrollment_id, []).append(d)
    sections: dict[str, DigestSection] = {}
    for enr, region, cohort in rows:
        section = sections.setdefault(cohort.name, DigestSection(cohort.name))
        _digest_region(section, enr, region, by_enrollment.get(enr.id, []), now, lang, policy)
    return list(sections.values())


def _digest_region(section: DigestSection, enr: Enrollment, region: Region, deadlines: list[Deadline],
                   now: datetime, lang: str, policy: DeadlinePolicy) -> None:
    tz, who = region.timezone, f"{region.name} ({region.bps_code})"
    for d in deadlines:
        line = f"{who}: {_title(d, policy)[lang]}, {format_local_long(d.due_at, tz, lang)}"
        if d.due_at < now:
            section.overdue.append(f"{line} ({when_phrase(overdue_days(d.due_at, tz, now), lang)})")
        elif d.due_at < now + timedelta(days=7):
            section.due.append(line)
    idle = working_days_between(_local_date(enr.entered_stage_at, tz), _local_date(now, tz))
    if not any(d.kind == "stage" for d in deadlines) and idle > STUCK_WORKING_DAYS:
        since = "sejak" if lang == "id" else "since"
        section.stuck.append(f"{who}: {STAGES[lang].get(enr.stage, enr.stage)} {since} "
                             f"{format_local_long(enr.entered_stage_at, tz, lang)} ({idle} "
                             f"{'hari kerja' if lang == 'id' else 'working days'})")


# --- announcements -----------------------------------------------------------------------------------

def first_send_at(now: datetime, tz: str, send_hour: int = 8, close_hour: int = 17) -> datetime:
    """`now` during local office hours on a working day, else the next 08:00 local: never at night."""
    day = _local_date(now, tz)
    if is_working_day(day) and local_at(day, tz, send_hour) <= now < local_at(day, tz, close_hour):
        return _utc(now)
    while not is_working_day(day) or local_at(day, tz, send_hour) < now:
        day += timedelta(days=1)
    return _utc(local_at(day, tz, send_hour))


def announce_deadline(session: Session, code: str, key: str, now: datetime, cohort: str | None = None) -> int:
    """Tell the region's PIC, once, that a deadline is running and when it falls due; rows enqueued."""
    d = find_deadline(session, code, key, cohort)
    region, tz = _zone_of(session, d.enrollment_id)
    due = format_local(d.due_at, tz)
    enqueued = 0
    for _, contact in recipients(session, ("pic",), region):
        english = lang_of(contact.language) == "en"
        subject = (f"{region.name}: {key} due {due}" if english else f"{region.name}: {key} jatuh tempo {due}")
        body = (f"Tracking of {key} has started for {region.name}. It is due {due}. Register it with "
                f"`smartcity quickwin register`." if english else
                f"Pemantauan {key} untuk {region.name} dimulai. Batas waktunya {due}. Daftarkan dengan "
                f"`smartcity quickwin register`.")
        ref = f"start:{d.id}:{d.cycle}:{contact.id}"
        enqueued += insert_ignore(session, {
            "dedupe_key": ref, "deadline_id": d.id, "rung": "start", "contact_id": contact.id,
            "language": lang_of(contact.language), "subject": subject[:300], "body": f"{body}\n\nRef: {ref}",
            "status": "pending", "attempts": 0, "created_at": now, "send_after": first_send_at(now, tz)})
    return enqueued
