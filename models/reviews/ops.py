"""Masterplan reviews: the rubric, the reviewer pool, assignment without conflicts of interest,
rounds, reviews and the quorum that moves a region to masterplan_completed. No Prefect here.

Decision (sub-state): a region stays in `drafting` for the whole review. A round is the sub-state:
`open` while reviewers answer, then `approved` (the region moves to masterplan_completed in the
same commit) or `revision_requested` (the region never left drafting; the next submission opens
round n+1). Rounds, assignments and reviews are kept forever: they are the review history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from smartcity.models.core import audit, events
from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.errors import BadInput, DomainRefused, NotFound
from smartcity.models.core.tables import Cohort, Contact, Enrollment, Region
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.infra.db import row_id
from smartcity.models.infra.markdown import md_table
from smartcity.models.infra.settings import get_settings
from smartcity.models.programs.definition import Edge
from smartcity.models.programs.store import program_of_enrollment
from smartcity.models.reviews.tables import MasterplanRound, Review, ReviewAssignment, Reviewer, ReviewerConflict
from smartcity.models.vocabulary import Decision, Dimension, Role, RoundStatus, values

#: The rubric of the 2017 masterplans: each dimension's value -> its name ("governance" -> "Smart Governance").
#: Keyed by the plain value, not the member: the keys become form field names and JSON keys, and orjson
#: (Prefect's run-input store) refuses a dict key that is a str subclass.
RUBRIC: dict[str, str] = {d.value: f"Smart {d.value.capitalize()}" for d in Dimension}
SOURCES = ("cli", "ui")


# ---------------------------------------------------------------- rubric and validation


class DimensionScore(BaseModel):
    """One rubric dimension: a score 1..5 and an optional comment."""

    model_config = ConfigDict(extra="forbid")
    score: int
    comment: str | None = Field(default=None, max_length=1000)

    @field_validator("score", mode="before")
    @classmethod
    def _score_in_range(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
            raise ValueError(f"score must be a whole number 1..5 (got {value!r})")
        if not 1 <= int(value) <= 5:
            raise ValueError(f"score must be 1..5 (got {int(value)})")
        return int(value)


class ReviewSubmission(BaseModel):
    """A complete review: every rubric dimension scored, and a decision."""

    model_config = ConfigDict(extra="forbid")
    scores: dict[str, DimensionScore]
    decision: Decision
    comment: str | None = Field(default=None, max_length=2000)

    @field_validator("scores", mode="before")
    @classmethod
    def _all_dimensions(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("scores must map each rubric dimension to a score")
        unknown = sorted(set(value) - set(RUBRIC))
        missing = [k for k in RUBRIC if k not in value]
        if unknown:
            raise ValueError(f"unknown rubric dimension(s) {', '.join(unknown)} (valid: {', '.join(RUBRIC)})")
        if missing:
            raise ValueError(f"missing rubric dimension(s) {', '.join(missing)}: score all six")
        return {k: (v if isinstance(v, dict | DimensionScore) else {"score": v}) for k, v in value.items()}

    def stored_scores(self) -> dict[str, dict[str, Any]]:
        """The JSON stored in review.scores, in rubric order."""
        return {k: self.scores[k].model_dump() for k in RUBRIC}


def parse_submission(data: dict[str, Any]) -> ReviewSubmission:
    """Validate a review; BadInput with one line (and every problem in `errors`) when it is wrong."""
    try:
        return ReviewSubmission.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(e) for e in exc.errors()]
        more = f" (+{len(problems) - 1} more, listed below)" if len(problems) > 1 else ""
        raise BadInput(f"review rejected: {problems[0]}{more}", problems if more else None) from None


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"] if p not in ("scores", "score"))
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] == "enum":  # pydantic lists the values quoted; say it as the form does
        msg = f"must be {' or '.join(Decision)} (got {error.get('input')!r})"
    return f"{where}: {msg}" if where else msg


def submission_from_form(form: dict[str, Any]) -> tuple[int, ReviewSubmission]:
    """(reviewer_id, submission) from the flat UI form: governance=4, governance_comment='…', …"""
    scores = {k: {"score": form.get(k), "comment": form.get(f"{k}_comment") or None} for k in RUBRIC}
    submission = parse_submission(
        {"scores": scores, "decision": form.get("decision"), "comment": form.get("comment") or None}
    )
    try:
        return int(form["reviewer_id"]), submission
    except (KeyError, TypeError, ValueError):
        raise BadInput(
            f"review rejected: reviewer_id must be a reviewer's number (got {form.get('reviewer_id')!r})"
        ) from None


def parse_expertise(text: str | Iterable[str]) -> list[Dimension]:
    """Rubric dimensions from 'governance,economy'; BadInput naming any unknown one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    keys = list(dict.fromkeys(i.strip().lower() for i in items if i.strip()))
    unknown = [k for k in keys if k not in RUBRIC]
    if unknown or not keys:
        raise BadInput(
            f"expertise {', '.join(unknown) or '(empty)'} is not a rubric dimension (valid: {values(Dimension)})"
        )
    return [Dimension(k) for k in keys]


# ---------------------------------------------------------------- assignment (pure)


