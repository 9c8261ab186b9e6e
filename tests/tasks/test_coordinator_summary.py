"""What a coordinator receives: one summary per sweep instead of one message per region, and quick-win notices
that tell a regional PIC what to send to whom (PICs cannot run `smartcity`)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import select

from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.ops import find_deadline, plan_sweep, rung_day, sweep
from smartcity.models.deadlines.policy import default_policy
from smartcity.models.deadlines.tables import Deadline, Notification
from smartcity.models.deadlines.workdays import local_at
from smartcity.models.infra.db import session_scope
from smartcity.models.notifications.outbox import add_contact
from tests.helpers import T0, cohort_with, load_registry, phase1_codes

PLUS_ONE = next(r for r in default_policy().ladder if r.key == "+1")
ZONES = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}


def drafting(codes: list[str]) -> None:
    """`codes` drafting since T0, each with a PIC; two coordinators, one reading Bahasa Indonesia, one English."""
    load_registry()
    cohort_with(codes)
    with session_scope() as s:
        for code in codes:
            add_contact(
                s,
                role="pic",
                region_code=code,
                name=f"PIC {code}",
                language="id",
                now=T0,
                url=f"json://127.0.0.1:9/pic-{code}",
            )
        for lang in ("id", "en"):
            add_contact(
                s,
                role="coordinator",
                region_code=None,
                name=f"Koordinator {lang}",
                language=lang,
                now=T0,
                url=f"json://127.0.0.1:9/koordinator-{lang}",
            )
    for code in codes:
        for to in (Stage.selected, Stage.drafting):
            with session_scope() as s:
                change_stage(s, StageChange(region_code=code, to=to, actor="ani"), now=T0)


def new_rows(before: set[int]) -> list[Notification]:
    with session_scope() as s:
        return [n for n in s.exec(select(Notification).order_by(Notification.id)).all() if n.id not in before]


def test_a_coordinator_gets_one_summary_per_sweep_listing_every_region(db_url):
    """bimtek-2 of the 25 phase-1 regions reaches +1 on the same day: each coordinator gets ONE message for the
    sweep, in their language, listing every region once with its local due time; the PICs keep their own."""
    codes = phase1_codes()
    drafting(codes)
    with session_scope() as s:
        bimtek = find_deadline(s, codes[0], "bimtek-2")
        zones = {
            code: s.exec(sa.text("select timezone from region where bps_code = :c"), params={"c": code}).one()[0]
            for code in codes
        }
    day = rung_day(bimtek.due_at, "Asia/Jakarta", PLUS_ONE)
    with session_scope() as s:
        sweep(s, local_at(day, "Asia/Jayapura", 8) - timedelta(minutes=1))  # the backlog up to the +1 day
    with session_scope() as s:
        before = set(s.exec(select(Notification.id)).all())
    at = local_at(day, "Asia/Jakarta", 8)  # 08:00 WIB: the +1 rung is due in every zone
    with session_scope() as s:
        assert {r["rung"] for r in plan_sweep(s, at) if r["role"] == "coordinator"} == {"summary"}  # dry run agrees
        enqueued = sweep(s, at)
    added = new_rows(before)
    pics = [n for n in added if n.role == "pic"]
    summaries = {n.language: n for n in added if n.role == "coordinator"}
    assert len(pics) == len(codes) and {n.rung for n in pics} == {"+1"}
    assert sorted(summaries) == ["en", "id"] and {n.rung for n in summaries.values()} == {"summary"}
    assert enqueued == len(codes) + 2 and len(added) == len(codes) + 2
    english = summaries["en"].body.splitlines()
    items = [line for line in english if line.startswith("- ")]
    assert len(items) == len(codes)
    for code in codes:  # each region once, its due time in its own zone
        [line] = [i for i in items if f"({code}):" in i]
        assert "Technical guidance workshop 2, overdue by 1 working day" in line
        assert line.endswith(f"17:00 {ZONES[zones[code]]})"), line
    assert summaries["en"].subject == f"[Smart City] Coordinator summary: {len(codes)} deadline(s) need attention"
    assert summaries["id"].subject == f"[Smart City] Ringkasan koordinator: {len(codes)} tenggat perlu perhatian"
    assert "Bimbingan teknis 2, terlambat 1 hari kerja (tenggat " in summaries["id"].body
    for n in summaries.values():  # the key is (coordinator contact, sweep instant), and the body carries it
        assert n.dedupe_key == f"sum:{n.contact_id}:{at.isoformat()}" and n.body.endswith(f"Ref: {n.dedupe_key}")
    with session_scope() as s:  # the same sweep again sends nothing twice
        assert sweep(s, at) == 0
        assert sweep(s, at + timedelta(hours=2)) == 0
    assert len(new_rows(before)) == len(added)


def test_a_coordinator_added_late_gets_the_waiting_reminders_as_one_summary(db_url):
    codes = ["3273", "7371", "9412"]
    load_registry()
    cohort_with(codes)
    with session_scope() as s:
        for code in codes:
            add_contact(
                s,
                role="pic",
                region_code=code,
                name=f"PIC {code}",
                language="id",
                now=T0,
                url=f"json://127.0.0.1:9/pic-{code}",
            )
    for code in codes:
        for to in (Stage.selected, Stage.drafting):
            with session_scope() as s:
                change_stage(s, StageChange(region_code=code, to=to, actor="ani"), now=T0)
    with session_scope() as s:
        bimtek = find_deadline(s, codes[0], "bimtek-1")
    at = local_at(rung_day(bimtek.due_at, "Asia/Jakarta", PLUS_ONE), "Asia/Jakarta", 9)
    with session_scope() as s:
        sweep(s, at)
        waiting = s.exec(select(Notification).where(Notification.status == "unaddressed")).all()
        assert {(n.role, n.rung) for n in waiting} == {("coordinator", "+1")} and len(waiting) == 3
        coordinator = add_contact(
            s,
            role="coordinator",
            region_code=None,
            name="Koordinator",
            language="en",
            now=at,
            url="json://127.0.0.1:9/koordinator",
        )
    with session_scope() as s:
        mine = s.exec(select(Notification).where(Notification.contact_id == coordinator.id)).all()
        left = s.exec(select(Notification).where(Notification.status == "unaddressed")).all()
    assert [(n.rung, n.status) for n in mine] == [("summary", "pending")] and left == []
    assert sum(line.startswith("- ") for line in mine[0].body.splitlines()) == 3


def test_the_quick_win_notice_tells_the_pic_what_to_send_to_whom(db_url):
    """A regional PIC has no `smartcity`: the notice says to send the quick win to the coordinator, who registers
    it; no command they cannot run."""
    from smartcity.models.deadlines.ops import announce_deadline
    from smartcity.models.reviews.tables import MasterplanRound

    load_registry()
    cohort_with(["7371"])
    with session_scope() as s:
        for lang in ("id", "en"):
            add_contact(
                s,
                role="pic",
                region_code="7371",
                name=f"PIC {lang}",
                language=lang,
                now=T0,
                url=f"json://127.0.0.1:9/pic-{lang}",
            )
    for to in (Stage.selected, Stage.drafting):
        with session_scope() as s:
            change_stage(s, StageChange(region_code="7371", to=to, actor="ani"), now=T0)
    with session_scope() as s:
        enrollment_id = find_deadline(s, "7371", "masterplan").enrollment_id
        s.add(MasterplanRound(enrollment_id=enrollment_id, round_no=1, status="approved", submitted_at=T0))
    with session_scope() as s:
        change_stage(s, StageChange(region_code="7371", to=Stage.masterplan_completed, actor="ani"), now=T0)
    with session_scope() as s:
        assert announce_deadline(s, "7371", "quick-win", T0) == 2
        notices = {
            n.language: n for n in s.exec(select(Notification).join(Deadline).where(Notification.rung == "start")).all()
        }
    assert "smartcity" not in notices["en"].body + notices["id"].body
    assert (
        "Send your programme coordinator the quick win's title, dimension, budget, start date and KPIs (name, "
        "unit, target): the coordinator registers it."
    ) in notices["en"].body.splitlines()
    assert "koordinator yang mendaftarkannya" in notices["id"].body
    assert "WITA" in notices["en"].body and notices["en"].subject.startswith("Kota Makassar: quick-win due ")
    assert {n.role for n in notices.values()} == {"pic"}
