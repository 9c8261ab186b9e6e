"""Deadlines, the reminder sweep and the outbox on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from smartcity.models.core.errors import BadInput, DomainRefused
from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.ops import (
    _move_pointers,
    complete_milestone,
    due_deadlines,
    extend_deadline,
    find_deadline,
    rung_day,
    sweep,
)
from smartcity.models.deadlines.policy import default_policy
from smartcity.models.deadlines.tables import Deadline, DeadlineExtension, Notification
from smartcity.models.deadlines.workdays import add_working_days, format_local, local_at, working_days_between
from smartcity.models.infra.db import get_engine, session_scope
from smartcity.models.infra.settings import Settings
from smartcity.models.notifications.delivery import dispatch
from smartcity.models.notifications.outbox import add_contact
from tests.fakes import RecordingSender
from tests.helpers import T0, cohort_with, load_registry

BANDUNG, MAKASSAR, MIMIKA = "3273", "7371", "9412"  # WIB, WITA, WIT
POLICY = default_policy()
FAST = {"notify_backoff_s": 0.0, "notify_attempts": 2, "notify_concurrency": 3}


@pytest.fixture
def world(db_url):
    """Three regions in three zones drafting since T0 (Tue 2 May 2017 08:00 WIB), with contacts."""
    load_registry()
    cohort_with([BANDUNG, MAKASSAR, MIMIKA])
    with session_scope() as s:
        for code in (BANDUNG, MAKASSAR, MIMIKA):
            add_contact(
                s,
                role="pic",
                region_code=code,
                name=f"PIC {code}",
                language="id",
                now=T0,
                url=f"json://pic:S3cretPic{code}@127.0.0.1:9/pic-{code}",
            )
        add_contact(
            s,
            role="coordinator",
            region_code=None,
            name="Koordinator",
            language="en",
            now=T0,
            url="json://127.0.0.1:9/coordinator",
        )
        add_contact(
            s,
            role="escalation",
            region_code=BANDUNG,
            name="Sekda Bandung",
            language="id",
            now=T0,
            url="json://127.0.0.1:9/escalation",
        )
    for code in (BANDUNG, MAKASSAR, MIMIKA):
        move(code, "selected")
        move(code, "drafting")
    return db_url


def move(code, to, at=T0, reason=None):
    with session_scope() as s:
        return change_stage(s, StageChange(region_code=code, to=Stage(to), actor="ani", reason=reason), now=at)


def deadline(code, key):
    with session_scope() as s:
        return find_deadline(s, code, key)


def rows(**where):
    with session_scope() as s:
        query = select(Notification).order_by(Notification.id)
        for k, v in where.items():
            query = query.where(getattr(Notification, k) == v)
        return s.exec(query).all()


def run_sweep(at):
    with session_scope() as s:
        return sweep(s, at)


def rung_instant(d, code_tz, key):
    """08:00 local (region zone) of a rung's day, in UTC."""
    rung = next(r for r in POLICY.ladder if r.key == key)
    return local_at(rung_day(d.due_at, code_tz, rung), code_tz, 8)


def test_entering_drafting_opens_masterplan_and_four_bimteks(world):
    with session_scope() as s:
        found = s.exec(select(Deadline).order_by(Deadline.id)).all()
    mine = [d for d in found if d.enrollment_id == deadline(BANDUNG, "masterplan").enrollment_id]
    bandung = {d.key: d for d in mine if d.stage == "drafting"}
    assert sorted(bandung) == ["bimtek-1", "bimtek-2", "bimtek-3", "bimtek-4", "masterplan"]
    # nomination opened the assessment milestone; leaving `nominated` closed it
    assert [(d.key, d.status != "open") for d in mine if d.stage == "nominated"] == [("assessment", True)]
    assert {d.kind for k, d in bandung.items() if k != "masterplan"} == {"milestone"}
    expected = {"bimtek-1": 20, "bimtek-2": 45, "bimtek-3": 70, "bimtek-4": 95, "masterplan": 120}
    for key, days in expected.items():
        day = add_working_days(date(2017, 5, 2), days)
        assert format_local(bandung[key].due_at, "Asia/Jakarta") == f"{day:%Y-%m-%d} 17:00 WIB"
    # Checked by hand: 1 May, 11 May (Waisak), 25 May (Ascension) and 1 June (Pancasila) are off.
    assert format_local(bandung["bimtek-1"].due_at, "Asia/Jakarta") == "2017-06-02 17:00 WIB"
    assert format_local(deadline(MIMIKA, "bimtek-1").due_at, "Asia/Jayapura") == "2017-06-02 17:00 WIT"
    assert all(d.status == "open" and d.next_rung == "T-14" for d in bandung.values())