@dataclass(frozen=True)
class Candidate:
    """A reviewer as the assignment rule sees them."""

    id: int
    name: str
    home_province: str
    open_load: int = 0
    expertise: tuple[str, ...] = ()
    active: bool = True
    conflicts: frozenset[int] = frozenset()  # region ids with a declared conflict


@dataclass(frozen=True)
class Pick:
    """A chosen reviewer and why."""

    reviewer_id: int
    why: str


def conflict_of(c: Candidate, region_id: int, province: str) -> str | None:
    """Why `c` may not review this region, or None."""
    if c.home_province.strip().casefold() == province.strip().casefold():
        return f"same home province ({province})"
    if region_id in c.conflicts:
        return "declared conflict"
    return None


def choose_reviewers(pool: list[Candidate], *, region_id: int, province: str, n: int, label: str) -> list[Pick]:
    """All-or-nothing: n conflict-free active reviewers, fewest open reviews first, then widest new
    rubric coverage, then lowest id; DomainRefused (nothing chosen) when the pool is too small."""
    if n < 1:
        raise BadInput(f"{label}: at least one reviewer is needed (asked for {n})")
    active = [c for c in pool if c.active]
    reasons = {c.id: conflict_of(c, region_id, province) for c in active}
    eligible = [c for c in active if reasons[c.id] is None]
    if len(eligible) < n:
        same = sum(1 for r in reasons.values() if r and r.startswith("same"))
        declared = sum(1 for r in reasons.values() if r == "declared conflict")
        raise DomainRefused(
            f"{label}: only {len(eligible)} eligible reviewer(s), {n} needed ({len(active)} active in the pool; "
            f"excluded: {same} from {province}, {declared} with a declared conflict); nothing was assigned"
        )
    covered: set[str] = set()
    picks: list[Pick] = []
    for _ in range(n):
        best = min(eligible, key=lambda c: (c.open_load, -len(set(c.expertise) - covered), c.id))
        eligible.remove(best)
        new = [d for d in best.expertise if d not in covered]
        covered |= set(best.expertise)
        picks.append(
            Pick(
                best.id,
                f"{best.open_load} open review(s); adds expertise "
                f"{', '.join(new) or 'none new'}; home province {best.home_province} "
                f"!= {province}; no declared conflict",
            )
        )
    return picks


# ---------------------------------------------------------------- the reviewer pool


def _province(session: Session, text: str) -> str:
    """The registry's spelling of a province: a typo would silently defeat the conflict rule."""
    provinces = {p.casefold(): p for p in session.exec(select(Region.province).distinct()).all()}
    if not provinces:
        raise DomainRefused("the region registry is empty: import it before adding reviewers")
    found = provinces.get(text.strip().casefold())
    if found is None:
        examples = ", ".join(sorted(provinces.values())[:3])
        raise BadInput(f"province {text!r} is not in the region registry (e.g. {examples})")
    return found


def add_reviewer(
    session: Session,
    *,
    name: str,
    institution: str,
    province: str,
    expertise: str | list[str],
    now: datetime,
    contact_id: int | None = None,
    actor: str = audit.SYSTEM_ACTOR,
) -> Reviewer:
    """Add a reviewer to the pool (audited); refuses an unknown province, dimension or contact, and a duplicate."""
    name, institution, who = name.strip(), institution.strip(), audit.actor_name(actor)
    if not name or not institution or len(name) > 200 or len(institution) > 200:
        raise BadInput("a reviewer needs a name and an institution (1-200 characters each)")
    dims = parse_expertise(expertise)
    home = _province(session, province)
    if contact_id is not None and session.get(Contact, contact_id) is None:
        raise NotFound(f"contact {contact_id} does not exist")
    if session.exec(select(Reviewer).where(Reviewer.name == name, Reviewer.institution == institution)).first():
        raise DomainRefused(f"reviewer {name} ({institution}) is already in the pool")
    reviewer = Reviewer(
        name=name,
        institution=institution,
        expertise=dims,
        home_province=home,
        contact_id=contact_id,
        active=True,
        created_at=now,
    )
    session.add(reviewer)
    session.flush()
    audit.record(
        session,
        kind="reviewer_added",
        subject=f"reviewer {reviewer.id}",
        actor=who,
        at=now,
        content={
            "reviewer": name,
            "institution": institution,
            "home_province": home,
            "expertise": [str(d) for d in dims],
            "contact_id": contact_id,
        },
    )
    return reviewer


def declare_conflict(
    session: Session, *, reviewer_id: int, region_code: str, reason: str, now: datetime, actor: str | None = None
) -> tuple[ReviewerConflict, list[Swap]]:
    """Record a reviewer's declared conflict of interest with a region (idempotent per pair), audited; a
    reviewer already assigned to that region's open round is taken off it and replaced (see `take_off`)."""
    reviewer = _reviewer(session, reviewer_id)
    region = _region(session, region_code)
    if not reason.strip():
        raise BadInput("a declared conflict needs a reason")
    who = (actor or "").strip() or f"reviewer {reviewer_id} ({reviewer.name})"  # by default they declare it
    row = session.exec(
        select(ReviewerConflict).where(
            ReviewerConflict.reviewer_id == reviewer.id, ReviewerConflict.region_id == region.id
        )
    ).first()
    if row is None:
        row = ReviewerConflict(
            reviewer_id=row_id(reviewer), region_id=row_id(region), reason=reason.strip()[:500], declared_at=now
        )
        session.add(row)
        audit.record(
            session,
            kind="conflict_declared",
            subject=f"region {region.bps_code}",
            actor=who,
            at=now,
            content={"reviewer_id": reviewer.id, "reviewer": reviewer.name, "reason": row.reason},
        )
        session.flush()
    open_here = session.exec(
        select(ReviewAssignment)
        .join(MasterplanRound, col(ReviewAssignment.round_id) == MasterplanRound.id)
        .join(Enrollment, col(MasterplanRound.enrollment_id) == Enrollment.id)
        .where(
            ReviewAssignment.reviewer_id == reviewer.id,
            col(ReviewAssignment.unassigned_at).is_(None),
            MasterplanRound.status == RoundStatus.open,
            Enrollment.region_id == region.id,
        )
    ).all()
    swaps = [take_off(session, a, reason=f"declared conflict: {row.reason}", actor=who, now=now) for a in open_here]
    return row, swaps


