"""The README's main command, reduced (`--no-prefect`): the 2017 story end to end on a fresh database."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from smartcity.models.core.program import replay
from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import Enrollment, StageTransition
from tests.browser import ARTIFACTS, run_chromium
from tests.clirun import smartcity

pytestmark = pytest.mark.slow


def test_demo_tells_2017_and_leaves_a_consistent_record(tmp_path, chromium):
    home = tmp_path / "demo"
    done = smartcity("demo", "--no-prefect", "--home", str(home), db_url="sqlite:///unused.db", timeout=600)
    assert done.code == 0, done.err[-3000:]
    out = done.out
    assert "SIMULATED" in out and "not a claim about any real region" in out
    assert "the simulation has 24 completed" in out, "24 masterplans by 15 November 2017, as the press reported"
    assert "stage counts: quick_win_delivered=25" in out
    sent, received = map(int, re.search(r"reminders: (\d+) sent .* which got (\d+)", out).groups())
    assert sent == received and sent > 100

    engine = sa.create_engine(f"sqlite:///{home / 'demo.db'}")
    with Session(engine) as s:
        enrollments = s.exec(select(Enrollment)).all()
        for enr in enrollments:  # every region's audit history replays to its stage
            rows = s.exec(select(StageTransition).where(StageTransition.enrollment_id == enr.id)).all()
            assert replay(rows, initial="nominated") == Stage(enr.stage)
        keys = [r[0] for r in s.exec(sa.text("select dedupe_key from notification"))]
        rungs = Counter(r[0] for r in s.exec(sa.text("select rung from notification where status='sent'")))
    engine.dispose()
    assert len(enrollments) == 25 and len(keys) == len(set(keys)) == sent
    assert rungs["+1"] >= 1 and rungs["+5"] >= 1, "the late region was reminded and escalated"

    report = next(home.rglob("report-2017.html"))
    dom = run_chromium(chromium, "--dump-dom", report.as_uri())
    assert dom.stdout.count('class="main-svg"') >= 2 and "SIMULATED" in dom.stdout
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "demo-report.png"
    assert run_chromium(chromium, f"--screenshot={shot}", report.as_uri()).returncode == 0
    assert shot.stat().st_size > 30_000
