"""Correcting contacts (issue 14): edit, replace and remove, audited; the failing messages follow the fix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from smartcity.models.core.errors import BadInput, DomainRefused
from smartcity.models.core.tables import AuditRecord, Contact
from smartcity.models.deadlines.ops import sweep
from smartcity.models.deadlines.tables import Notification
from smartcity.models.infra.db import session_scope
from smartcity.models.notifications.outbox import (
    add_contact,
    edit_contact,
    list_contacts,
    remove_contact,
    replace_contact,
)
from smartcity.models.vocabulary import NotificationStatus
from tests.conftest import dump_database
from tests.helpers import T0
from tests.tasks import test_deadlines
from tests.tasks.test_deadlines import BANDUNG

world = test_deadlines.world  # the fixture, shared

SWEPT = T0 + timedelta(days=12)  # bimtek-1's early rungs are due by then
NEW_URL = "json://pic:N3wS3cret@127.0.0.1:9/new-pic"


def pic_rows(contact_id: int) -> list[Notification]:
    with session_scope() as s:
        return list(s.exec(select(Notification).where(Notification.contact_id == contact_id)).all())


@pytest.fixture
def failing(world):
    """Bandung's PIC (contact 1) has reminders that keep failing (pending, tried twice)."""
    with session_scope() as s:
        assert sweep(s, SWEPT) > 0
        for n in s.exec(select(Notification).where(Notification.contact_id == 1)).all():
            n.attempts, n.last_error = 2, "connection refused"
            s.add(n)
    assert pic_rows(1)
    return world


def test_replacing_a_contact_readdresses_its_failing_messages_and_keeps_the_old_one(failing):
    old = pic_rows(1)
    with session_scope() as s:
        new, moved = replace_contact(
            s, 1, name="PIC Bandung (baru)", url=NEW_URL, reason="PIC changed jobs", actor="ani", now=SWEPT
        )
        new_id = new.id
    assert moved == len(old)
    assert {n.status for n in pic_rows(1)} == {NotificationStatus.cancelled}
    fresh = pic_rows(new_id)
    assert [(n.status, n.attempts, n.rung) for n in fresh] == [(NotificationStatus.pending, 0, n.rung) for n in old]
    assert all(n.dedupe_key.endswith(f":{new_id}") for n in fresh)
    with session_scope() as s:
        assert s.get(Contact, 1).active is False
        [row] = s.exec(select(AuditRecord).where(AuditRecord.kind == "contact_replaced")).all()
    assert row.actor == "ani" and "N3wS3cret" not in str(row.content) and "S3cretPic" not in str(row.content)
    listed = {c["id"]: c for c in _contacts()}
    assert listed[1]["active"] is False and "N3wS3cret" not in listed[new_id]["url"]
    with session_scope() as s, pytest.raises(DomainRefused, match="was removed"):
        edit_contact(s, 1, name="x", reason="r", actor="ani", now=SWEPT)


def _contacts() -> list[dict]:
    with session_scope() as s:
        return list_contacts(s)


def test_editing_a_contact_is_audited_and_bad_input_changes_nothing(failing):
    before = dump_database(failing)
    for kwargs, why in (
        ({"url": "not a url"}, "not a valid Apprise URL"),
        ({}, "nothing to change"),
        ({"language": "fr"}, "unknown language"),
    ):
        with session_scope() as s, pytest.raises(BadInput, match=why):
            edit_contact(s, 1, reason="typo", actor="ani", now=SWEPT, **kwargs)
    with session_scope() as s, pytest.raises(BadInput, match="--reason"):
        edit_contact(s, 1, name="x", reason=" ", actor="ani", now=SWEPT)
    assert dump_database(failing) == before
    with session_scope() as s:
        c, waiting = edit_contact(
            s, 1, url=NEW_URL, language="en", reason="typo in the address", actor="ani", now=SWEPT
        )
        assert c.apprise_url == NEW_URL
    assert waiting == len(pic_rows(1))
    assert {n.language for n in pic_rows(1)} == {"en"}
    with session_scope() as s:
        [row] = s.exec(select(AuditRecord).where(AuditRecord.kind == "contact_edited")).all()
    assert row.content["changed"] == ["language", "url"] and "N3wS3cret" not in str(row.content)


def test_a_removed_contact_is_kept_gets_nothing_more_and_its_reminders_wait_for_a_new_one(failing):
    with session_scope() as s:
        _, withdrawn = remove_contact(s, 1, reason="left the Bappeda", actor="ani", now=SWEPT)
    assert withdrawn > 0 and {n.status for n in pic_rows(1)} == {NotificationStatus.cancelled}
    with session_scope() as s:
        waiting = s.exec(select(Notification).where(Notification.status == NotificationStatus.unaddressed)).all()
        assert waiting and all(n.role == "pic" for n in waiting)
        sweep(s, SWEPT + timedelta(days=20))
    assert all(n.status == NotificationStatus.cancelled for n in pic_rows(1))  # nothing new for contact 1
    with session_scope() as s:
        c = add_contact(
            s,
            role="pic",
            region_code=BANDUNG,
            name="PIC baru",
            url=NEW_URL,
            language="id",
            now=SWEPT + timedelta(days=21),
        )
        new_id = c.id
    assert pic_rows(new_id)  # `contacts add` addresses what waited
