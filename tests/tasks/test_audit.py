"""Tamper evidence: every audited act is hash-chained; `audit verify` names the first broken link."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import sqlalchemy as sa

from smartcity.models.core.audit import ChainHead, check_anchor, masked_url, record, take_anchor, verify
from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.ops import extend_deadline, find_deadline
from smartcity.models.infra.db import session_scope
from tests.clirun import smartcity_in_process
from tests.conftest import dump_database
from tests.helpers import T0, cohort_with, load_registry


def program() -> None:
    load_registry()
    cohort_with(["3273", "7371"])
    for i, (code, stage) in enumerate([("3273", "selected"), ("7371", "selected"), ("3273", "drafting")]):
        with session_scope() as s:
            change_stage(
                s,
                StageChange(region_code=code, to=Stage(stage), actor="ani", cohort="2017"),
                now=T0 + timedelta(hours=i),
            )
    with session_scope() as s:
        extend_deadline(
            s, find_deadline(s, "3273", "masterplan").id, 10, "Idul Adha workshop moved", "budi", T0 + timedelta(days=2)
        )
        record(
            s,
            kind="review_submitted",
            subject="region 3273 round 1",
            actor="reviewer 1",
            at=T0,
            content={"decision": "approve"},
        )


def execute(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(sql))
    engine.dispose()


def test_intact_chain_verifies_and_exports_without_secrets(db_url):
    program()
    with session_scope() as s:
        checked, problem = verify(s)
    assert (checked, problem) == (7, None)  # 3 transitions + cohort created + nominated + 1 extension + 1 review
    done = smartcity_in_process("audit", "export", "--format", "csv", db_url=db_url)
    rows = list(csv.DictReader(io.StringIO(done.out)))
    assert done.code == 0 and [r["kind"] for r in rows].count("deadline_extended") == 1 and len(rows) == 7
    assert any("Idul Adha workshop moved" in r["detail"] for r in rows)
    exported = json.loads(smartcity_in_process("audit", "export", "--format", "json", db_url=db_url).out)
    assert [r["row_hash"] for r in exported] == [r["row_hash"] for r in rows]


def test_an_edited_transition_is_named(db_url):
    program()
    execute(db_url, "UPDATE stage_transition SET actor = 'mallory' WHERE id = 2")
    done = smartcity_in_process("audit", "verify", db_url=db_url)
    assert done.code == 1 and "stage_transition id 2" in done.err and "edited" in done.err
    assert len(done.err.strip().splitlines()) == 1


def test_a_removed_audit_record_is_named(db_url):
    program()
    execute(db_url, "DELETE FROM audit_record WHERE id = 1")
    with session_scope() as s:
        _, problem = verify(s)
    assert problem and problem.startswith("audit_record id 2") and "does not link" in problem


# A deleted row, a cut tail, and the anchor kept outside the database (issue 13, item 5).

CUT_3273 = (
    "DELETE FROM stage_transition WHERE enrollment_id = (SELECT e.id FROM enrollment e JOIN region r "
    "ON e.region_id = r.id WHERE r.bps_code = '3273') AND version = 2"
)
ROLL_BACK_3273 = (
    "UPDATE enrollment SET stage = 'selected', version = 1 WHERE region_id = "
    "(SELECT id FROM region WHERE bps_code = '3273')"
)


def one_line(err: str) -> str:
    """The single error line a failing command printed."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_a_deleted_last_transition_is_named(db_url):
    program()
    execute(db_url, CUT_3273)
    done = smartcity_in_process("audit", "verify", db_url=db_url)
    line = one_line(done.err)
    assert done.code == 1 and "region 3273 (cohort 2017)" in line and "drafting at version 2" in line
    assert "version 1" in line and "versions 2..2 missing" in line


def test_an_enrollment_without_any_transition_row_is_named(db_url):
    program()
    execute(
        db_url,
        "DELETE FROM stage_transition WHERE enrollment_id = (SELECT e.id FROM enrollment e "
        "JOIN region r ON e.region_id = r.id WHERE r.bps_code = '7371')",
    )
    with session_scope() as s:
        _, problem = verify(s)
    assert (
        problem == "region 7371 (cohort 2017): enrollment says selected at version 1 but has no stage_transition "
        "row (versions 1..1 missing)"
    )


