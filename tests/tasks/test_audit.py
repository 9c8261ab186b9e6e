"""Tamper evidence: every audited act is hash-chained; `audit verify` names the first broken link."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import sqlalchemy as sa
from smartcity.models.core.audit import record, verify
from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.ops import extend_deadline, find_deadline
from smartcity.models.infra.db import session_scope

from tests.clirun import smartcity
from tests.helpers import T0, cohort_with, load_registry


def program() -> None:
    load_registry()
    cohort_with(["3273", "7371"])
    for i, (code, stage) in enumerate([("3273", "selected"), ("7371", "selected"), ("3273", "drafting")]):
        with session_scope() as s:
            change_stage(s, StageChange(code, Stage(stage), "ani", None, "2017"), now=T0 + timedelta(hours=i))
    with session_scope() as s:
        extend_deadline(s, find_deadline(s, "3273", "masterplan").id, 10, "Idul Adha workshop moved", "budi",
                        T0 + timedelta(days=2))
        record(s, kind="review_submitted", subject="region 3273 round 1", actor="reviewer 1", at=T0,
               content={"decision": "approve"})


def execute(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(sql))
    engine.dispose()


def test_intact_chain_verifies_and_exports_without_secrets(db_url):
    program()
    with session_scope() as s:
        checked, problem = verify(s)
    assert (checked, problem) == (5, None)  # 3 transitions + 1 extension + 1 review
    done = smartcity("audit", "export", "--format", "csv", db_url=db_url)
    rows = list(csv.DictReader(io.StringIO(done.out)))
    assert done.code == 0 and [r["kind"] for r in rows].count("deadline_extended") == 1 and len(rows) == 5
    assert any("Idul Adha workshop moved" in r["detail"] for r in rows)
    exported = json.loads(smartcity("audit", "export", "--format", "json", db_url=db_url).out)
    assert [r["row_hash"] for r in exported] == [r["row_hash"] for r in rows]


def test_an_edited_transition_is_named(db_url):
    program()
    execute(db_url, "UPDATE stage_transition SET actor = 'mallory' WHERE id = 2")
    done = smartcity("audit", "verify", db_url=db_url)
    assert done.code == 1 and "stage_transition id 2" in done.err and "edited" in done.err
    assert len(done.err.strip().splitlines()) == 1


def test_a_removed_audit_record_is_named(db_url):
    program()
    execute(db_url, "DELETE FROM audit_record WHERE id = 1")
    with session_scope() as s:
        _, problem = verify(s)
    assert problem and problem.startswith("audit_record id 2") and "does not link" in problem