def set_reviewer_contact(
    session: Session, *, reviewer_id: int, contact_id: int, now: datetime, actor: str = audit.SYSTEM_ACTOR
) -> int:
    """Give a reviewer the contact their reminders go to (audited when it changes anything); returns how many
    waiting reminders it took over (reminders of their open reviews that found no contact were kept as
    'unaddressed')."""
    from smartcity.models.deadlines.ops import address_waiting

    who = audit.actor_name(actor)
    reviewer = _reviewer(session, reviewer_id)
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist (see `smartcity contacts list`)")
    if contact.role != Role.reviewer:
        raise BadInput(f"contact {contact_id} is a {contact.role} contact; a reviewer needs a reviewer contact")
    if not contact.active:
        raise DomainRefused(f"contact {contact_id} was removed; add a new one (`smartcity contacts add`)")
    before, reviewer.contact_id = reviewer.contact_id, contact.id
    session.add(reviewer)
    assignments = session.exec(select(ReviewAssignment.id).where(ReviewAssignment.reviewer_id == reviewer.id)).all()
    took = address_waiting(session, contact, now, review_keys=[f"review:{a}" for a in assignments])
    if before != contact.id or took:
        audit.record(
            session,
            kind="reviewer_contact_set",
            subject=f"reviewer {reviewer.id}",
            actor=who,
            at=now,
            content={"reviewer": reviewer.name, "contact_id": contact.id, "previous_contact_id": before, "took": took},
        )
    return took


def set_reviewer_active(
    session: Session, *, reviewer_id: int, active: bool, reason: str, actor: str, now: datetime
) -> tuple[Reviewer, bool, int]:
    """Take a reviewer out of the pool (or back in), with a reason, audited.

    Returns (reviewer, changed, open reviews). An inactive reviewer gets no new assignment; reviews
    already assigned stay theirs (their answers still count) and the caller should say how many.
    """
    from smartcity.models.core import audit

    if not reason.strip() or not actor.strip():
        raise BadInput("a reason and an actor are required to change a reviewer's status")
    reviewer = _reviewer(session, reviewer_id)
    open_reviews = open_loads(session).get(row_id(reviewer), 0)
    if reviewer.active == active:
        return reviewer, False, open_reviews
    reviewer.active = active
    session.add(reviewer)
    audit.record(
        session,
        kind="reviewer_activated" if active else "reviewer_deactivated",
        subject=f"reviewer {reviewer.id}",
        actor=actor.strip(),
        at=now,
        content={
            "reviewer": reviewer.name,
            "institution": reviewer.institution,
            "reason": reason.strip()[:500],
            "open_reviews": open_reviews,
        },
    )
    session.flush()
    return reviewer, True, open_reviews


def deactivate_reviewer(
    session: Session, *, reviewer_id: int, reason: str, actor: str, now: datetime
) -> tuple[Reviewer, bool, list[Swap]]:
    """Take a reviewer out of the pool (audited) and hand their open, unanswered reviews to replacements
    chosen by the same rules; returns (reviewer, changed, one Swap per review handed on or left short)."""
    reviewer, changed, _ = set_reviewer_active(
        session, reviewer_id=reviewer_id, active=False, reason=reason, actor=actor, now=now
    )
    waiting = session.exec(
        select(ReviewAssignment)
        .join(MasterplanRound, col(ReviewAssignment.round_id) == MasterplanRound.id)
        .outerjoin(Review, _review_of_assignment())
        .where(
            ReviewAssignment.reviewer_id == reviewer.id,
            col(ReviewAssignment.unassigned_at).is_(None),
            MasterplanRound.status == RoundStatus.open,
            col(Review.id).is_(None),
        )
        .order_by(col(ReviewAssignment.id))
    ).all()
    why = f"reviewer deactivated: {reason.strip()[:400]}"
    return reviewer, changed, [take_off(session, a, reason=why, actor=actor.strip(), now=now) for a in waiting]


@dataclass(frozen=True)
class Swap:
    """A reviewer taken off an open round, and who replaced them (None: nobody eligible, the round is short)."""

    region_code: str
    round_no: int
    reviewer_id: int
    replacement_id: int | None
    review_discounted: bool

    def line(self) -> str:
        """What happened, in one line for the coordinator."""
        head = f"region {self.region_code} round {self.round_no}: reviewer {self.reviewer_id} unassigned"
        if self.review_discounted:
            head += " (their review no longer counts toward the quorum)"
        if self.replacement_id is None:
            return head + "; no eligible replacement: the round stays short of its quorum until one is added"
        return head + f"; reviewer {self.replacement_id} assigned instead"


