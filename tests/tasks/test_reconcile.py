"""The reconciler finds regions whose triggered follow-up never came, and repairs each exactly once.

The lost trigger is real here: the selection commits with no Prefect API, so its event waits in the outbox
and no drafting-setup run ever starts. The late trigger is the follow-up's own domain call with its own key.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, func, select

from smartcity.flows.drafting_setup import ACTOR as DRAFTING_SETUP_ACTOR
from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.program import close_file
from smartcity.models.core.reconcile import (
    ACTOR,
    FollowUp,
    Repair,
    find_stalled,
    reconcile,
    repair,
    repairs_markdown,
    stalled_line,
)
from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import EventOutbox, StageTransition
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.ops import announce_deadline
from smartcity.models.deadlines.tables import Deadline, Notification
from smartcity.models.infra.db import session_scope
from smartcity.models.notifications.outbox import add_contact
from smartcity.models.quickwins.tables import QuickWin
from smartcity.models.reviews.tables import MasterplanRound
from tests.conftest import dump_database
from tests.helpers import T0, cohort_with, load_registry

DEPOK, BANDUNG, MAKASSAR = "3276", "3273", "7371"
GRACE = timedelta(minutes=60)
LATER = T0 + timedelta(hours=2)


def move(code: str, to: Stage, at=T0, key: str | None = None, actor: str = "ani"):
    """One stage change in its own session, as of `at`."""
    with session_scope() as s:
        return change_stage(
            s, StageChange(region_code=code, to=to, actor=actor, cohort="2017", idempotency_key=key), now=at
        )


def selected_event_id(code: str) -> str:
    """The id of the `smartcity.region.selected` event queued for `code` (the trigger's `event_id`)."""
    with session_scope() as s:
        rows = s.exec(select(EventOutbox).where(EventOutbox.event == "smartcity.region.selected")).all()
    (row,) = [r for r in rows if r.payload["region_code"] == code]
    return row.event_id


def late_drafting_setup(code: str):
    """What drafting-setup does when its trigger fires after all: the same change under the same key."""
    key = f"drafting-setup:{selected_event_id(code)}"
    return move(code, Stage.drafting, key=key, actor=DRAFTING_SETUP_ACTOR)


def drafting_facts(code: str) -> tuple[int, int, str]:
    """(transitions into drafting, drafting deadlines opened, the enrollment's stage)."""
    with session_scope() as s:
        enr = find_enrollment(s, code)
        moves = s.exec(
            select(func.count())
            .select_from(StageTransition)
            .where(StageTransition.enrollment_id == enr.id, StageTransition.to_stage == Stage.drafting)
        ).one()
        deadlines = s.exec(
            select(func.count())
            .select_from(Deadline)
            .where(Deadline.enrollment_id == enr.id, Deadline.stage == Stage.drafting)
        ).one()
        return moves, deadlines, enr.stage


def run(now=LATER, dry_run=False) -> list[Repair]:
    with session_scope() as s:
        return reconcile(s, now=now, grace=GRACE, dry_run=dry_run)


@pytest.fixture
def cohort(db_url):
    load_registry()
    cohort_with([DEPOK, BANDUNG, MAKASSAR])
    return db_url


def test_a_selection_whose_trigger_was_lost_reaches_drafting_exactly_once(cohort):
    for code in (DEPOK, BANDUNG):
        move(code, Stage.selected)
    late_drafting_setup(BANDUNG)  # Bandung's trigger worked; Depok's event was never acted on
    with session_scope() as s:
        assert find_stalled(s, now=T0 + timedelta(minutes=59), grace=GRACE) == []  # still within grace
        (item,) = find_stalled(s, now=LATER, grace=GRACE)
    assert (item.region_code, item.stage, item.follow_up, item.since) == (
        DEPOK,
        Stage.selected,
        FollowUp.drafting_setup,
        T0,
    )
    assert item.marker == f"drafting-setup:{selected_event_id(DEPOK)}"

    (repair,) = run()
    assert repair.outcome == "repaired"
    moves, deadlines, stage = drafting_facts(DEPOK)
    assert (moves, stage) == (1, Stage.drafting) and deadlines > 0
    with session_scope() as s:
        last = s.exec(select(StageTransition).order_by(col(StageTransition.id).desc())).first()
    # Recorded as of the selection (as the trigger's `at` would have), by the reconciler, under the trigger's key.
    assert (last.actor, last.occurred_at, last.idempotency_key) == (ACTOR, T0, item.marker)
    assert drafting_facts(DEPOK)[1] == drafting_facts(BANDUNG)[1]  # the same deadlines as a region whose trigger worked

    assert run() == []  # a second run repairs nothing
    assert late_drafting_setup(DEPOK).status == "duplicate"  # the trigger firing late doubles nothing
    assert drafting_facts(DEPOK) == (moves, deadlines, Stage.drafting)


def test_a_late_trigger_first_leaves_the_reconciler_nothing(cohort):
    move(DEPOK, Stage.selected)
    assert late_drafting_setup(DEPOK).status == "applied"
    assert run() == []
    assert drafting_facts(DEPOK)[0] == 1


def test_dry_run_lists_and_changes_nothing(cohort):
    move(DEPOK, Stage.selected)
    before = dump_database(cohort)
    (item,) = run(dry_run=True)
    assert (item.stalled.region_code, item.outcome) == (DEPOK, "would repair")
    assert dump_database(cohort) == before


def completed(code: str, pic: bool = True) -> None:
    """`code` at masterplan_completed at T0 (+ a PIC contact), its quick-win tracking never run."""
    with session_scope() as s:
        if pic:
            add_contact(
                s, role="pic", region_code=code, name=f"PIC {code}", url="json://127.0.0.1:9/pic", language="en", now=T0
            )
    move(code, Stage.selected)
    move(code, Stage.drafting)
    with session_scope() as s:
        s.add(
            MasterplanRound(enrollment_id=find_enrollment(s, code).id, round_no=1, status="approved", submitted_at=T0)
        )
    move(code, Stage.masterplan_completed)


def start_notices(code: str) -> int:
    with session_scope() as s:
        enr = find_enrollment(s, code)
        return s.exec(
            select(func.count())
            .select_from(Notification)
            .join(Deadline)
            .where(Deadline.enrollment_id == enr.id, Notification.rung == "start")
        ).one()


def test_quick_win_tracking_lost_tells_the_pic_once(cohort):
    completed(MAKASSAR)
    completed(DEPOK, pic=False)  # no PIC: quick-win tracking has nobody to tell, so nothing is waiting
    (repair,) = run()
    assert (repair.stalled.region_code, repair.stalled.follow_up, repair.outcome) == (
        MAKASSAR,
        FollowUp.quick_win_tracking,
        "repaired",
    )
    assert start_notices(MAKASSAR) == 1
    assert run() == []
    with session_scope() as s:  # the quick-win-tracking flow's own call, firing late: its key exists already
        assert announce_deadline(s, MAKASSAR, "quick-win", T0) == 0
    assert start_notices(MAKASSAR) == 1


def test_a_delivered_region_whose_file_close_was_lost_is_closed_once(cohort):
    completed(BANDUNG, pic=False)
    with session_scope() as s:
        s.add(
            QuickWin(
                enrollment_id=find_enrollment(s, BANDUNG).id, title="Command Center", verified_at=T0, verified_by="budi"
            )
        )
    move(BANDUNG, Stage.quick_win_delivered)
    (repair,) = run()
    assert (repair.stalled.follow_up, repair.outcome, repair.detail) == (
        FollowUp.close_region_file,
        "repaired",
        f"file-closed:{repair.stalled.enrollment_id}",
    )
    with session_scope() as s:
        closed = s.exec(select(EventOutbox).where(EventOutbox.event == "smartcity.region.file_closed")).all()
        assert close_file(s, BANDUNG, cohort="2017", at=T0) is False  # the flow firing late: already closed
    assert [r.payload["region_code"] for r in closed] == [BANDUNG]
    assert run() == []


def test_a_refused_follow_up_is_reported_not_raised(cohort):
    move(DEPOK, Stage.selected)
    with session_scope() as s:
        (item,) = find_stalled(s, now=LATER, grace=GRACE)
        # Withdrawn between finding and repairing: drafting is no longer allowed.
        change_stage(
            s,
            StageChange(region_code=DEPOK, to=Stage.withdrawn, actor="ani", cohort="2017", reason="the mayor declined"),
            now=LATER,
        )
        outcome = repair(s, item, now=LATER)
    assert outcome.outcome == "refused" and "withdrawn" in outcome.detail
    assert drafting_facts(DEPOK) == (0, 0, Stage.withdrawn)


def test_markdown_and_status_lines_show_the_regions_local_time(cohort):
    move(DEPOK, Stage.selected)
    (repair,) = run(dry_run=True)
    assert stalled_line(repair.stalled).split() == [
        DEPOK,
        "Kota",
        "Depok",
        "selected",
        "since",
        "2017-05-02",
        "08:00",
        "WIB,",
        "waiting",
        "for",
        "drafting-setup",
    ]
    text = repairs_markdown([repair], now=LATER, grace=GRACE)
    assert "| 3276 | Kota Depok | 2017 | selected | 2017-05-02 08:00 WIB | drafting-setup | would repair |" in text
    assert "Nothing stalled" in repairs_markdown([], now=LATER, grace=GRACE)
