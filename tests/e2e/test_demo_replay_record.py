"""The 2017-2019 record replay (`replay_record`, behind `smartcity demo --replay-record`) on a real SQLite file.

One replay serves the module: all 25 regions of 2017 (so the press release's 24 of 25 is checked as it was),
and the first 6 of the 2018 and 2019 lists plus the two regions on both lists (Kota Depok, Kabupaten Banyumas).
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from smartcity.deployments.demo.replay import RECORD, ReplayRefused, replay_record
from smartcity.models.core import audit
from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.program import history, replay
from smartcity.models.core.tables import Cohort, Enrollment, Region, StageTransition
from smartcity.models.deadlines.tables import Deadline
from smartcity.models.deadlines.workdays import zone
from smartcity.models.evaluation.ops import evaluation_index
from smartcity.models.evaluation.tables import EvaluationScore
from smartcity.models.infra.db import session_scope
from smartcity.models.quickwins.tables import QuickWin
from smartcity.models.reviews.tables import Reviewer
from tests.clirun import smartcity
from tests.conftest import reset_caches
from tests.helpers import SHARED_DATA

pytestmark = pytest.mark.slow

DEPOK, BANYUMAS = "3276", "3302"
KEPT = 6  # of the 2018 and 2019 lists


@dataclass
class Replayed:
    url: str
    result: dict
    out: str
    reports: Path

    def session(self) -> AbstractContextManager[Session]:
        return session_scope(self.url)


@pytest.fixture(scope="module")
def replayed(sqlite_template, tmp_path_factory) -> Iterator[Replayed]:
    home = tmp_path_factory.mktemp("replay")
    shutil.copy(sqlite_template, home / "replay.db")
    url = f"sqlite:///{home / 'replay.db'}"
    lines: list[str] = []
    result = replay_record(
        data_dir=SHARED_DATA,
        out=home / "reports",
        lang="en",
        database_url=url,
        say=lines.append,
        regions_per_cohort={"2018": KEPT, "2019": KEPT},
    )
    yield Replayed(url, result, "\n".join(lines), home / "reports")
    reset_caches()


def listed(roster: str, kept: int | None = None) -> list[str]:
    """The codes of a phase file (its first `kept`, and Depok and Banyumas, which are on both later lists)."""
    with (SHARED_DATA / roster).open(encoding="utf-8") as fh:
        codes = [row["bps_code"] for row in csv.DictReader(fh)]
    return [c for i, c in enumerate(codes) if kept is None or i < kept or c in (DEPOK, BANYUMAS)]


def moves(s: Session, cohort: str, stage: str) -> dict[str, date]:
    """Region -> the local date (in its own zone) it entered `stage` in `cohort`."""
    rows = s.exec(
        select(StageTransition, Region)
        .join(Enrollment, col(StageTransition.enrollment_id) == Enrollment.id)
        .join(Cohort, col(Enrollment.cohort_id) == Cohort.id)
        .join(Region, col(Enrollment.region_id) == Region.id)
        .where(Cohort.name == cohort, StageTransition.to_stage == stage)
    ).all()
    return {r.bps_code: t.occurred_at.astimezone(zone(r.timezone)).date() for t, r in rows}


REAL_DATES = {  # program_calendar.csv: the result letter (2017: the assessment), the MoU, bimtek I
    ("2017", "selected"): date(2017, 5, 3),
    ("2017", "drafting"): date(2017, 5, 22),  # the default program drafts from the MoU signing in Makassar
    ("2018", "selected"): date(2018, 4, 9),
    ("2018", "mou_signed"): date(2018, 5, 8),
    ("2018", "drafting"): date(2018, 7, 4),
    ("2019", "selected"): date(2019, 2, 28),
    ("2019", "mou_signed"): date(2019, 5, 15),
    ("2019", "drafting"): date(2019, 7, 3),
}


def test_each_cohort_moves_on_its_real_calendar_dates_in_each_regions_zone(replayed):
    regions = {"2017": listed("phase1_2017.csv"), "2018": listed("phase2_2018.csv", KEPT)}
    regions["2019"] = listed("phase3_2019.csv", KEPT)
    with replayed.session() as s:
        for (cohort, stage), day in REAL_DATES.items():
            entered = moves(s, cohort, stage)
            still = [c for c in regions[cohort] if not (cohort == "2018" and c in (DEPOK, BANYUMAS))]
            expected = regions[cohort] if stage in ("selected", "mou_signed") else still
            assert sorted(entered) == sorted(expected), (cohort, stage)
            assert set(entered.values()) == {day}, (cohort, stage)
        zones = set(s.exec(select(Region.timezone).where(col(Region.bps_code).in_(regions["2018"]))).all())
    assert len(zones) >= 2, "the 2018 regions checked span more than one zone"


def test_24_of_25_masterplans_by_15_november_2017_and_the_others_by_their_evaluation(replayed):
    late = replayed.result["late_2017"]
    with replayed.session() as s:
        done = moves(s, "2017", "masterplan_completed")
        assert len(done) == 25
        assert sorted(c for c, d in done.items() if d <= date(2017, 11, 15)) == sorted(set(done) - {late})
        assert done[late] > date(2017, 11, 15)
        deadline = s.exec(
            select(Deadline).where(
                Deadline.enrollment_id == find_enrollment(s, late, "2017").id, Deadline.key == "masterplan"
            )
        ).one()
        assert deadline.done_at > deadline.due_at, "the simulated late region missed its masterplan deadline"
        for cohort, evaluation in (("2018", date(2018, 12, 14)), ("2019", date(2019, 11, 4))):
            completed = moves(s, cohort, "masterplan_completed")
            assert len(completed) == len(moves(s, cohort, "drafting")) > 0
            assert max(completed.values()) <= evaluation, cohort
    assert f"picks {late}" in replayed.out and "this is not a claim about any real region" in replayed.out
    assert "24 of 25 completed; press release 223/HM/KOMINFO/11/2017 reports 24 of 25" in replayed.out
    assert replayed.result["cohorts"]["2017"]["masterplans_by_evaluation"] == 24


@pytest.mark.parametrize(
    "code, why", [(DEPOK, "cancelled for non-technical reasons"), (BANYUMAS, "masterplan work in 2019")]
)
def test_depok_and_banyumas_leave_2018_and_do_their_masterplan_in_2019(replayed, code, why):
    with replayed.session() as s:
        rows = history(s, code)
    assert [(r["cohort"], r["to"]) for r in rows] == [
        ("2018", "selected"),
        ("2018", "mou_signed"),
        ("2018", "withdrawn"),
        ("2019", "selected"),
        ("2019", "mou_signed"),
        ("2019", "decrees_issued"),
        ("2019", "drafting"),
        ("2019", "masterplan_completed"),
    ]
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    withdrawal = rows[2]["reason"]
    assert why in withdrawal and "nationalgeographic.grid.id" in withdrawal and "SIMULATED" in withdrawal
    assert replayed.result["moved"][code] == ["2018", "2019"]
    with replayed.session() as s:
        for cohort in ("2018", "2019"):
            enr = find_enrollment(s, code, cohort)
            chain = s.exec(select(StageTransition).where(StageTransition.enrollment_id == enr.id)).all()
            assert replay(list(chain), initial="nominated") == enr.stage
            assert min(chain, key=lambda t: t.version).prev_hash == audit.GENESIS


def test_the_audit_chain_verifies_after_the_replay(replayed):
    done = smartcity("audit", "verify", db_url=replayed.url)
    assert done.code == 0, done.err
    with replayed.session() as s:
        checked, problem = audit.verify(s)
    assert problem is None and checked == replayed.result["audit_rows"] > 0


def test_the_2019_evaluation_ranks_the_2017_and_2018_cohorts_and_2018_moves_to_evaluated(replayed):
    with replayed.session() as s:
        groups = {g.cohort: g for g in evaluation_index(session=s, year=2019)}
        evaluated = moves(s, "2018", "evaluated")
        stages_2017 = {e.stage for e in s.exec(select(Enrollment).join(Cohort).where(Cohort.name == "2017")).all()}
        scores = s.exec(select(EvaluationScore)).all()
    assert set(groups) == {"2017", "2018"}, "the 2019 cohort was not part of the June 2019 evaluation"
    still_2018 = sorted(set(listed("phase2_2018.csv", KEPT)) - {DEPOK, BANYUMAS})
    assert sorted(r.bps_code for r in groups["2017"].rows) == sorted(listed("phase1_2017.csv"))
    assert sorted(r.bps_code for r in groups["2018"].rows) == still_2018
    for g in groups.values():
        assert g.simulated and g.weights == {
            "baseline": 0.1,
            "output": 0.2,
            "outcome": 0.3,
            "impact": 0.3,
            "quick_win": 0.1,
        }
        assert [r.rank for r in g.rows] == sorted(r.rank for r in g.rows) and g.rows[0].rank == 1
        assert all(r.index is not None and 0 <= r.index <= 4 for r in g.rows)
        assert [r.index for r in g.rows] == sorted((r.index for r in g.rows), reverse=True)
    assert sorted(evaluated) == still_2018 and set(evaluated.values()) == {date(2019, 6, 20)}
    assert stages_2017 == {"quick_win_delivered"}, "the default program has no evaluated stage"
    assert scores and all(s.simulated for s in scores)


def test_every_simulated_outcome_is_labelled_simulated(replayed):
    with replayed.session() as s:
        transitions = s.exec(select(StageTransition)).all()
        reviewers = s.exec(select(Reviewer.name)).all()
        quick_wins = s.exec(select(QuickWin)).all()
        milestones = s.exec(select(Deadline.done_by).where(Deadline.kind == "milestone")).all()
    unlabelled = [t for t in transitions if t.actor != RECORD and "simulated" not in f"{t.actor} {t.reason}".lower()]
    assert unlabelled == []
    assert {t.to_stage for t in transitions if t.actor == RECORD} == {"selected", "mou_signed", "drafting", "withdrawn"}
    assert {t.to_stage for t in transitions if "simulated" in f"{t.actor} {t.reason}".lower()} >= {
        "decrees_issued",
        "masterplan_completed",
        "quick_win_delivered",
        "evaluated",
        "withdrawn",  # the day Depok and Banyumas left is not public
    }
    assert reviewers and all(name.endswith("(simulated)") for name in reviewers)
    assert quick_wins and all(q.title.startswith("Simulated quick win") for q in quick_wins)
    assert all(q.verified_by.endswith("(simulated)") for q in quick_wins if q.verified_by)
    assert milestones and all(by.endswith("(simulated)") for by in milestones if by)
    reports = sorted(p.name for p in replayed.reports.iterdir())
    assert reports == ["report-2017.html", "report-2018.html", "report-2019.html"]
    for name in reports:
        html = (replayed.reports / name).read_text(encoding="utf-8")
        assert 'id="simulated-banner"' in html and "SIMULATED DATA" in html
    html_2018 = (replayed.reports / "report-2018.html").read_text(encoding="utf-8")
    assert "Implementation evaluation 2019, cohort 2018 (SIMULATED DATA)" in html_2018


def test_a_step_the_engine_refuses_stops_the_replay_and_names_it(tmp_path, sqlite_url):
    """A calendar that opens the 2018 bimtek before the MoU: drafting from selected is no edge of the program."""
    data = tmp_path / "data"
    shutil.copytree(SHARED_DATA, data, ignore=shutil.ignore_patterns("LICENSE*", "partial_*"))
    calendar = data / "program_calendar.csv"
    text = calendar.read_text(encoding="utf-8")
    calendar.write_text(text.replace("2018,bimtek,2018-07-04,", "2018,bimtek,2018-05-02,"), encoding="utf-8")
    lines: list[str] = []
    with pytest.raises(ReplayRefused) as refused:
        replay_record(
            data_dir=data, out=tmp_path / "out", database_url=sqlite_url, say=lines.append, regions_per_cohort=2
        )
    message = str(refused.value)
    assert message.startswith("2018-05-02 WIB, ") and "-> drafting (2018): the engine refused a step" in message
    assert "cannot skip from selected to drafting (next is mou_signed)" in message