def take_off(session: Session, assignment: ReviewAssignment, *, reason: str, actor: str, now: datetime) -> Swap:
    """Unassign a reviewer from an open round (kept as history; a review they sent stops counting) and assign
    one replacement by the same conflict and load rules, if any is eligible; audited."""
    from smartcity.models.deadlines.ops import close_review_deadlines, open_review_deadline

    rnd = session.get_one(MasterplanRound, assignment.round_id)
    _, region, _ = _round_context(session, rnd)
    assignment.unassigned_at = now
    session.add(assignment)
    had_review = session.exec(
        select(Review.id).where(Review.round_id == rnd.id, Review.reviewer_id == assignment.reviewer_id)
    ).first()
    close_review_deadlines(session, [row_id(assignment)], now, done_by=None, done=False)
    taken = set(session.exec(select(ReviewAssignment.reviewer_id).where(ReviewAssignment.round_id == rnd.id)).all())
    label = f"region {region.bps_code} ({region.name}) round {rnd.round_no}"
    try:
        pick = choose_reviewers(
            [c for c in _candidates(session) if c.id not in taken],
            region_id=row_id(region),
            province=region.province,
            n=1,
            label=label,
        )[0]
    except DomainRefused:
        pick = None
    if pick is not None:
        new = ReviewAssignment(
            round_id=row_id(rnd),
            reviewer_id=pick.reviewer_id,
            assigned_at=now,
            why=f"replaces reviewer {assignment.reviewer_id}; {pick.why}"[:500],
        )
        session.add(new)
        session.flush()
        open_review_deadline(session, rnd.enrollment_id, row_id(new), now)
    swap = Swap(
        region.bps_code,
        rnd.round_no,
        assignment.reviewer_id,
        pick.reviewer_id if pick else None,
        had_review is not None,
    )
    audit.record(
        session,
        kind="reviewer_unassigned",
        subject=f"region {region.bps_code} round {rnd.round_no}",
        actor=actor,
        at=now,
        content={
            "round_id": rnd.id,
            "reviewer_id": assignment.reviewer_id,
            "reason": reason[:500],
            "replacement_id": swap.replacement_id,
            "review_discounted": swap.review_discounted,
        },
    )
    session.flush()
    return swap


def list_reviewers(session: Session) -> list[dict[str, Any]]:
    """The pool with each reviewer's open load and declared conflicts (no contact details)."""
    loads = open_loads(session)
    conflicts: dict[int, list[str]] = {}
    for rid, code in session.exec(
        select(ReviewerConflict.reviewer_id, Region.bps_code).join(Region, col(ReviewerConflict.region_id) == Region.id)
    ).all():
        conflicts.setdefault(rid, []).append(code)
    return [
        {
            "id": r.id,
            "name": r.name,
            "institution": r.institution,
            "home_province": r.home_province,
            "expertise": r.expertise,
            "active": r.active,
            "has_contact": r.contact_id is not None,
            "open_reviews": loads.get(row_id(r), 0),
            "conflicts": sorted(conflicts.get(row_id(r), [])),
        }
        for r in session.exec(select(Reviewer).order_by(col(Reviewer.id))).all()
    ]


def open_loads(session: Session) -> dict[int, int]:
    """reviewer id -> assignments in open rounds that still wait for their review."""
    rows = session.exec(
        select(ReviewAssignment.reviewer_id, func.count())
        .join(MasterplanRound, col(ReviewAssignment.round_id) == MasterplanRound.id)
        .outerjoin(Review, _review_of_assignment())
        .where(
            MasterplanRound.status == RoundStatus.open,
            col(Review.id).is_(None),
            col(ReviewAssignment.unassigned_at).is_(None),
        )
        .group_by(col(ReviewAssignment.reviewer_id))
    ).all()
    return {rid: n for rid, n in rows}


def _review_of_assignment() -> Any:
    """The join condition of an assignment and its review (same round, same reviewer)."""
    return (col(Review.round_id) == ReviewAssignment.round_id) & (
        col(Review.reviewer_id) == ReviewAssignment.reviewer_id
    )


def _reviewer(session: Session, reviewer_id: int) -> Reviewer:
    """The reviewer, or NotFound pointing at the pool listing."""
    reviewer = session.get(Reviewer, reviewer_id)
    if reviewer is None:
        raise NotFound(f"reviewer {reviewer_id} does not exist (see `smartcity reviewers list`)")
    return reviewer


def _region(session: Session, code: str) -> Region:
    """The region of a BPS code, or NotFound."""
    region = session.exec(select(Region).where(Region.bps_code == code.strip())).first()
    if region is None:
        raise NotFound(f"region {code}: not in the registry")
    return region


# ---------------------------------------------------------------- rounds


def _round_context(session: Session, rnd: MasterplanRound) -> tuple[Enrollment, Region, Cohort]:
    """The enrollment, region and cohort a round belongs to (they exist: foreign keys)."""
    enr = session.get(Enrollment, rnd.enrollment_id)
    assert enr is not None
    region, cohort = session.get(Region, enr.region_id), session.get(Cohort, enr.cohort_id)
    assert region is not None and cohort is not None
    return enr, region, cohort