def test_working_days_across_idul_fitri_2017_through_the_db(world):
    # Makassar revises back to drafting on Wed 21 June 2017, 09:00 WITA: the 20 working days of bimtek-1
    # skip Idul Fitri (25-26 June) and cuti bersama (23, 27-30 June): Thu 27 July, not Wed 19 July.
    with session_scope() as s:
        s.execute(sa.update(Deadline).values(status="cancelled"))  # the first drafting's deadlines
    d = deadline(MAKASSAR, "masterplan")
    with session_scope() as s:
        s.execute(sa.text("DELETE FROM notification"))
    assert d.status == "cancelled"
    from smartcity.models.core.tables import Enrollment
    from smartcity.models.deadlines.ops import open_stage_deadlines

    with session_scope() as s:
        enr = s.get(Enrollment, d.enrollment_id)
        open_stage_deadlines(s, enr, "drafting", datetime(2017, 6, 21, 1, tzinfo=UTC))
    assert format_local(deadline(MAKASSAR, "bimtek-1").due_at, "Asia/Makassar") == "2017-07-27 17:00 WITA"
    # Extending a deadline due Thu 22 June by one working day lands on Mon 3 July.
    with session_scope() as s:
        row = find_deadline(s, MAKASSAR, "bimtek-1")
        row.due_at = local_at(date(2017, 6, 22), "Asia/Makassar", 17)
        s.add(row)
    with session_scope() as s:
        extended = extend_deadline(s, row.id, 1, "Lebaran", "ani", datetime(2017, 6, 21, 2, tzinfo=UTC))
    assert format_local(extended.due_at, "Asia/Makassar") == "2017-07-03 17:00 WITA"


def test_rungs_fire_at_0800_local_in_wib_wita_wit(world):
    first = {
        code: rung_instant(deadline(code, "bimtek-1"), tz, "T-14")
        for code, tz in ((BANDUNG, "Asia/Jakarta"), (MAKASSAR, "Asia/Makassar"), (MIMIKA, "Asia/Jayapura"))
    }
    assert [first[c].isoformat() for c in (BANDUNG, MAKASSAR, MIMIKA)] == [
        "2017-05-10T01:00:00+00:00",
        "2017-05-10T00:00:00+00:00",
        "2017-05-09T23:00:00+00:00",
    ]
    assert run_sweep(first[MIMIKA] - timedelta(minutes=1)) == 0
    assert run_sweep(first[MIMIKA]) == 1  # 08:00 WIT: only Mimika's PIC
    assert run_sweep(first[MAKASSAR]) == 1
    assert run_sweep(first[BANDUNG]) == 1
    sent = sorted((r.send_after, r.rung) for r in rows())
    assert sent == sorted((first[c], "T-14") for c in first)


def test_coordinator_gets_the_plus_one_rung_at_0800_jakarta_time(world):
    with session_scope() as s:
        for key in ("bimtek-1", "bimtek-2", "bimtek-3", "bimtek-4"):
            complete_milestone(s, MIMIKA, key, "ani", T0)
    mp = deadline(MIMIKA, "masterplan")
    at = rung_instant(mp, "Asia/Jayapura", "+1")
    with session_scope() as s:
        s.execute(sa.update(Deadline).where(Deadline.id == mp.id).values(next_rung="+1", next_rung_at=at))
    run_sweep(at - timedelta(minutes=1))  # the other regions' backlog (bimteks never done) goes out first
    with session_scope() as s:
        s.execute(sa.delete(Notification))
    run_sweep(at)
    [pic] = rows(deadline_id=mp.id)  # the PIC's own message; the coordinator's is in the sweep's summary
    [summary] = rows(rung="summary")
    assert summary.send_after - pic.send_after == timedelta(hours=2)  # 08:00 WIT, then 08:00 WIB
    assert format_local(summary.send_after, "Asia/Jakarta").endswith("08:00 WIB")
    assert (
        "- Kabupaten Mimika (9412): Smart city masterplan, overdue by 1 working day "
        "(due Thursday, 2 November 2017 17:00 WIT)"
    ) in summary.body.splitlines()


