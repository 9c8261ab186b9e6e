"""Reviews feed the reminder ladder: each assignment gets a 10-working-day deadline whose reminders go
to the reviewer; a review closes it, and a round that closes stops the others."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.ops import sweep
from smartcity.models.deadlines.tables import Deadline, Notification
from smartcity.models.infra.db import session_scope
from smartcity.models.notifications.notices import format_local_long
from smartcity.models.notifications.outbox import add_contact, outbox_rows
from smartcity.models.reviews.ops import add_reviewer, submit_masterplan, submit_review
from tests.helpers import T0, cohort_with, load_registry

SCORES = {d: {"score": 4} for d in ("governance", "branding", "economy", "living", "society", "environment")}


def test_review_deadlines_remind_the_reviewer_and_close_with_the_review(db_url):
    load_registry()
    cohort_with(["7371"])  # Kota Makassar (WITA)
    for stage in ("selected", "drafting"):
        with session_scope() as s:
            change_stage(
                s, StageChange(region_code="7371", to=Stage(stage), actor="ani", reason=None, cohort="2017"), now=T0
            )
    with session_scope() as s:
        ids, contacts = [], []
        for i, province in enumerate(("Jawa Barat", "Banten")):
            c = add_contact(
                s,
                role="reviewer",
                region_code=None,
                name=f"r{i}",
                url=f"json://127.0.0.1:9/r{i}",
                language="en",
                now=T0,
            )
            contacts.append(c.id)
            ids.append(
                add_reviewer(
                    s,
                    name=f"Reviewer {i}",
                    institution="ITB",
                    province=province,
                    expertise="governance",
                    now=T0,
                    contact_id=c.id,
                ).id
            )
        rnd = submit_masterplan(s, "7371", "v1", "ani", T0 + timedelta(days=1), n=2)
        round_id = rnd.id
    with session_scope() as s:
        reviews = s.exec(select(Deadline).where(Deadline.kind == "review").order_by(Deadline.id)).all()
        assert len(reviews) == 2 and all(d.status == "open" for d in reviews)
        due = reviews[0].due_at
        sweep(s, due - timedelta(hours=2))  # 08:00 WITA on the due day has passed: the "due" rung is on
        sent_to = {
            n.contact_id
            for n in s.exec(select(Notification).where(Notification.deadline_id.in_([d.id for d in reviews]))).all()
        }
    assert sent_to == set(contacts), "each reviewer is reminded of their own review"
    with session_scope() as s:
        submit_review(
            s,
            reviewer_id=ids[0],
            submission={"scores": SCORES, "decision": "approve"},
            source="cli",
            now=due - timedelta(days=3),
            round_id=round_id,
        )
        statuses = [d.status for d in s.exec(select(Deadline).where(Deadline.kind == "review").order_by(Deadline.id))]
    assert statuses == ["done", "open"]
    with session_scope() as s:
        submit_review(
            s,
            reviewer_id=ids[1],
            submission={"scores": SCORES, "decision": "approve"},
            source="cli",
            now=due - timedelta(days=2),
            round_id=round_id,
        )
        statuses = [d.status for d in s.exec(select(Deadline).where(Deadline.kind == "review").order_by(Deadline.id))]
    assert statuses == ["done", "done"]


def test_a_reviewer_without_a_contact_gets_the_waiting_reminder_once_one_is_linked(db_url):
    from smartcity.models.core.errors import BadInput
    from smartcity.models.reviews.ops import set_reviewer_contact

    load_registry()
    cohort_with(["7371"])
    for stage in ("selected", "drafting"):
        with session_scope() as s:
            change_stage(
                s, StageChange(region_code="7371", to=Stage(stage), actor="ani", reason=None, cohort="2017"), now=T0
            )
    with session_scope() as s:
        reviewer = add_reviewer(
            s, name="No Inbox", institution="ITB", province="Jawa Barat", expertise="economy", now=T0
        ).id
        submit_masterplan(s, "7371", "v1", "ani", T0 + timedelta(days=1), n=1)
    with session_scope() as s:
        review = s.exec(select(Deadline).where(Deadline.kind == "review")).one()
        review_id, due = review.id, review.due_at
        sweep(s, due - timedelta(hours=2))
    with session_scope() as s:
        waiting = s.exec(select(Notification).where(Notification.deadline_id == review_id)).all()
        assert [(n.status, n.role, n.contact_id) for n in waiting] == [("unaddressed", "reviewer", None)]
        # listed by the role it really waits for, with the command that gives the reviewer an inbox
        [listed] = [r for r in outbox_rows(s, failed_only=True) if r["deadline_id"] == review_id]
        assert listed["contact"] == (
            f"nobody yet: no reviewer contact: reviewer #{reviewer} has no inbox; "
            f"`smartcity reviewers contact {reviewer} --contact-id C`"
        )
        pic = add_contact(
            s, role="pic", region_code="7371", name="PIC Makassar", url="json://127.0.0.1:9/pic", language="id", now=T0
        )
        inbox = add_contact(
            s, role="reviewer", region_code=None, name="Inbox", url="json://127.0.0.1:9/rev", language="en", now=T0
        )
    with session_scope() as s:  # the region's new PIC does not take the reviewer's reminder
        assert s.exec(select(Notification).where(Notification.deadline_id == review_id)).one().status == "unaddressed"
        try:
            set_reviewer_contact(s, reviewer_id=reviewer, contact_id=pic.id, now=T0)
            raise AssertionError("a pic contact was accepted for a reviewer")
        except BadInput as exc:
            assert "needs a reviewer contact" in str(exc)
    with session_scope() as s:
        assert set_reviewer_contact(s, reviewer_id=reviewer, contact_id=inbox.id, now=T0) == 1
    with session_scope() as s:
        n = s.exec(select(Notification).where(Notification.deadline_id == review_id)).one()
        assert (n.status, n.contact_id, n.language) == ("pending", inbox.id, "en")
        assert sweep(s, due + timedelta(hours=1)) == 0  # nothing new for that rung


def test_a_late_review_escalates_to_the_coordinator_not_the_regions_escalation_contact(db_url):
    """Reviews are the programme's business: their +5 goes to the coordinator (in the sweep's summary, flagged),
    never to the region's escalation contact, who only hears about the region's own deadlines."""
    from smartcity.models.deadlines.ops import rung_first_at
    from smartcity.models.deadlines.policy import default_policy

    load_registry()
    cohort_with(["7371"])  # Kota Makassar (WITA)
    for stage in ("selected", "drafting"):
        with session_scope() as s:
            change_stage(
                s, StageChange(region_code="7371", to=Stage(stage), actor="ani", reason=None, cohort="2017"), now=T0
            )
    with session_scope() as s:
        sekda = add_contact(
            s,
            role="escalation",
            region_code="7371",
            name="Sekda Makassar",
            language="id",
            now=T0,
            url="json://127.0.0.1:9/sekda",
        ).id
        add_contact(
            s,
            role="coordinator",
            region_code=None,
            name="Koordinator",
            language="en",
            now=T0,
            url="json://127.0.0.1:9/koordinator",
        )
        inbox = add_contact(
            s, role="reviewer", region_code=None, name="r", url="json://127.0.0.1:9/r", language="en", now=T0
        )
        add_reviewer(
            s,
            name="Reviewer",
            institution="ITB",
            province="Banten",
            expertise="governance",
            now=T0,
            contact_id=inbox.id,
        )
        submit_masterplan(s, "7371", "v1", "ani", T0 + timedelta(days=1), n=1)
    with session_scope() as s:
        review = s.exec(select(Deadline).where(Deadline.kind == "review")).one()
    ladder = {r.key: r for r in default_policy().ladder}
    for key in ("+1", "+5"):
        with session_scope() as s:
            sweep(s, rung_first_at(review.due_at, "Asia/Makassar", ladder[key], 8) + timedelta(hours=1))
    with session_scope() as s:
        mine = s.exec(select(Notification).where(Notification.deadline_id == review.id)).all()
        summaries = s.exec(select(Notification).where(Notification.rung == "summary")).all()
    assert [(n.rung, n.role, n.contact_id) for n in mine] == [("+1", "reviewer", inbox.id)]
    assert sekda not in {n.contact_id for n in mine}
    late = [line for n in summaries for line in n.body.splitlines() if "Masterplan review" in line]
    assert late == [
        "- Kota Makassar (7371): Masterplan review, overdue by 1 working day (due "
        f"{format_local_long(review.due_at, 'Asia/Makassar', 'en')})",
        "- ESCALATION: Kota Makassar (7371): Masterplan review, overdue by 5 working days (due "
        f"{format_local_long(review.due_at, 'Asia/Makassar', 'en')})",
    ]