def assign_reviewers(session: Session, round_id: int, n: int | None = None, *, now: datetime) -> list[Pick]:
    """Assign n reviewers (default: settings.reviewers_per_masterplan) to a round, all or nothing."""
    rnd = session.get(MasterplanRound, round_id)
    if rnd is None:
        raise NotFound(f"review round {round_id} does not exist")
    _, region, _ = _round_context(session, rnd)
    label = f"region {region.bps_code} ({region.name}) round {rnd.round_no}"
    if session.exec(select(ReviewAssignment.id).where(ReviewAssignment.round_id == round_id)).first():
        raise DomainRefused(f"{label} already has reviewers assigned")
    picks = choose_reviewers(
        _candidates(session),
        region_id=row_id(region),
        province=region.province,
        n=n or get_settings().reviewers_per_masterplan,
        label=label,
    )
    from smartcity.models.deadlines.ops import open_review_deadline

    for p in picks:
        assignment = ReviewAssignment(round_id=round_id, reviewer_id=p.reviewer_id, assigned_at=now, why=p.why)
        session.add(assignment)
        session.flush()
        open_review_deadline(session, rnd.enrollment_id, row_id(assignment), now)  # reviews feed the reminder ladder
    return picks


def _candidates(session: Session) -> list[Candidate]:
    """The whole pool as the assignment rule sees it: open loads, expertise, activity, declared conflicts."""
    loads = open_loads(session)
    conflicts: dict[int, set[int]] = {}
    for rid, reg in session.exec(select(ReviewerConflict.reviewer_id, ReviewerConflict.region_id)).all():
        conflicts.setdefault(rid, set()).add(reg)
    return [
        Candidate(
            row_id(r),
            r.name,
            r.home_province,
            loads.get(row_id(r), 0),
            tuple(r.expertise),
            r.active,
            frozenset(conflicts.get(row_id(r), set())),
        )
        for r in session.exec(select(Reviewer)).all()
    ]


def _rounds(session: Session, enrollment_id: int) -> list[MasterplanRound]:
    """An enrollment's review rounds, first round first."""
    return list(
        session.exec(
            select(MasterplanRound)
            .where(MasterplanRound.enrollment_id == enrollment_id)
            .order_by(col(MasterplanRound.round_no))
        ).all()
    )


def review_edge(session: Session, enrollment: Enrollment) -> Edge:
    """The edge a review round decides: the one its program guards with `review_quorum_approved`."""
    program = program_of_enrollment(session, enrollment)
    edge = program.guarded_by("review_quorum_approved")
    if edge is None:
        raise DomainRefused(f"program {program.name} has no reviewed stage (no edge guarded by review_quorum_approved)")
    return edge


def submit_masterplan(
    session: Session,
    region_code: str,
    version_label: str,
    actor: str,
    now: datetime,
    *,
    n: int | None = None,
    quorum: int | None = None,
    cohort: str | None = None,
) -> MasterplanRound:
    """Open review round n+1 for a drafting region, assign its reviewers and queue the event."""
    label, actor = version_label.strip(), actor.strip()
    if not label or len(label) > 50 or not actor:
        raise BadInput("a submission needs a version label (1-50 characters) and an actor")
    n = n or get_settings().reviewers_per_masterplan
    if quorum is not None and not 1 <= quorum <= n:
        raise BadInput(f"quorum must be 1..{n} (the reviewers to assign), got {quorum}")
    enr = find_enrollment(session, region_code, cohort)
    edge = review_edge(session, enr)
    if enr.stage != edge.source:
        raise DomainRefused(f"region {region_code} is {enr.stage}: a masterplan can be submitted only in {edge.source}")
    rounds = _rounds(session, row_id(enr))
    if rounds and rounds[-1].status == RoundStatus.open:
        raise DomainRefused(
            f"region {region_code}: review round {rounds[-1].round_no} "
            f"({rounds[-1].version_label}) is still open; wait for its reviews"
        )
    if any(r.version_label == label for r in rounds):
        raise DomainRefused(f"region {region_code}: version {label} was already reviewed; label the revision anew")
    rnd = MasterplanRound(
        enrollment_id=row_id(enr),
        round_no=len(rounds) + 1,
        status=RoundStatus.open,
        submitted_at=now,
        version_label=label,
        submitted_by=actor[:200],
    )
    session.add(rnd)
    _flush_or_refuse(session, f"region {region_code}: someone else submitted round {rnd.round_no} meanwhile")
    picks = assign_reviewers(session, row_id(rnd), n, now=now)
    rnd.quorum = quorum or len(picks)
    _, region, coh = _round_context(session, rnd)
    events.enqueue(
        session,
        key=f"masterplan-submitted:{enr.id}:round-{rnd.round_no}",
        event="smartcity.masterplan.submitted",
        resource=events.region_resource(region, **{"smartcity.round": str(rnd.round_no)}),
        related=events.related_for(region, coh),
        payload={
            "region_code": region.bps_code,
            "round": rnd.round_no,
            "version": label,
            "actor": rnd.submitted_by,
            "reviewers": [p.reviewer_id for p in picks],
            "quorum": rnd.quorum,
        },
        occurred_at=now,
    )
    session.flush()
    return rnd