def test_each_rung_is_enqueued_once_and_escalation_goes_to_the_escalation_contact(world):
    with session_scope() as s:
        for key in ("bimtek-1", "bimtek-2", "bimtek-3", "bimtek-4"):
            complete_milestone(s, BANDUNG, key, "ani", T0)
    mp = deadline(BANDUNG, "masterplan")
    seen = []
    for rung in POLICY.ladder:
        at = rung_instant(mp, "Asia/Jakarta", rung.key)
        run_sweep(at)
        assert run_sweep(at) == 0  # the same sweep again adds nothing
        assert run_sweep(at + timedelta(hours=3)) == 0
        new = [r for r in rows(deadline_id=mp.id) if r.id not in {x.id for x in seen}]
        assert {r.rung for r in new} == {rung.key}
        seen += new
        # the coordinator's +1 comes in that sweep's summary, and in no other sweep's
        bandung = [r for r in rows(rung="summary") if "Kota Bandung (3273)" in r.body]
        assert len(bandung) == (1 if rung.offset >= 1 else 0)
    count = {k: sum(1 for r in seen if r.rung == k) for k in ("T-14", "due", "+1", "+5")}
    assert count == {"T-14": 1, "due": 1, "+1": 1, "+5": 1}
    with session_scope() as s:
        from smartcity.models.core.tables import Contact

        roles = {r.rung: s.get(Contact, r.contact_id).role for r in seen if r.rung in ("T-1", "+5")}
    assert roles == {"T-1": "pic", "+5": "escalation"}
    esc = next(r for r in seen if r.rung == "+5")
    assert "ESKALASI" in esc.subject and "Kamis, 2 November 2017 17:00 WIB" in esc.body
    assert deadline(BANDUNG, "masterplan").next_rung is None


def test_extension_is_audited_and_restarts_reminders(world):
    mp = deadline(BANDUNG, "masterplan")
    before = mp.due_at
    with pytest.raises(BadInput, match="reason"):
        with session_scope() as s:
            extend_deadline(s, mp.id, 10, "  ", "ani", T0)
    with session_scope() as s:
        assert s.exec(select(DeadlineExtension)).all() == []
    t14 = rung_instant(mp, "Asia/Jakarta", "T-14")
    run_sweep(t14)
    assert len(rows(deadline_id=mp.id)) == 1
    with session_scope() as s:
        extend_deadline(s, mp.id, 10, "banjir di kantor Bappeda", "koordinator-ani", t14 + timedelta(hours=1))
    with session_scope() as s:
        ext = s.exec(select(DeadlineExtension)).one()
    assert (ext.old_due, ext.working_days, ext.reason, ext.actor) == (
        before,
        10,
        "banjir di kantor Bappeda",
        "koordinator-ani",
    )
    mp = deadline(BANDUNG, "masterplan")
    assert mp.extended and mp.cycle == 1 and ext.new_due == mp.due_at
    assert format_local(mp.due_at, "Asia/Jakarta") == f"{add_working_days(date(2017, 11, 2), 10)} 17:00 WIB"
    run_sweep(rung_instant(mp, "Asia/Jakarta", "T-14"))
    assert [r.dedupe_key.split(":")[2:4] for r in rows(deadline_id=mp.id)] == [["0", "T-14"], ["1", "T-14"]]


def test_milestone_done_and_refusals(world):
    with session_scope() as s:
        d, changed = complete_milestone(s, BANDUNG, "bimtek-1", "ani", datetime(2017, 5, 20, 3, tzinfo=UTC))
    assert changed and (d.status, d.done_by, d.next_rung_at) == ("done", "ani", None)
    with session_scope() as s:
        assert complete_milestone(s, BANDUNG, "bimtek-1", "budi", T0)[1] is False
    with pytest.raises(DomainRefused, match="not a milestone"), session_scope() as s:
        complete_milestone(s, BANDUNG, "masterplan", "ani", T0)
    with pytest.raises(BadInput, match="timezone"), session_scope() as s:
        complete_milestone(s, BANDUNG, "bimtek-2", "ani", datetime(2017, 5, 20))


