"""Every coordinator action leaves one audit record with its actor (issue 14, item 7), and the bulk work:
a milestone done for a whole cohort, contacts imported from a CSV, both all or nothing."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import select

from smartcity.models.core.audit import export_rows, verify
from smartcity.models.core.errors import BadInput, DomainRefused, NotFound
from smartcity.models.core.program import create_cohort, nominate
from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import AuditRecord, Contact
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.ops import complete_milestone, complete_milestone_for_cohort, find_deadline
from smartcity.models.deadlines.tables import Notification
from smartcity.models.infra.db import session_scope
from smartcity.models.notifications.outbox import add_contact, import_contacts
from smartcity.models.quickwins.ops import DEFAULT_CHECKLIST, add_evidence, register_quick_win, verify_quick_win
from smartcity.models.reviews.ops import add_reviewer, declare_conflict, set_reviewer_active, set_reviewer_contact
from smartcity.models.vocabulary import DeadlineStatus, NotificationStatus
from tests.conftest import dump_database
from tests.helpers import T0, cohort_with, load_registry
from tests.tasks.test_quickwins import complete_masterplan, data

BANDUNG, BOGOR, MAKASSAR, MIMIKA = "3273", "3271", "7371", "9412"
SECRET = "S3cretT0ken"
PIC_URL = f"json://pic:{SECRET}@127.0.0.1:9/pic"


def records(kind: str | None = None) -> list[AuditRecord]:
    with session_scope() as s:
        query = select(AuditRecord).order_by(AuditRecord.id)
        return list(s.exec(query.where(AuditRecord.kind == kind) if kind else query).all())


def move(code: str, to: str, at) -> None:
    with session_scope() as s:
        change_stage(s, StageChange(region_code=code, to=Stage(to), actor="ani", cohort="2017"), now=at)


def test_each_coordinator_action_leaves_one_record_with_its_actor_and_the_chain_holds(db_url):
    load_registry()
    with session_scope() as s:
        create_cohort(s, name="2017", year=2017, quota=5, now=T0, actor="ani")
        assert nominate(s, cohort="2017", codes=[BANDUNG, BOGOR], now=T0, actor="ani") == (2, 0)
    with session_scope() as s:  # nothing new: nothing to audit
        assert nominate(s, cohort="2017", codes=[BANDUNG], now=T0, actor="ani") == (0, 1)
        nominate(s, cohort="2017", codes=[BANDUNG, MAKASSAR], now=T0, actor="budi")
        pic = add_contact(
            s, role="pic", region_code=BANDUNG, name="PIC", url=PIC_URL, language="id", now=T0, actor="budi"
        )
        reviewer_contact = add_contact(
            s, role="reviewer", region_code=None, name="Rev", url=PIC_URL + "2", language="en", now=T0, actor="budi"
        )
        r = add_reviewer(
            s, name="Dr. Ninok", institution="UMN", province="Banten", expertise="economy", now=T0, actor="ani"
        )
        set_reviewer_contact(s, reviewer_id=r.id, contact_id=reviewer_contact.id, now=T0, actor="ani")
        set_reviewer_active(s, reviewer_id=r.id, active=False, reason="leave", actor="ani", now=T0)
        set_reviewer_active(s, reviewer_id=r.id, active=True, reason="back", actor="ani", now=T0)
        declare_conflict(s, reviewer_id=r.id, region_code=BOGOR, reason="consults for Bogor", now=T0, actor="ani")
        assert pic.id
    complete_masterplan(BANDUNG)
    move(BOGOR, "selected", T0)
    move(BOGOR, "drafting", T0)
    later = T0 + timedelta(days=40)
    with session_scope() as s:
        qw = register_quick_win(s, BANDUNG, data(), "citra", later)
        add_evidence(s, qw.id, actor="citra", now=later, url=f"https://docs.example.id/qw.pdf?token={SECRET}")
        verify_quick_win(s, qw.id, "dewi", dict.fromkeys(DEFAULT_CHECKLIST, True), later)
        complete_milestone(s, BOGOR, "bimtek-1", "eka", later, now=later)

    audited = Counter((r.kind, r.actor) for r in records() if r.kind not in ("deadline_extended",))
    assert audited == {
        ("cohort_created", "ani"): 1,
        ("regions_nominated", "ani"): 1,
        ("regions_nominated", "budi"): 1,
        ("contact_added", "budi"): 2,
        ("reviewer_added", "ani"): 1,
        ("reviewer_contact_set", "ani"): 1,
        ("reviewer_deactivated", "ani"): 1,
        ("reviewer_activated", "ani"): 1,
        ("conflict_declared", "ani"): 1,
        ("quick_win_registered", "citra"): 1,
        ("quick_win_evidence", "citra"): 1,
        ("quick_win_verified", "dewi"): 1,
        ("milestone_done", "eka"): 1,
    }
    first, second = records("regions_nominated")
    assert first.content == {"nominated": [BANDUNG, BOGOR], "already_enrolled": []}
    assert second.content == {"nominated": [MAKASSAR], "already_enrolled": [BANDUNG]}
    added = records("contact_added")[0]
    assert added.subject == f"contact {pic.id}" and added.content["url"].startswith("json://")
    assert records("quick_win_evidence")[0].content["at"] == "docs.example.id"
    assert records("milestone_done")[0].subject == f"region {BOGOR} deadline bimtek-1"
    with session_scope() as s:
        assert verify(s)[1] is None
        exported = str(export_rows(s))
    assert SECRET not in exported and "127.0.0.1:9/pic" not in exported


def test_a_bad_actor_is_bad_input_and_changes_nothing(db_url):
    load_registry()
    before = dump_database(db_url)
    with session_scope() as s, pytest.raises(BadInput, match="--actor must name who acts"):
        create_cohort(s, name="2017", year=2017, quota=5, now=T0, actor="  ")
    assert dump_database(db_url) == before


@pytest.fixture
def staggered(db_url):
    """Bandung and Mimika drafting since T0, Makassar since T0 + 20 days, Bogor only nominated."""
    load_registry()
    cohort_with([BANDUNG, MAKASSAR, MIMIKA, BOGOR])
    for code, at in ((BANDUNG, T0), (MIMIKA, T0), (MAKASSAR, T0 + timedelta(days=20))):
        move(code, "selected", at)
        move(code, "drafting", at)
    with session_scope() as s:
        complete_milestone(s, MIMIKA, "bimtek-1", "ani", T0 + timedelta(days=1))
    return db_url


def test_a_milestone_done_for_a_cohort_is_all_or_nothing(staggered):
    now = T0 + timedelta(days=60)
    before = dump_database(staggered)
    cases = [
        (T0 + timedelta(days=10), "bimtek-1", BadInput, f"before region {MAKASSAR} entered drafting"),
        (now + timedelta(days=1), "bimtek-1", BadInput, "in the future"),
        (now, "masterplan", DomainRefused, "not a milestone"),
        (now, "bimtek-9", NotFound, "no region has a deadline 'bimtek-9'"),
    ]
    for at, key, error, says in cases:
        with session_scope() as s, pytest.raises(error, match=says):
            complete_milestone_for_cohort(s, "2017", key, "ani", at, now=now)
    with session_scope() as s, pytest.raises(NotFound, match="cohort '2099' does not exist"):
        complete_milestone_for_cohort(s, "2099", "bimtek-1", "ani", now, now=now)
    assert dump_database(staggered) == before

    at = T0 + timedelta(days=30)
    with session_scope() as s:
        outcome = complete_milestone_for_cohort(s, "2017", "bimtek-1", "budi", at, now=now)
    assert outcome == {"done": [BANDUNG, MAKASSAR], "already": [MIMIKA], "closed": []}
    with session_scope() as s:
        for code in (BANDUNG, MAKASSAR):
            d = find_deadline(s, code, "bimtek-1")
            assert (d.status, d.done_by) == (DeadlineStatus.done, "budi")
            waiting = s.exec(
                select(Notification).where(
                    Notification.deadline_id == d.id, Notification.status == NotificationStatus.pending
                )
            ).all()
            assert waiting == []
    done = [(r.subject, r.actor) for r in records("milestone_done")]
    assert done[-2:] == [(f"region {code} deadline bimtek-1", "budi") for code in (BANDUNG, MAKASSAR)]
    with session_scope() as s:
        again = complete_milestone_for_cohort(s, "2017", "bimtek-1", "budi", at, now=now)
        assert again == {"done": [], "already": [BANDUNG, MAKASSAR, MIMIKA], "closed": []}
        assert verify(s)[1] is None
    assert len(records("milestone_done")) == 3  # Mimika's own, then one per region of the batch


GOOD_CSV = (
    "role,region,name,url,language\n"
    f"pic,{BANDUNG},PIC Bandung,{PIC_URL},id\n"
    "coordinator,,Koordinator,json://127.0.0.1:9/coordinator,en\n"
    f"escalation,{MAKASSAR},Sekda Makassar,mailto://sekda:{SECRET}@mail.example.id,\n"
)


def test_contacts_import_adds_every_line_audited_and_masked_and_skips_what_is_there(db_url):
    load_registry()
    with session_scope() as s:
        added, skipped = import_contacts(s, GOOD_CSV, "contacts.csv", now=T0, actor="ani")
    assert skipped == 0 and [(c["role"], c["region"]) for c in added] == [
        ("pic", BANDUNG),
        ("coordinator", None),
        ("escalation", MAKASSAR),
    ]
    assert SECRET not in str(added)
    with session_scope() as s:
        langs = [c.language for c in s.exec(select(Contact).order_by(Contact.id)).all()]
    assert langs == ["id", "en", "id"]
    audited = records("contact_added")
    assert [r.actor for r in audited] == ["ani"] * 3 and SECRET not in str([r.content for r in audited])
    with session_scope() as s:
        assert import_contacts(s, GOOD_CSV, "contacts.csv", now=T0, actor="ani") == ([], 3)


def test_a_contacts_file_with_bad_lines_names_each_and_imports_nothing(db_url):
    load_registry()
    before = dump_database(db_url)
    bad = (
        "role,region,name,url,language\n"
        f"pic,{BANDUNG},PIC Bandung,{PIC_URL},id\n"  # good, but not imported
        f"boss,{BANDUNG},X,{PIC_URL}x,id\n"
        "pic,,No Region,json://127.0.0.1:9/a,id\n"
        f"coordinator,{BANDUNG},National,json://127.0.0.1:9/b,id\n"
        "pic,9999,Nowhere,json://127.0.0.1:9/c,id\n"
        f"pic,{BANDUNG},Bad URL,notaurl{SECRET},id\n"
        f"pic,{BANDUNG},French,json://127.0.0.1:9/d,fr\n"
        f"pic,{BANDUNG},PIC Bandung again,{PIC_URL},id\n"
        f"pic,{BANDUNG},,json://127.0.0.1:9/e,id\n"
    )
    with session_scope() as s, pytest.raises(BadInput, match="8 error") as caught:
        import_contacts(s, bad, "contacts.csv", now=T0, actor="ani")
    assert caught.value.errors == [
        "line 3: unknown role 'boss' (valid: pic, coordinator, reviewer, escalation)",
        "line 4: a pic contact needs a region",
        "line 5: coordinators are national: leave region empty",
        "line 6: region 9999: not in the registry",
        "line 7: url is not a valid Apprise URL",
        "line 8: unknown language 'fr' (valid: id, en)",
        "line 9: duplicate of line 2 (same role, region and url)",
        "line 10: missing name",
    ]
    assert SECRET not in str(caught.value) + str(caught.value.errors)
    with session_scope() as s, pytest.raises(BadInput, match="uses ';' as its delimiter"):
        import_contacts(s, GOOD_CSV.replace(",", ";"), "contacts.csv", now=T0, actor="ani")
    assert dump_database(db_url) == before