def _flush_or_refuse(session: Session, message: str) -> None:
    """Flush; a unique constraint that a concurrent writer won becomes DomainRefused(message)."""
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise DomainRefused(message) from None


def open_round(session: Session, region_code: str, cohort: str | None = None) -> MasterplanRound:
    """The region's open review round, or a clear refusal."""
    enr = find_enrollment(session, region_code, cohort)
    rounds = _rounds(session, row_id(enr))
    if not rounds or rounds[-1].status != RoundStatus.open:
        last = f" (round {rounds[-1].round_no} is {rounds[-1].status})" if rounds else ""
        raise DomainRefused(f"region {region_code}: no open review round{last}")
    return rounds[-1]


def find_round(session: Session, region_code: str, round_no: int | None = None) -> MasterplanRound:
    """Round `round_no` of a region (default: its latest)."""
    enr = find_enrollment(session, region_code)
    rounds = _rounds(session, row_id(enr))
    match = [r for r in rounds if round_no is None or r.round_no == round_no]
    if not match:
        raise NotFound(f"region {region_code}: no review round {round_no or ''}".rstrip())
    return match[-1]


# ---------------------------------------------------------------- reviews and quorum


def submit_review(
    session: Session,
    *,
    reviewer_id: int,
    submission: ReviewSubmission | dict[str, Any],
    source: str,
    now: datetime,
    round_id: int | None = None,
    region_code: str | None = None,
) -> dict[str, Any]:
    """Store one review of an open round (by id, or the region's open round), queue its event, and
    close the round when its quorum answered. Refusals change nothing."""
    if source not in SOURCES:
        raise BadInput(f"review source must be cli or ui (got {source!r})")
    sub = submission if isinstance(submission, ReviewSubmission) else parse_submission(submission)
    rnd = _locked_round(session, round_id, region_code)
    enr, region, cohort = _round_context(session, rnd)
    where = f"round {rnd.round_no} of region {region.bps_code} ({region.name})"
    if rnd.status != RoundStatus.open:
        raise DomainRefused(f"{where} is closed ({rnd.status}); reviews are no longer accepted")
    reviewer = _reviewer(session, reviewer_id)
    assignment = session.exec(
        select(ReviewAssignment).where(ReviewAssignment.round_id == rnd.id, ReviewAssignment.reviewer_id == reviewer_id)
    ).first()
    if assignment is None:
        raise DomainRefused(f"reviewer {reviewer_id} ({reviewer.name}) is not assigned to {where}")
    if assignment.unassigned_at is not None:
        raise DomainRefused(f"reviewer {reviewer_id} ({reviewer.name}) was taken off {where}")
    assigned = row_id(assignment)
    done = session.exec(select(Review).where(Review.round_id == rnd.id, Review.reviewer_id == reviewer_id)).first()
    if done is not None:
        raise DomainRefused(
            f"reviewer {reviewer_id} ({reviewer.name}) already reviewed {where} "
            f"(via {done.source}); one review per reviewer per round"
        )
    session.add(
        Review(
            round_id=row_id(rnd),
            reviewer_id=reviewer_id,
            scores=sub.stored_scores(),
            decision=sub.decision,
            comment=sub.comment,
            submitted_at=now,
            source=source,
        )
    )
    from smartcity.models.deadlines.ops import close_review_deadlines

    close_review_deadlines(session, [assigned], now, done_by=f"reviewer {reviewer_id}", done=True)
    audit.record(
        session,
        kind="review_submitted",
        subject=f"region {region.bps_code} round {rnd.round_no}",
        actor=f"reviewer {reviewer_id} ({reviewer.name})",
        at=now,
        content={
            "round_id": rnd.id,
            "reviewer_id": reviewer_id,
            "decision": sub.decision,
            "scores": sub.stored_scores(),
            "comment": sub.comment,
            "source": source,
        },
    )
    events.enqueue(
        session,
        key=f"review:{rnd.id}:{reviewer_id}",
        event="smartcity.review.submitted",
        resource=events.region_resource(region, **{"smartcity.round": str(rnd.round_no)}),
        related=[
            *events.related_for(region, cohort),
            {
                "prefect.resource.id": f"smartcity.reviewer.{reviewer_id}",
                "prefect.resource.role": "reviewer",
                "prefect.resource.name": reviewer.name,
            },
        ],
        payload={
            "round": rnd.round_no,
            "version": rnd.version_label,
            "reviewer_id": reviewer_id,
            "decision": sub.decision,
            "source": source,
        },
        occurred_at=now,
    )
    _flush_or_refuse(session, f"reviewer {reviewer_id} already reviewed {where} (a concurrent submission won)")
    return check_quorum(session, row_id(rnd), now=now)


def _locked_round(session: Session, round_id: int | None, region_code: str | None) -> MasterplanRound:
    """The round, row-locked on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers), so two
    last reviews arriving together cannot both miss the quorum."""
    if round_id is None:
        if not region_code:
            raise BadInput("name the round: a round id or a region code")
        round_id = row_id(open_round(session, region_code))
    rnd = session.exec(select(MasterplanRound).where(MasterplanRound.id == round_id).with_for_update()).first()
    if rnd is None:
        raise NotFound(f"review round {round_id} does not exist")
    return rnd