def test_leaving_a_stage_closes_its_deadlines(world):
    move(BANDUNG, "withdrawn", at=T0 + timedelta(days=3), reason="bupati changed")
    with session_scope() as s:
        mine = s.exec(
            select(Deadline).where(Deadline.enrollment_id == deadline(BANDUNG, "masterplan").enrollment_id)
        ).all()
    assert {d.status for d in mine} == {"cancelled"}
    assert all(d.next_rung_at is None for d in mine)


def test_sweep_reads_only_due_rows_through_the_index(world):
    engine = get_engine()
    with session_scope() as s:
        stmt = select(Deadline).where(Deadline.status == "open", Deadline.next_rung_at <= T0)
        sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
        assert due_deadlines(s, T0) == []  # nothing due yet: the sweep loads no row at all
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.execute(sa.text("EXPLAIN QUERY PLAN " + sql)))
            assert "USING INDEX ix_deadline_sweep" in plan and "SCAN deadline" not in plan, plan
        else:
            conn.execute(sa.text("SET enable_seqscan = off"))  # tiny tables: ask whether the index serves
            plan = " ".join(r[0] for r in conn.execute(sa.text("EXPLAIN " + sql)))
            assert "ix_deadline_sweep" in plan, plan


def test_batch_move_falls_back_to_one_by_one_when_another_writer_moved_a_pointer(world):
    """The sweep moves a batch's pointers in one executemany; when its row count shows that another writer
    got to one of them first, the batch is undone and redone row by row: exactly the others are ours."""
    with session_scope() as s:
        due = due_deadlines(s, datetime(2018, 1, 1, tzinfo=UTC))
        moves = [
            {
                "d_id": d.id,
                "d_cycle": d.cycle,
                "d_rung": d.next_rung,
                "new_rung": "+5",
                "new_at": datetime(2030, 1, 1, tzinfo=UTC),
            }
            for d in due[:3]
        ]
        moves[1]["d_rung"] = "T-99"  # what this sweep read is no longer there: someone else moved it
        assert _move_pointers(s, moves) == {moves[0]["d_id"], moves[2]["d_id"]}
        s.commit()
    with session_scope() as s:
        now = {d.id: d.next_rung for d in s.exec(select(Deadline)).all()}
    assert [now[m["d_id"]] for m in moves] == ["+5", due[1].next_rung, "+5"]


def test_concurrent_sweeps_enqueue_each_reminder_once(world):
    """Four sweeps at once over the same due deadlines (threads, one session each): one notification per
    reminder. On PostgreSQL they really overlap and the losers' batch moves fall back row by row."""
    from concurrent.futures import ThreadPoolExecutor

    at = datetime(2017, 11, 20, 3, 0, tzinfo=UTC)
    with ThreadPoolExecutor(4) as pool:
        added = list(pool.map(lambda _: run_sweep(at), range(4)))
    keys = [r.dedupe_key for r in rows(status="pending")]
    assert sum(added) == len(keys) > 0 and len(set(keys)) == len(keys), added
    assert run_sweep(at) == 0
    # The coordinator hears of each late deadline once: 3 regions x (masterplan + 4 bimteks), whichever of the
    # sweeps moved it, in one summary per sweep that had any.
    listed = [line for r in rows(rung="summary") for line in r.body.splitlines() if line.startswith("- ")]
    assert len(listed) == len(set(listed)) == 15, listed


