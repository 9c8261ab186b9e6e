"""Correcting deadlines and milestones (issue 14): implausible input refused, undo and shortening audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from smartcity.models.core.errors import BadInput, DomainRefused
from smartcity.models.core.tables import AuditRecord
from smartcity.models.deadlines.ops import (
    MAX_EXTENSION_WORKING_DAYS,
    complete_milestone,
    extend_deadline,
    find_deadline,
    undo_milestone,
)
from smartcity.models.deadlines.tables import DeadlineExtension
from smartcity.models.infra.db import session_scope
from smartcity.models.vocabulary import DeadlineStatus
from tests.conftest import dump_database
from tests.helpers import T0
from tests.tasks import test_deadlines
from tests.tasks.test_deadlines import BANDUNG

world = test_deadlines.world  # the fixture, shared

NOW = T0 + timedelta(days=30)  # the real clock of these tests: a month into drafting


def audited(kind: str) -> list[AuditRecord]:
    with session_scope() as s:
        return list(s.exec(select(AuditRecord).where(AuditRecord.kind == kind)).all())


def test_a_milestone_dated_in_the_future_or_before_the_stage_is_refused_and_nothing_changes(world):
    before = dump_database(world)
    with session_scope() as s, pytest.raises(BadInput, match="in the future"):
        complete_milestone(s, BANDUNG, "bimtek-1", "ani", NOW + timedelta(days=5000), now=NOW)
    with session_scope() as s, pytest.raises(BadInput, match="before region 3273 entered drafting"):
        complete_milestone(s, BANDUNG, "bimtek-1", "ani", T0 - timedelta(days=1), now=NOW)
    assert dump_database(world) == before
    with session_scope() as s:  # a few minutes of clock skew are fine
        d, changed = complete_milestone(s, BANDUNG, "bimtek-1", "ani", NOW + timedelta(minutes=3), now=NOW)
        assert changed and d.status == DeadlineStatus.done


def test_a_milestone_recorded_by_mistake_is_undone_with_a_reason_and_audited(world):
    with session_scope() as s:
        complete_milestone(s, BANDUNG, "bimtek-1", "ani", NOW, now=NOW)
    with session_scope() as s, pytest.raises(BadInput, match="--reason"):
        undo_milestone(s, BANDUNG, "bimtek-1", " ", "ani", NOW)
    with session_scope() as s:
        d = undo_milestone(s, BANDUNG, "bimtek-1", "recorded for Makassar by mistake", "budi", NOW)
        assert (d.status, d.done_at, d.done_by, d.cycle) == (DeadlineStatus.open, None, None, 1)
        assert d.next_rung is not None  # its reminders restart
    [row] = audited("milestone_undone")
    assert (row.actor, row.content["reason"], row.content["done_by"]) == (
        "budi",
        "recorded for Makassar by mistake",
        "ani",
    )
    with session_scope() as s, pytest.raises(DomainRefused, match="not done"):
        undo_milestone(s, BANDUNG, "bimtek-1", "again", "budi", NOW)


def test_implausible_extensions_are_refused(world):
    before = dump_database(world)
    for days, why in (
        (10000, "implausible"),
        (MAX_EXTENSION_WORKING_DAYS + 1, "implausible"),
        (0, "must not be 0"),
        (-10000, "implausible"),
    ):
        with session_scope() as s, pytest.raises(BadInput, match=why):
            extend_deadline(s, find_deadline(s, BANDUNG, "masterplan").id, days, "banjir", "ani", NOW)
    with session_scope() as s, pytest.raises(DomainRefused, match="before its original due date"):
        extend_deadline(s, find_deadline(s, BANDUNG, "masterplan").id, -5, "too generous", "ani", NOW)
    assert dump_database(world) == before


def test_an_extension_can_be_taken_back_in_part_but_not_below_the_original_or_today(world):
    with session_scope() as s:
        d = find_deadline(s, BANDUNG, "masterplan")
        original = d.due_at
        extend_deadline(s, d.id, 10, "Lebaran", "ani", NOW)
    with session_scope() as s:
        d = extend_deadline(s, find_deadline(s, BANDUNG, "masterplan").id, -4, "typo: meant 6", "ani", NOW)
        assert original < d.due_at
        steps = [e.working_days for e in s.exec(select(DeadlineExtension)).all()]
    assert steps == [10, -4]
    assert [r.content["working_days"] for r in audited("deadline_shortened")] == [-4]
    with session_scope() as s, pytest.raises(DomainRefused, match="before its original due date"):
        extend_deadline(s, find_deadline(s, BANDUNG, "masterplan").id, -7, "all of it and more", "ani", NOW)
    late = original - timedelta(days=1)  # the clock just before the original due date: shortening to it is fine
    with session_scope() as s:
        extend_deadline(s, find_deadline(s, BANDUNG, "masterplan").id, -6, "back to the original", "ani", late)
    with session_scope() as s:
        assert find_deadline(s, BANDUNG, "masterplan").due_at == original
        d = find_deadline(s, BANDUNG, "masterplan")
        extend_deadline(s, d.id, 3, "again", "ani", NOW)
    with session_scope() as s, pytest.raises(DomainRefused, match="before today"):
        extend_deadline(
            s, find_deadline(s, BANDUNG, "masterplan").id, -3, "after due", "ani", original + timedelta(days=2)
        )