def check_quorum(session: Session, round_id: int, *, now: datetime) -> dict[str, Any]:
    """Close the round once its quorum answered: approved (and the region moves to masterplan_completed,
    committed with the closing) or revision_requested. A closed round is left as it is."""
    rnd = session.get(MasterplanRound, round_id)
    if rnd is None:
        raise NotFound(f"review round {round_id} does not exist")
    enr, region, cohort = _round_context(session, rnd)
    live = set(
        session.exec(
            select(ReviewAssignment.reviewer_id).where(
                ReviewAssignment.round_id == rnd.id, col(ReviewAssignment.unassigned_at).is_(None)
            )
        ).all()
    )
    # A reviewer taken off the round (a conflict declared later, say) no longer counts, answer or not.
    reviews = [
        v
        for v in session.exec(select(Review).where(Review.round_id == rnd.id).order_by(col(Review.id))).all()
        if v.reviewer_id in live
    ]
    assigned = len(live)
    needed = rnd.quorum or assigned
    out = {
        "round_id": rnd.id,
        "region_code": region.bps_code,
        "round_no": rnd.round_no,
        "answered": len(reviews),
        "needed": needed,
        "closed_now": False,
        "stage": enr.stage,
    }
    if rnd.status != RoundStatus.open or len(reviews) < needed:
        return {**out, "status": rnd.status}
    names = {
        r.id: r.name
        for r in session.exec(select(Reviewer).where(col(Reviewer.id).in_([v.reviewer_id for v in reviews]))).all()
    }
    revise = [v for v in reviews if v.decision == Decision.revise]
    rnd.status = RoundStatus.revision_requested if revise else RoundStatus.approved
    rnd.closed_at = now
    rnd.comments = [
        {
            "reviewer": names.get(v.reviewer_id),
            "decision": v.decision,
            "comment": v.comment,
            "dimensions": {k: s.get("comment") for k, s in v.scores.items() if s.get("comment")},
        }
        for v in reviews
    ]
    rnd.decision_summary = (
        f"{len(revise)} of {len(reviews)} reviewer(s) asked for revision"
        if revise
        else f"approved by {len(reviews)} of {assigned} reviewer(s)"
    )
    session.add(rnd)
    from smartcity.models.deadlines.ops import close_review_deadlines

    waiting = [row_id(a) for a in session.exec(select(ReviewAssignment).where(ReviewAssignment.round_id == rnd.id))]
    close_review_deadlines(session, waiting, now, done_by=None, done=False)  # quorum met: stop the rest
    events.enqueue(
        session,
        key=f"round-closed:{rnd.id}",
        event=f"smartcity.masterplan.{rnd.status}",
        resource=events.region_resource(region, **{"smartcity.round": str(rnd.round_no)}),
        related=events.related_for(region, cohort),
        payload={"round": rnd.round_no, "version": rnd.version_label, "summary": rnd.decision_summary},
        occurred_at=now,
    )
    session.flush()
    edge = review_edge(session, enr)
    if rnd.status == RoundStatus.approved and enr.stage == edge.source:
        change = StageChange(
            region_code=region.bps_code,
            to=edge.target,
            actor=f"review round {rnd.round_no}",
            cohort=cohort.name,
            reason=f"masterplan {rnd.version_label}: {rnd.decision_summary}",
            idempotency_key=f"masterplan-round:{rnd.id}:approved",
        )
        out["stage"] = change_stage(session, change, now=now).to_stage  # commits the closing with the move
    return {**out, "status": rnd.status, "closed_now": True, "summary": rnd.decision_summary}


# ---------------------------------------------------------------- read side


