"""Enum columns: stored as the same VARCHAR text as before, loaded back as enum members, typos refused.
Stage columns hold plain text, checked against the cohort's program definition."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError
from sqlmodel import select

from smartcity.models.core.program import cohort_plan, stage_counts, status_rows
from smartcity.models.core.stages import EdgeKind, Stage
from smartcity.models.core.tables import Contact, Enrollment, StageTransition
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.tables import Deadline, Notification
from smartcity.models.infra.db import get_engine, row_id, rows_matched, session_scope
from smartcity.models.notifications.outbox import status_counts
from smartcity.models.vocabulary import DeadlineKind, DeadlineStatus, NotificationStatus, Role
from tests.helpers import T0, cohort_with, load_registry

BANDUNG = "3273"


@pytest.fixture
def drafting(db_url):
    """Bandung nominated, selected and drafting in cohort 2017 (so it has transitions and deadlines)."""
    load_registry()
    cohort_with([BANDUNG])
    for to in (Stage.selected, Stage.drafting):
        with session_scope() as s:
            change_stage(s, StageChange(region_code=BANDUNG, to=to, actor="ani", cohort="2017"), now=T0)
    return db_url


def raw(sql: str) -> list[tuple]:
    """Rows of a plain SQL query, bypassing the models (what the database really holds)."""
    with get_engine().connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def test_rows_load_as_enum_members(drafting):
    with session_scope() as s:
        enrollment = s.exec(select(Enrollment)).one()
        moves = s.exec(select(StageTransition).order_by(StageTransition.version)).all()
        deadline = s.exec(select(Deadline).where(Deadline.key == "masterplan")).one()
    # Stages are plain text: a program definition names its own stages (the engine checks them against the
    # cohort's definition on every change); the other vocabularies are fixed enums.
    assert type(enrollment.stage) is str and enrollment.stage == Stage.drafting
    assert [(type(t.from_stage), t.to_stage, type(t.kind)) for t in moves] == [
        (str, Stage.selected, EdgeKind),
        (str, Stage.drafting, EdgeKind),
    ]
    assert (type(deadline.status), type(deadline.kind), type(deadline.stage)) == (DeadlineStatus, DeadlineKind, str)


def test_the_database_holds_the_same_plain_text_as_before(drafting):
    assert raw("select stage from enrollment") == [("drafting",)]
    assert raw("select from_stage, to_stage, kind from stage_transition order by version") == [
        ("nominated", "selected", "advance"),
        ("selected", "drafting", "advance"),
    ]
    assert ("masterplan", "stage", "drafting", "open") in raw("select key, kind, stage, status from deadline")


def test_a_value_outside_the_enum_is_refused_on_write_and_nothing_is_stored(drafting):
    with pytest.raises(StatementError, match="'opne' is not a valid DeadlineStatus"), session_scope() as s:
        deadline = s.exec(select(Deadline).where(Deadline.key == "masterplan")).one()
        deadline.status = "opne"  # type: ignore[assignment]  # the typo the enum exists to catch
        s.flush()
    assert ("masterplan", "open") in raw("select key, status from deadline")


def test_plain_strings_still_work_in_queries_and_updates(drafting):
    with session_scope() as s:  # old call sites pass strings: bound through the enum, same SQL result
        assert len(s.exec(select(Deadline).where(Deadline.status == "open", Deadline.kind == "stage")).all()) == 1
        s.add(Contact(role="pic", name="Ani", apprise_url="json://localhost", created_at=T0))  # type: ignore[arg-type]
    with session_scope() as s:
        assert s.exec(select(Contact)).one().role is Role.pic


def test_outputs_read_the_same_as_with_strings(drafting):
    with session_scope() as s:
        rows, counts, plan = status_rows(s, "2017"), stage_counts(s), cohort_plan(s, "2017")
        s.add(Notification(dedupe_key="k", rung="T-14", subject="s", body="b", created_at=T0, send_after=T0))
        s.flush()
        by_status = status_counts(s)
    assert json.loads(json.dumps(rows))[0]["stage"] == "drafting"
    assert json.dumps(counts) == '{"2017": {"drafting": 1}}'
    assert plan == [(BANDUNG, "drafting", 2)]
    assert repr(by_status) == "{'pending': 1}"  # printed as it is by the demo's final board
    assert by_status[NotificationStatus.pending] == 1


def test_row_id_and_rows_matched_say_what_went_wrong(drafting):
    with pytest.raises(RuntimeError, match="Deadline has no id yet: flush the session first"):
        row_id(
            Deadline(enrollment_id=1, kind=DeadlineKind.stage, key="k", stage=Stage.drafting, due_at=T0, created_at=T0)
        )
    ((deadlines,),) = raw("select count(*) from deadline")
    with session_scope() as s:
        assert deadlines > 1 and rows_matched(s.execute(sa.update(Deadline).values(extended=False))) == deadlines
        with pytest.raises(TypeError, match="not the result of an UPDATE or DELETE"):
            rows_matched(s.execute(sa.select(Deadline.id)))