def test_a_cut_tail_rolled_back_passes_plain_verify_but_not_the_anchor(db_url, tmp_path):
    program()
    anchor = tmp_path / "kept-elsewhere" / "anchor.json"
    took = smartcity_in_process("audit", "anchor", "--out", str(anchor), db_url=db_url)
    assert took.code == 0 and "2 chain(s)" in took.out, took.err
    saved = json.loads(anchor.read_text())
    assert saved["chains"]["2017/3273"]["version"] == 2 and saved["audit_record"]["id"] == 4
    execute(db_url, CUT_3273)
    execute(db_url, ROLL_BACK_3273)
    plain = smartcity_in_process("audit", "verify", db_url=db_url)
    assert plain.code == 0 and "audit chain intact" in plain.out  # consistent, so only the anchor can tell
    done = smartcity_in_process("audit", "verify", "--against", str(anchor), db_url=db_url)
    line = one_line(done.err)
    assert done.code == 1 and "region 3273 (cohort 2017)" in line and "version 2" in line and "tail was cut" in line


def test_legitimate_changes_after_the_anchor_still_pass(db_url, tmp_path):
    program()
    anchor = tmp_path / "anchor.json"
    assert smartcity_in_process("audit", "anchor", "--out", str(anchor), db_url=db_url).code == 0
    with session_scope() as s:
        change_stage(
            s,
            StageChange(region_code="7371", to=Stage.drafting, actor="ani", cohort="2017"),
            now=T0 + timedelta(days=3),
        )
        record(
            s,
            kind="review_submitted",
            subject="region 3273 round 2",
            actor="reviewer 2",
            at=T0 + timedelta(days=3),
            content={"decision": "revise"},
        )
    done = smartcity_in_process("audit", "verify", "--against", str(anchor), db_url=db_url)
    assert done.code == 0 and "audit chain intact: 9 row(s) checked; anchor of" in done.out, done.err


def test_a_deleted_last_audit_record_shows_against_the_anchor(db_url, tmp_path):
    program()
    anchor = tmp_path / "anchor.json"
    assert smartcity_in_process("audit", "anchor", "--out", str(anchor), db_url=db_url).code == 0
    execute(db_url, "DELETE FROM audit_record WHERE id = 4")
    plain = smartcity_in_process("audit", "verify", db_url=db_url)
    assert plain.code == 0  # the rest still links: only the anchor tells
    done = smartcity_in_process("audit", "verify", "--against", str(anchor), db_url=db_url)
    line = one_line(done.err)
    assert done.code == 1 and "audit_record id 4" in line and "tail was cut" in line


def test_a_rewritten_anchored_row_is_named(sqlite_url, tmp_path):
    program()
    with session_scope() as s:
        anchor = take_anchor(s, now=T0, database="test")
    tampered = anchor.model_copy(update={"chains": {**anchor.chains, "2017/7371": ChainHead(version=1, hash="a" * 64)}})
    with session_scope() as s:
        assert check_anchor(s, anchor) is None
        assert "region 7371 (cohort 2017): stage_transition version 1 differs" in check_anchor(s, tampered)


def test_an_unreadable_anchor_is_exit_2_and_changes_nothing(db_url, tmp_path):
    program()
    before = dump_database(db_url)
    bad_json, wrong_shape = tmp_path / "bad.json", tmp_path / "shape.json"
    bad_json.write_text("{not json")
    wrong_shape.write_text(
        json.dumps({"taken_at": "2017-05-02T01:00:00", "database": "x", "chains": {}, "audit_record": None})
    )
    cases = [
        (str(tmp_path / "absent.json"), "cannot read anchor file"),
        (str(bad_json), "not an audit anchor"),
        (str(wrong_shape), "taken_at"),
        ("prefect", "cannot read the audit anchor"),
    ]
    for against, says in cases:
        done = smartcity_in_process("audit", "verify", "--against", against, db_url=db_url)
        assert done.code == 2 and says in one_line(done.err) and done.out == "", (against, done.err)
    assert dump_database(db_url) == before


def test_no_anchor_of_a_broken_chain(sqlite_url, tmp_path):
    program()
    execute(sqlite_url, "UPDATE stage_transition SET actor = 'mallory' WHERE id = 2")
    anchor = tmp_path / "anchor.json"
    done = smartcity_in_process("audit", "anchor", "--out", str(anchor), db_url=sqlite_url)
    assert done.code == 1 and "no anchor taken" in one_line(done.err) and not anchor.exists()


def test_the_anchor_masks_the_database_password():
    assert (
        masked_url("postgresql+psycopg://app:S3cret@db:5432/smartcity")
        == "postgresql+psycopg://app:***@db:5432/smartcity"
    )