def pending_reviews(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Who is holding what: per reviewer, their open assignments and how long each has waited,
    counted in the region's own zone (calendar and Indonesian working days). Longest wait first."""
    from smartcity.models.deadlines.workdays import format_local, working_days_between

    rows = session.exec(
        select(ReviewAssignment, Reviewer, MasterplanRound, Region)
        .join(Reviewer, col(ReviewAssignment.reviewer_id) == Reviewer.id)
        .join(MasterplanRound, col(ReviewAssignment.round_id) == MasterplanRound.id)
        .join(Enrollment, col(MasterplanRound.enrollment_id) == Enrollment.id)
        .join(Region, col(Enrollment.region_id) == Region.id)
        .outerjoin(Review, _review_of_assignment())
        .where(
            MasterplanRound.status == RoundStatus.open,
            col(Review.id).is_(None),
            col(ReviewAssignment.unassigned_at).is_(None),
        )
        .order_by(col(ReviewAssignment.assigned_at), col(ReviewAssignment.id))
    ).all()
    out: dict[int, dict[str, Any]] = {}
    for a, rev, rnd, region in rows:
        since, today = _local_date(a.assigned_at, region.timezone), _local_date(now, region.timezone)
        holder = out.setdefault(
            row_id(rev), {"reviewer_id": rev.id, "reviewer": rev.name, "institution": rev.institution, "open": []}
        )
        holder["open"].append(
            {
                "round_id": rnd.id,
                "region_code": region.bps_code,
                "region": region.name,
                "round_no": rnd.round_no,
                "version": rnd.version_label,
                "assigned_at": a.assigned_at.isoformat(),
                "assigned_local": format_local(a.assigned_at, region.timezone),
                "waiting_hours": round((now - a.assigned_at).total_seconds() / 3600, 1),
                "waiting_days": (today - since).days,
                "waiting_working_days": working_days_between(since, today),
            }
        )
    return sorted(out.values(), key=lambda h: (-max(o["waiting_hours"] for o in h["open"]), h["reviewer_id"]))


def _local_date(instant: datetime, tz: str) -> Any:
    """The calendar date of an instant in the zone `tz`."""
    import pendulum

    return pendulum.instance(instant).in_timezone(tz).date()


def pending_markdown(holders: list[dict[str, Any]], now: datetime) -> str:
    """The 'who is holding what' board as markdown (for the Prefect artifact)."""
    head = f"# Masterplan reviews: who is holding what\n\nAs of {now.isoformat(timespec='minutes')} UTC.\n\n"
    if not holders:
        return head + "No review is waiting.\n"
    rows = [
        [
            f"{h['reviewer']} (#{h['reviewer_id']})",
            h["institution"],
            f"{o['region_code']} {o['region']}",
            o["round_no"],
            o["version"] or "",
            o["assigned_local"],
            f"{o['waiting_days']} d ({o['waiting_working_days']} working d)",
        ]
        for h in holders
        for o in h["open"]
    ]
    header = ["Reviewer", "Institution", "Region", "Round", "Version", "Assigned (local)", "Waiting"]
    return head + md_table(header, rows) + "\n"


def rounds_history(session: Session, region_code: str) -> list[dict[str, Any]]:
    """Every review round of a region, oldest first, with its assignments and reviews."""
    region = _region(session, region_code)
    rounds = session.exec(
        select(MasterplanRound, Cohort.name)
        .join(Enrollment, col(MasterplanRound.enrollment_id) == Enrollment.id)
        .join(Cohort, col(Enrollment.cohort_id) == Cohort.id)
        .where(Enrollment.region_id == region.id)
        .order_by(col(MasterplanRound.submitted_at), col(MasterplanRound.id))
    ).all()
    names = {r.id: r.name for r in session.exec(select(Reviewer)).all()}
    out = []
    for rnd, cohort in rounds:
        assigned = session.exec(
            select(ReviewAssignment).where(ReviewAssignment.round_id == rnd.id).order_by(col(ReviewAssignment.id))
        ).all()
        reviews = session.exec(select(Review).where(Review.round_id == rnd.id).order_by(col(Review.id))).all()
        out.append(
            {
                "cohort": cohort,
                "round_no": rnd.round_no,
                "version": rnd.version_label,
                "status": rnd.status,
                "submitted_by": rnd.submitted_by,
                "submitted_at": rnd.submitted_at.isoformat(),
                "closed_at": rnd.closed_at.isoformat() if rnd.closed_at else None,
                "quorum": rnd.quorum,
                "summary": rnd.decision_summary,
                "comments": rnd.comments or [],
                "assigned": [
                    {"reviewer_id": a.reviewer_id, "reviewer": names.get(a.reviewer_id), "why": a.why}
                    for a in assigned
                    if a.unassigned_at is None
                ],
                "unassigned": [
                    {
                        "reviewer_id": a.reviewer_id,
                        "reviewer": names.get(a.reviewer_id),
                        "at": a.unassigned_at.isoformat(),
                    }
                    for a in assigned
                    if a.unassigned_at is not None
                ],
                "short": rnd.status == RoundStatus.open
                and rnd.quorum is not None
                and sum(1 for a in assigned if a.unassigned_at is None) < rnd.quorum,
                "reviews": [
                    {
                        "reviewer_id": v.reviewer_id,
                        "reviewer": names.get(v.reviewer_id),
                        "decision": v.decision,
                        "source": v.source,
                        "scores": {k: s["score"] for k, s in v.scores.items()},
                        "comment": v.comment,
                        "submitted_at": v.submitted_at.isoformat(),
                    }
                    for v in reviews
                ],
            }
        )
    return out


def round_status(session: Session, round_id: int) -> dict[str, Any]:
    """A round's state for the review flow: status and the assignees who have not answered."""
    rnd = session.get(MasterplanRound, round_id)
    if rnd is None:
        raise NotFound(f"review round {round_id} does not exist")
    _, region, _ = _round_context(session, rnd)
    reviews = session.exec(select(Review.reviewer_id, Review.source).where(Review.round_id == round_id)).all()
    answered = {reviewer_id for reviewer_id, _ in reviews}
    waiting = session.exec(
        select(Reviewer.id, Reviewer.name, Reviewer.institution)
        .join(ReviewAssignment, col(ReviewAssignment.reviewer_id) == Reviewer.id)
        .where(ReviewAssignment.round_id == round_id, col(ReviewAssignment.unassigned_at).is_(None))
        .order_by(col(Reviewer.id))
    ).all()
    return {
        "round_id": rnd.id,
        "round_no": rnd.round_no,
        "region_code": region.bps_code,
        "region": region.name,
        "province": region.province,
        "version": rnd.version_label,
        "status": rnd.status,
        "summary": rnd.decision_summary,
        "ui_reviews": sum(1 for _, source in reviews if source == "ui"),
        "waiting": [
            {"reviewer_id": i, "reviewer": n, "institution": inst} for i, n, inst in waiting if i not in answered
        ],
    }