def test_after_a_gap_each_role_gets_its_latest_rung_once(world):
    """The sweep stopped after T-7 and came back weeks after +5: the PIC gets its latest rung (+1, saying how late
    it is now), the coordinator the +1 in its summary, the escalation contact the +5; each once."""
    mp = deadline(BANDUNG, "masterplan")
    with session_scope() as s:
        for key in ("bimtek-1", "bimtek-2", "bimtek-3", "bimtek-4"):
            complete_milestone(s, BANDUNG, key, "ani", T0)
    run_sweep(rung_instant(mp, "Asia/Jakarta", "T-7"))  # the last sweep before the gap
    seen = {r.id for r in rows()}
    back = datetime(2017, 12, 1, 1, 0, tzinfo=UTC)  # Fri 1 December 2017, 08:00 WIB
    enqueued = run_sweep(back)
    new = [r for r in rows() if r.id not in seen]
    mine = {(r.rung, r.role, r.status) for r in new if r.deadline_id == mp.id}
    assert mine == {("+1", "pic", "pending"), ("+5", "escalation", "pending")}
    late = working_days_between(date(2017, 11, 2), date(2017, 12, 1))
    pic = next(r for r in new if r.deadline_id == mp.id and r.role == "pic")
    assert pic.subject == f"[Smart City] Kota Bandung: Masterplan smart city terlambat {late} hari kerja"
    [summary] = [r for r in new if r.rung == "summary"]
    assert (
        f"- Kota Bandung (3273): Smart city masterplan, overdue by {late} working days "
        "(due Thursday, 2 November 2017 17:00 WIB)"
    ) in summary.body.splitlines()
    assert sum(line.startswith("- ") for line in summary.body.splitlines()) == 3  # the three masterplans
    # Makassar and Mimika have no escalation contact: theirs wait, listed; the others were sent
    assert sorted((r.rung, r.role, r.status) for r in new if r.deadline_id not in (mp.id, None)) == [
        ("+1", "pic", "pending"),
        ("+1", "pic", "pending"),
        ("+5", "escalation", "unaddressed"),
        ("+5", "escalation", "unaddressed"),
    ]
    assert enqueued == 3 + 1 + 1  # three PICs, one summary, Bandung's escalation
    assert run_sweep(back) == 0 and run_sweep(back + timedelta(days=3)) == 0
    assert deadline(BANDUNG, "masterplan").next_rung is None


async def test_dispatch_sends_once_and_keeps_failures_pending_without_secrets(world):
    at = rung_instant(deadline(MIMIKA, "bimtek-1"), "Asia/Jayapura", "T-14")
    assert run_sweep(at + timedelta(hours=2)) == 3  # T-14 of bimtek-1 in all three zones
    failing = RecordingSender(fail=lambda url, title: "3273" in url)
    result = await dispatch(at + timedelta(hours=2), failing, settings=Settings(**FAST))
    assert result == {"sent": 2, "failed": 1, "skipped": 0}
    bad = next(r for r in rows() if r.status == "pending")
    assert bad.attempts == 2 and "recording sender" in bad.last_error and "S3cretPic" not in bad.last_error
    good = RecordingSender()
    both = await asyncio.gather(
        dispatch(at + timedelta(hours=2), good, settings=Settings(**FAST)),
        dispatch(at + timedelta(hours=2), good, settings=Settings(**FAST)),
    )
    assert sum(r["sent"] for r in both) == 1 and len(good.sent) == 1 and "pic-3273" in good.sent[0][0]
    assert {r.status for r in rows()} == {"sent"}
    assert await dispatch(at + timedelta(days=30), good, settings=Settings(**FAST)) == {
        "sent": 0,
        "failed": 0,
        "skipped": 0,
    }


SURABAYA = "3578"  # WIB; no contact at all until the test adds one


