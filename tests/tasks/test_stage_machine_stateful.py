"""Hypothesis drives random legal and illegal commands; the audit trail must always replay to the
current stage, and no region may ever skip a stage."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlmodel import select

from smartcity.models.core.errors import DomainRefused
from smartcity.models.core.program import replay
from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import Enrollment, StageTransition
from smartcity.models.core.transitions import StageChange, change_stage, find_enrollment
from smartcity.models.infra.db import session_scope
from smartcity.models.programs.loading import shipped
from smartcity.models.quickwins.tables import QuickWin
from smartcity.models.reviews.tables import MasterplanRound
from tests.conftest import fresh_sqlite, reset_caches
from tests.helpers import T0, cohort_with, load_registry

CODES = ["3273", "3271", "3275", "9412"]


class StageMachine(RuleBasedStateMachine):
    """A model of expected stages next to the real database."""

    template: Path
    path: Path  # each example gets a fresh copy of the template here

    def __init__(self):
        super().__init__()
        import os

        os.environ["SMARTCITY_DATABASE_URL"] = fresh_sqlite(self.template, self.path)
        reset_caches()
        load_registry()
        cohort_with(CODES, quota=3)
        self.expected = {c: Stage.nominated for c in CODES}
        self.clock = T0

    def teardown(self):
        reset_caches()

    @rule(
        code=st.sampled_from(CODES),
        to=st.sampled_from(list(Stage)),
        reason=st.sampled_from([None, "why"]),
        stale=st.booleans(),
        approve=st.booleans(),
        verify=st.booleans(),
    )
    def change(self, code, to, reason, stale, approve, verify):
        self.clock += timedelta(hours=1)
        with session_scope() as s:
            enr = find_enrollment(s, code)
            if approve:
                n = len(s.exec(select(MasterplanRound).where(MasterplanRound.enrollment_id == enr.id)).all())
                s.add(MasterplanRound(enrollment_id=enr.id, round_no=n + 1, status="approved", submitted_at=T0))
            if verify:
                s.add(QuickWin(enrollment_id=enr.id, title="qw", verified_at=T0, verified_by="budi"))
            version = enr.version - 1 if stale and enr.version else enr.version
        try:
            with session_scope() as s:
                change_stage(
                    s,
                    StageChange(
                        region_code=code, to=to, actor="prop", reason=reason, cohort="2017", expected_version=version
                    ),
                    now=self.clock,
                )
        except DomainRefused:
            return
        edge = shipped().find_edge(self.expected[code], to)
        assert edge is not None, f"{self.expected[code]} -> {to} was accepted"
        assert not (stale and version != enr.version), "a stale version was accepted"
        self.expected[code] = to

    @invariant()
    def audit_replays_to_current_stage(self):
        with session_scope() as s:
            for enr in s.exec(select(Enrollment)).all():
                rows = s.exec(select(StageTransition).where(StageTransition.enrollment_id == enr.id)).all()
                assert replay(rows, initial="nominated") == Stage(enr.stage)
                assert [r.version for r in sorted(rows, key=lambda r: r.version)] == list(range(1, enr.version + 1))
                for r in rows:
                    a, b = Stage(r.from_stage), Stage(r.to_stage)
                    line = shipped().main_line
                    if a in line and b in line and r.kind == "advance":
                        assert line.index(b) == line.index(a) + 1, "skipped a stage"
        assert {c: Stage(s) for c, s in self._db_stages().items()} == self.expected

    def _db_stages(self):
        with session_scope() as s:
            return {c: find_enrollment(s, c).stage for c in CODES}


@pytest.mark.slow
def test_stage_machine_stateful(sqlite_template, sqlite_path, monkeypatch):
    monkeypatch.delenv("SMARTCITY_DATABASE_URL", raising=False)  # the examples set it; restored after the test
    StageMachine.template, StageMachine.path = sqlite_template, sqlite_path
    runner = StageMachine.TestCase
    runner.settings = settings(
        max_examples=25, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
    )
    runner().runTest()
