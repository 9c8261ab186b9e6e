"""The yearly implementation evaluation (monev) on real SQLite and PostgreSQL: import all or nothing, the weighted
index with each cohort's policy, ranking and ties, incomplete regions, the guard, and the report section.

Every score here is made up for the test, and imported as simulated where a view shows it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from smartcity.models.core import audit
from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.errors import BadInput, NotFound
from smartcity.models.core.program import create_cohort, nominate
from smartcity.models.core.tables import AuditRecord
from smartcity.models.evaluation.ops import evaluation_index, evaluation_scored, import_scores, ranked
from smartcity.models.evaluation.render import evaluation_markdown
from smartcity.models.evaluation.tables import EvaluationScore
from smartcity.models.infra.db import session_scope
from smartcity.models.programs.definition import EvaluationParams
from smartcity.models.programs.loading import SHIPPED_DIR
from smartcity.models.reports.data import build_report
from smartcity.models.reports.render import render
from tests.helpers import T0, load_registry

BANDUNG, MAKASSAR, BOGOR, JAMBI, MIMIKA = "3273", "7371", "3271", "1571", "9412"
SURABAYA, DENPASAR, SAMARINDA = "3578", "5171", "6472"
NOW = T0 + timedelta(days=800)  # mid 2019
HEADER = "year,cohort,bps_code,dimension,score,source"
DIMS = ("baseline", "output", "outcome", "impact", "quick_win")


def later_guideline(text: str) -> str:
    """The default program with the later guideline's weights: Impact 20 %, Quick Win 20 %."""
    for old, new in (
        ('name = "default"', 'name = "later-guideline"'),
        ('name = "monev-2019"', 'name = "monev-later"'),
        ("impact = 0.30", "impact = 0.20"),
        ("quick_win = 0.10", "quick_win = 0.20"),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def without_evaluation(text: str) -> str:
    """The default program with no evaluation policy."""
    assert text.count('name = "default"') == 1 and text.count("[evaluation]") == 1
    return text.replace('name = "default"', 'name = "no-evaluation"').split("[evaluation]")[0]


@pytest.fixture
def cohorts(db_url, tmp_path):
    """Cohort 2017 (the default program: the Sleman weights), cohort 2018-later (the later guideline) and
    cohort noeval (a program without an evaluation policy), each with its nominees."""
    default = (SHIPPED_DIR / "default.toml").read_text(encoding="utf-8")
    (tmp_path / "later.toml").write_text(later_guideline(default), encoding="utf-8")
    (tmp_path / "noeval.toml").write_text(without_evaluation(default), encoding="utf-8")
    load_registry()
    with session_scope() as s:
        for name, year, program, codes in (
            ("2017", 2017, "default", [BANDUNG, MAKASSAR, BOGOR, JAMBI, MIMIKA]),
            ("2018-later", 2018, str(tmp_path / "later.toml"), [SURABAYA, DENPASAR]),
            ("noeval", 2018, str(tmp_path / "noeval.toml"), [SAMARINDA]),
        ):
            create_cohort(s, name=name, year=year, quota=10, now=T0, program=program)
            nominate(s, cohort=name, codes=codes, now=T0)
    return db_url


SCORES = {  # (cohort, code) -> baseline, output, outcome, impact, quick_win in 2019
    ("2017", BANDUNG): (3.0, 3.2, 2.8, 3.5, 4.0),
    ("2017", MAKASSAR): (4.0, 3.0, 3.0, 3.0, 3.0),
    ("2017", BOGOR): (3.0, 3.0, 3.0, 3.0, 4.0),
    ("2017", JAMBI): (2.0, 2.0, 2.0, 2.0, 2.0),
    ("2018-later", SURABAYA): (3.0, 3.2, 2.8, 3.5, 4.0),
    ("2018-later", DENPASAR): (3.0, 3.0, 3.0, 4.0, 3.0),
}


def score_lines(year: int = 2019) -> list[str]:
    """Every score of SCORES, and Mimika with three dimensions only."""
    lines = [
        f"{year},{cohort},{code},{dim},{value},simulated for the test"
        for (cohort, code), values in SCORES.items()
        for dim, value in zip(DIMS, values, strict=True)
    ]
    return lines + [f"{year},2017,{MIMIKA},{dim},3.0,simulated for the test" for dim in DIMS[:3]]


def write(tmp_path, lines: list[str], name: str = "scores.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def imported(path, **kw):
    with session_scope() as s:
        return import_scores(session=s, path=path, actor="ani", now=kw.pop("now", NOW), **kw)


def index(year: int = 2019, cohort: str | None = None):
    with session_scope() as s:
        return evaluation_index(session=s, year=year, cohort=cohort)


def stored_scores() -> list[tuple]:
    with session_scope() as s:
        rows = s.exec(select(EvaluationScore).order_by(col(EvaluationScore.id))).all()
        return [(r.enrollment_id, r.year, r.dimension, r.score, r.source, r.simulated) for r in rows]


def audit_records(kind: str = "evaluation_imported") -> list[AuditRecord]:
    with session_scope() as s:
        return list(s.exec(select(AuditRecord).where(AuditRecord.kind == kind).order_by(col(AuditRecord.id))).all())


def test_a_file_with_bad_rows_imports_nothing_and_names_each_line(cohorts, tmp_path):
    path = write(
        tmp_path,
        [
            f"2019,2017,{BANDUNG},baseline,3.0",  # line 2: good
            "2019,2017,9999,output,3.0",
            "2019,1999,3273,output,3.0",
            f"2019,2017,{SURABAYA},output,3.0",
            f"2019,2017,{BANDUNG},governance,3.0",
            f"2019,2017,{BANDUNG},impact,4.5",
            f"2019,2017,{BANDUNG},baseline,2.0",
            f"20x9,2017,{BANDUNG},outcome,3.0",
            f"2016,2017,{BANDUNG},outcome,3.0",
            f"2019,2017,{BANDUNG},quick_win,-1",
            f"2019,2017,{BANDUNG},Quick Win,3",  # line 12: good (the monev's own spelling)
            f"2019,noeval,{SAMARINDA},baseline,3.0",
            f"1999,2017,{BANDUNG},output,3.0",
        ],
    )
    with pytest.raises(BadInput) as err:
        imported(path)
    assert str(err.value) == "scores.csv: 11 error(s), nothing imported"
    assert err.value.errors == [
        "line 3: unknown region '9999'",
        "line 4: unknown cohort '1999'",
        "line 5: region 3578 is not enrolled in cohort 2017",
        "line 6: unknown dimension 'governance' (policy monev-2019: baseline, output, outcome, impact, quick_win)",
        "line 7: score 4.5 is outside 0..4",
        "line 8: duplicate of line 2",
        "line 9: year: Input should be a valid integer, unable to parse string as an integer",
        "line 10: year 2016 is before cohort 2017 began (2017)",
        "line 11: score -1 is outside 0..4",
        "line 13: cohort noeval runs program no-evaluation, which has no evaluation policy",
        "line 14: year 1999 is out of range 2000-2100",
    ]
    assert stored_scores() == [] and audit_records() == []


def test_an_import_is_audited_once_and_the_same_scores_again_change_nothing(cohorts, tmp_path):
    path = write(tmp_path, score_lines())
    first = imported(path, simulated=True)
    assert first == {
        "source": "scores.csv",
        "rows": 33,
        "added": 33,
        "changed": 0,
        "unchanged": 0,
        "simulated": True,
    }
    before = stored_scores()
    assert imported(path, simulated=True)["unchanged"] == 33
    # The same scores given as rows (the demo's way) are the same scores.
    rows = [dict(zip(HEADER.split(","), line.split(","), strict=True)) for line in score_lines()]
    with session_scope() as s:
        again = import_scores(session=s, rows=rows, actor="ani", now=NOW, simulated=True)
    assert (again["added"], again["changed"], again["unchanged"]) == (0, 0, 33)
    assert stored_scores() == before
    records = audit_records()
    assert len(records) == 1 and records[0].subject == "evaluation 2019" and records[0].actor == "ani"
    assert records[0].content["added"] == 33
    assert ["2017", MIMIKA, 2019, "outcome", 3.0] in records[0].content["added_scores"]


def test_a_changed_score_needs_a_reason_and_keeps_the_old_value_in_the_audit(cohorts, tmp_path):
    imported(write(tmp_path, score_lines()))
    before = stored_scores()
    bandung = f"2019,2017,{BANDUNG},"
    changed = [x.replace(",impact,3.5,", ",impact,3.6,") if x.startswith(bandung) else x for x in score_lines()]
    path = write(tmp_path, changed, "scores-v2.csv")
    with pytest.raises(BadInput) as err:
        imported(path)
    assert err.value.errors == [
        "line 5: 3273 2019 impact: 3.5 (simulated for the test) [simulated] is already recorded; changing it to 3.6 "
        "needs a reason (--reason)"
    ]
    assert stored_scores() == before
    later = NOW + timedelta(days=1)
    assert imported(path, reason="corrected by the assessor", now=later)["changed"] == 1
    with session_scope() as s:
        row = s.exec(select(EvaluationScore).where(EvaluationScore.score == 3.6)).one()
        assert (row.dimension, row.recorded_at, row.recorded_by) == ("impact", later, "ani")
        assert audit.verify(s)[1] is None
    record = audit_records()[-1]
    assert record.content["reason"] == "corrected by the assessor"
    assert record.content["changed_scores"] == [
        {
            "cohort": "2017",
            "bps_code": BANDUNG,
            "year": 2019,
            "dimension": "impact",
            "from": 3.5,
            "to": 3.6,
            "from_source": "simulated for the test",
            "to_source": "simulated for the test",
        }
    ]


def test_the_index_weighs_each_cohort_with_its_own_programs_policy(cohorts, tmp_path):
    imported(write(tmp_path, score_lines()))
    groups = {g.cohort: g for g in index()}
    sleman, later = groups["2017"], groups["2018-later"]
    assert sleman.weights == {"baseline": 0.1, "output": 0.2, "outcome": 0.3, "impact": 0.3, "quick_win": 0.1}
    assert later.weights == {"baseline": 0.1, "output": 0.2, "outcome": 0.3, "impact": 0.2, "quick_win": 0.2}
    assert (sleman.policy, later.policy, sleman.scale_max) == ("monev-2019", "monev-later", 4.0)
    by_code = {r.bps_code: r for g in groups.values() for r in g.rows}
    # The same five scores (3.0, 3.2, 2.8, 3.5, 4.0), by hand:
    #   Sleman: .1*3.0 + .2*3.2 + .3*2.8 + .3*3.5 + .1*4.0 = .30 + .64 + .84 + 1.05 + .40 = 3.23
    #   later:  .1*3.0 + .2*3.2 + .3*2.8 + .2*3.5 + .2*4.0 = .30 + .64 + .84 + .70  + .80 = 3.28
    assert by_code[BANDUNG].index == 3.23 and by_code[SURABAYA].index == 3.28
    # Denpasar (3, 3, 3, 4, 3) under the later weights: .3 + .6 + .9 + .8 + .6 = 3.2
    assert by_code[DENPASAR].index == 3.2
    assert by_code[JAMBI].index == 2.0  # 2.0000000000000004 before rounding
    assert [(r.bps_code, r.rank) for r in later.rows] == [(SURABAYA, 1), (DENPASAR, 2)]


def test_equal_indexes_share_a_rank_in_code_order_and_incomplete_regions_have_none(cohorts, tmp_path):
    imported(write(tmp_path, score_lines()))
    (sleman,) = index(cohort="2017")
    # Makassar (4, 3, 3, 3, 3) and Bogor (3, 3, 3, 3, 4) both weigh 3.1, though the float sums differ
    # (3.0999999999999996 and 3.1): they tie, Bogor first by code; Jambi is 4th, not 3rd.
    assert [(r.bps_code, r.index, r.rank) for r in sleman.rows] == [
        (BANDUNG, 3.23, 1),
        (BOGOR, 3.1, 2),
        (MAKASSAR, 3.1, 2),
        (JAMBI, 2.0, 4),
        (MIMIKA, None, None),
    ]
    mimika = sleman.rows[-1]
    assert mimika.missing == ["impact", "quick_win"] and mimika.scores == {"baseline": 3, "output": 3, "outcome": 3}
    assert index(year=2020) == []
    with pytest.raises(NotFound):
        index(cohort="1999")


def test_ranking_alone_ties_only_equal_indexes():
    from smartcity.models.evaluation.ops import IndexRow

    def row(code, value):
        return IndexRow(cohort="c", year=2019, bps_code=code, region=code, scores={}, index=value)

    out = ranked([row("4", 1.0), row("3", 2.0), row("2", None), row("1", 2.0), row("0", 0.5)])
    assert [(r.bps_code, r.rank) for r in out] == [("1", 1), ("3", 1), ("4", 3), ("0", 4), ("2", None)]


def test_the_guard_passes_on_a_complete_index_at_least_the_minimum(cohorts, tmp_path):
    def guard(code, min_index=None, now=NOW, params=None):
        with session_scope() as s:
            enrollment = find_enrollment(s, code, "2017")
            return evaluation_scored(s, enrollment, params or EvaluationParams(min_index=min_index), now)

    assert guard(BANDUNG) == "no implementation evaluation scores yet"
    imported(write(tmp_path, score_lines()))
    assert guard(MIMIKA) == "evaluation 2019 is incomplete: no score for impact, quick_win"
    assert guard(BANDUNG) is None and guard(BANDUNG, min_index=3.23) is None
    assert guard(BANDUNG, params={"min_index": 3.0}) is None
    assert guard(JAMBI, min_index=2.5) == "best evaluation index 2.00 (2019) is below the 2.5 this program needs"
    # Scores recorded after the guard's `now` do not count (a simulated clock sees the past as it was).
    assert guard(BANDUNG, now=NOW - timedelta(seconds=1)) == "no implementation evaluation scores yet"
    # A better later year passes where the first did not.
    imported(write(tmp_path, [line.replace(",2.0,", ",3.0,") for line in score_lines(2020)], "2020.csv"))
    assert guard(JAMBI, min_index=2.5) is None


def test_the_cohort_report_shows_the_ranked_index_with_its_weights(cohorts, tmp_path):
    with session_scope() as s:
        assert build_report(s, now=NOW, cohort="2017").evaluation == []
    imported(write(tmp_path, score_lines()), simulated=True)
    with session_scope() as s:
        rep = build_report(s, now=NOW, cohort="2017")
    assert [(g.cohort, g.year) for g in rep.evaluation] == [("2017", 2019)]
    md = render(rep, "md", "en")
    assert "## Implementation evaluation 2019, cohort 2017 (SIMULATED DATA)" in md
    assert (
        "Weights (monev-2019): Baseline 10%, Output 20%, Outcome 30%, Impact 30%, Quick Win 10%; index on a 0-4 "
        "scale. Source: Weights as one participating region publishes them" in md
    )
    assert "| 1 | 3273 | Kota Bandung | 3.23 | 3.00 | 3.20 | 2.80 | 3.50 | 4.00 | simulated |" in md
    assert (
        "| - | 9412 | Kabupaten Mimika | - | 3.00 | 3.00 | 3.00 | - | - | incomplete: no Impact, Quick Win; simulated |"
        in md
    )
    md_id = render(rep, "md", "id")
    assert "## Evaluasi pelaksanaan 2019, kohort 2017 (DATA SIMULASI)" in md_id
    assert "| 2 | 3271 | Kota Bogor | 3,10 |" in md_id and "Bobot (monev-2019): Baseline 10%" in md_id
    html = render(rep, "html", "en")
    assert "<h2>Implementation evaluation 2019, cohort 2017 (SIMULATED DATA)</h2>" in html
    assert "<td>3.23</td>" in html and "Quick Win (10%)" in html
    assert "2018-later" not in md  # a cohort report shows its own cohort's evaluation only


def test_the_artifact_markdown_states_each_cohorts_weights_and_marks_simulated_scores(cohorts, tmp_path):
    imported(write(tmp_path, score_lines()), simulated=True)
    text = evaluation_markdown(2019, index())
    assert text.startswith("# Implementation evaluation 2019\n\n**SIMULATED DATA: these scores are simulated")
    assert "## Implementation evaluation 2019, cohort 2017 (SIMULATED DATA)" in text
    assert "Weights (monev-later): Baseline 10%, Output 20%, Outcome 30%, Impact 20%, Quick Win 20%" in text
    assert "| 1 | 3578 | Kota Surabaya | 3.28 |" in text
    assert evaluation_markdown(2020, []) == "# Implementation evaluation 2020\n\nNo evaluation scores for 2020.\n"