async def test_a_reminder_with_no_contact_is_kept_listed_and_sent_once_a_contact_is_added(world):
    """Nothing is dropped for want of an address: a rung whose role has no contact becomes an 'unaddressed'
    row that the outbox lists; `contacts add` gives the latest one per deadline to the new contact (older
    rungs are superseded, as after downtime) and the next dispatch sends it, once."""
    from smartcity.models.notifications.outbox import outbox_rows, waiting_for

    cohort_with([SURABAYA], name="no-contacts")
    move(SURABAYA, "selected")
    move(SURABAYA, "drafting")
    mp = deadline(SURABAYA, "masterplan")
    for key in ("T-14", "T-7"):
        at = rung_instant(mp, "Asia/Jakarta", key)
        run_sweep(at)
        assert run_sweep(at) == 0
    waiting = rows(deadline_id=mp.id)
    # nothing could be enqueued for sending, but both rungs are on record, once each, waiting for a PIC
    assert [(r.rung, r.status, r.role, r.contact_id) for r in waiting] == [
        ("T-14", "unaddressed", "pic", None),
        ("T-7", "unaddressed", "pic", None),
    ]
    with session_scope() as s:
        listed = [r for r in outbox_rows(s, failed_only=True) if r["deadline_id"] == mp.id]
    assert {r["contact"] for r in listed} == {"nobody yet: no pic contact"}

    at = rung_instant(mp, "Asia/Jakarta", "T-7") + timedelta(hours=3)
    first = RecordingSender()
    await dispatch(at, first, settings=Settings(**FAST))  # the other regions' reminders go out; these cannot
    assert {r.status for r in rows(deadline_id=mp.id)} == {"unaddressed"}
    assert not [title for _, title, _ in first.sent if title.startswith("[Smart City] Kota Surabaya")]
    with session_scope() as s:
        other = add_contact(
            s,
            role="pic",
            region_code=MAKASSAR,
            name="2nd PIC Makassar",
            language="id",
            now=at,
            url="json://127.0.0.1:9/pic2",
        )
        assert waiting_for(s, other.id) == 0  # a PIC of another region takes none of them
        open_waiting = s.exec(
            select(sa.func.count(sa.distinct(Notification.deadline_id))).where(
                Notification.status == "unaddressed", Notification.role == "pic"
            )
        ).one()
        pic = add_contact(
            s,
            role="pic",
            region_code=SURABAYA,
            name="PIC Surabaya",
            language="en",
            now=at,
            url="json://127.0.0.1:9/pic-3578",
        )
        assert waiting_for(s, pic.id) == open_waiting >= 1  # the latest rung of each of its deadlines
    after = {r.rung: r for r in rows(deadline_id=mp.id)}
    assert (after["T-14"].status, after["T-7"].status, after["T-7"].contact_id) == ("cancelled", "pending", pic.id)
    assert after["T-7"].dedupe_key == f"rem:{mp.id}:0:T-7:{pic.id}" and after["T-7"].language == "en"
    # re-rendered for its reader (English), with the dedupe key the message itself carries
    assert after["T-7"].subject == "[Smart City] Kota Surabaya: Smart city masterplan due in 7 working days"
    assert f"Ref: rem:{mp.id}:0:T-7:{pic.id}" in after["T-7"].body
    sender = RecordingSender()
    await dispatch(at, sender, settings=Settings(**FAST))
    assert [sent[0] for sent in sender.sent].count("json://127.0.0.1:9/pic-3578") == open_waiting
    assert rows(deadline_id=mp.id)[1].status == "sent"
    assert run_sweep(at) == 0 and (await dispatch(at, sender, settings=Settings(**FAST)))["sent"] == 0


def test_unaddressed_reminders_of_a_closed_deadline_are_cancelled(world):
    cohort_with([SURABAYA], name="no-contacts")
    move(SURABAYA, "selected")
    move(SURABAYA, "drafting")
    with session_scope() as s:
        bimtek = find_deadline(s, SURABAYA, "bimtek-1")
    run_sweep(rung_instant(bimtek, "Asia/Jakarta", "T-14"))
    assert [r.status for r in rows(deadline_id=bimtek.id)] == ["unaddressed"]
    with session_scope() as s:
        complete_milestone(s, SURABAYA, "bimtek-1", "ani", T0)
    assert [r.status for r in rows(deadline_id=bimtek.id)] == ["cancelled"]


def test_nominating_opens_what_opening_each_region_alone_would(db_url):
    """`nominate` opens the first stage's deadlines for all its new enrollments in one pass; region by region,
    `open_stage_deadlines` opens the same ones (keys, due instants in each region's zone, first rungs)."""
    from smartcity.models.core.tables import Enrollment
    from smartcity.models.deadlines.ops import open_stage_deadlines

    load_registry()
    cohort_with([BANDUNG, MAKASSAR, MIMIKA, "1571", "3578"])

    def deadlines() -> list[tuple]:
        with session_scope() as s:
            rows = s.exec(select(Deadline)).all()
            return sorted(
                (d.enrollment_id, d.kind, d.key, d.stage, d.due_at, d.next_rung, d.next_rung_at) for d in rows
            )

    together = deadlines()
    assert len(together) == 5 and {key for _, _, key, *_ in together} == {"assessment"}
    assert len({due for _, _, _, _, due, _, _ in together}) > 1  # WIB, WITA and WIT: the zones were used
    with session_scope() as s:
        s.execute(sa.delete(Deadline))
    with session_scope() as s:
        for enrollment in s.exec(select(Enrollment)).all():
            open_stage_deadlines(s, enrollment, "nominated", T0)
    assert deadlines() == together
