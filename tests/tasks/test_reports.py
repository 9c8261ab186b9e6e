"""The program report from a constructed history (T0-based times), on real SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta

import pytest
from sqlmodel import select

from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import Contact, Region
from smartcity.models.core.transitions import StageChange, change_stage, find_enrollment
from smartcity.models.deadlines.tables import Deadline
from smartcity.models.infra.db import session_scope
from smartcity.models.quickwins.ops import register_quick_win
from smartcity.models.reports import data as reports
from smartcity.models.reports.data import Report, build_report
from smartcity.models.reports.render import (
    SIMULATED_BANNER,
    cohort_progress_percent,
    cohort_table,
    program_board_markdown,
    render,
)
from smartcity.models.reviews.tables import MasterplanRound, Review, ReviewAssignment, Reviewer
from tests.helpers import REGISTRY, T0, cohort_with, load_registry

BANDUNG, MAKASSAR, MIMIKA, BOGOR = "3273", "7371", "9412", "3271"
NOW = T0 + timedelta(days=50)
SECRET = "mailto://pic:Sup3rSecretPw@smtp.example.org?to=pic@bandung.go.id"


def day(n: float):
    return T0 + timedelta(days=n)


def move(code, to, at, reason=None):
    with session_scope() as s:
        change_stage(s, StageChange(region_code=code, to=Stage(to), actor="ani", reason=reason, cohort="2017"), now=at)


def add_round(code, round_no, status, at):
    """A review round; an approved one with the approving review the program's quorum (one) asks for."""
    with session_scope() as s:
        rnd = MasterplanRound(
            enrollment_id=find_enrollment(s, code).id, round_no=round_no, status=status, submitted_at=at
        )
        s.add(rnd)
        s.flush()
        if status == "approved":
            approver = s.exec(select(Reviewer).where(Reviewer.name == "Prof. Quorum")).first()
            if approver is None:
                approver = Reviewer(
                    name="Prof. Quorum",
                    institution="UI",
                    expertise=["governance"],
                    home_province="DKI Jakarta",
                    created_at=T0,
                )
                s.add(approver)
                s.flush()
            review = Review(
                round_id=rnd.id, reviewer_id=approver.id, scores={}, decision="approve", submitted_at=at, source="cli"
            )
            s.add(review)
        return rnd.id


@pytest.fixture
def history(db_url):
    """Bandung completes, is revised, completes again; Makassar drafts; Mimika is declined; Bogor waits."""
    load_registry()
    cohort_with([BANDUNG, MAKASSAR, MIMIKA, BOGOR], quota=3)
    move(BANDUNG, "selected", day(1))
    move(BANDUNG, "drafting", day(11))
    add_round(BANDUNG, 1, "approved", day(30))
    move(BANDUNG, "masterplan_completed", day(41))
    move(BANDUNG, "drafting", day(43), reason="budget annex missing")
    add_round(BANDUNG, 2, "approved", day(44))
    move(BANDUNG, "masterplan_completed", day(45))
    move(MAKASSAR, "selected", day(1))
    move(MAKASSAR, "drafting", day(5))
    move(MIMIKA, "not_selected", day(2))
    round_id = add_round(MAKASSAR, 1, "open", day(40))
    with session_scope() as s:
        _reviewers_and_deadlines(s, round_id)
        register_quick_win(
            s,
            BANDUNG,
            {
                "title": "Command center",
                "dimension": "governance",
                "budget_idr": 1_000_000,
                "start_date": date(2017, 7, 1),
                "kpis": [{"name": "services", "unit": "count", "target": 40, "actual": 10}],
            },
            "ani",
            day(46),
        )
        s.add(Contact(role="pic", name="PIC Bandung", apprise_url=SECRET, created_at=T0))
    return db_url


def _reviewers_and_deadlines(s, round_id):
    ids = []
    for name in ("Dr. Ayu", "Ir. Bambang"):
        r = Reviewer(name=name, institution="ITB", expertise=["governance"], home_province="Jawa Barat", created_at=T0)
        s.add(r)
        s.flush()
        ids.append(r.id)
        s.add(ReviewAssignment(round_id=round_id, reviewer_id=r.id, assigned_at=day(40), why="expertise"))
    s.add(
        Review(round_id=round_id, reviewer_id=ids[0], scores={}, decision="approve", submitted_at=day(42), source="cli")
    )
    makassar, bandung, bogor = (find_enrollment(s, c).id for c in (MAKASSAR, BANDUNG, BOGOR))
    for auto in s.exec(select(Deadline)).all():  # stage changes may open deadlines: only ours below count
        auto.status = "cancelled"
    # Due 17:00 WITA on day 45 (09:00 UTC), so overdue at NOW; Bandung's is ahead; Bogor's is done.
    s.add(
        Deadline(
            enrollment_id=makassar,
            kind="stage",
            key="masterplan",
            stage="drafting",
            due_at=day(45) + timedelta(hours=8),
            created_at=day(5),
        )
    )
    s.add(
        Deadline(
            enrollment_id=bandung,
            kind="stage",
            key="quick-win",
            stage="masterplan_completed",
            due_at=day(60) + timedelta(hours=9),
            created_at=day(45),
        )
    )
    s.add(
        Deadline(
            enrollment_id=bogor,
            kind="stage",
            key="selection",
            stage="nominated",
            status="done",
            due_at=day(10),
            created_at=T0,
        )
    )


def report(**kw) -> Report:
    with session_scope() as s:
        return build_report(s, now=NOW, **kw)


def population() -> dict[str, int]:
    with REGISTRY.open(encoding="utf-8") as fh:
        return {r["bps_code"]: int(r["population_2025"]) for r in csv.DictReader(fh)}


def test_funnel_counts_and_population_per_stage(history):
    rep = report(cohort="2017")
    pop = population()
    funnel = {f.stage: (f.count, f.reached, f.population) for f in rep.funnel}
    # The default program's stages, in its definition's chart order: the main line, then the side exits.
    assert (
        list(funnel)
        == [s.name for s in rep.stages]
        == [
            "nominated",
            "selected",
            "drafting",
            "masterplan_completed",
            "quick_win_delivered",
            "not_selected",
            "withdrawn",
        ]
    )
    assert funnel == {
        "nominated": (1, 4, pop[BOGOR]),
        "selected": (0, 2, 0),
        "drafting": (1, 2, pop[MAKASSAR]),
        "masterplan_completed": (1, 1, pop[BANDUNG]),
        "quick_win_delivered": (0, 0, 0),
        "not_selected": (1, 1, pop[MIMIKA]),
        "withdrawn": (0, 0, 0),
    }
    assert rep.population_year == 2025 and "Dukcapil 2025" in rep.population_source


def test_days_per_stage_from_the_transition_rows(history):
    rows = {r.bps_code: r for r in report().regions}
    assert rows[BANDUNG].days_in_stage == {
        "nominated": 1,
        "selected": 10,
        "drafting": 30 + 2,
        "masterplan_completed": 2 + 5,
    }  # revised once: both stretches add up
    assert rows[MAKASSAR].days_in_stage == {"nominated": 1, "selected": 4, "drafting": 45}
    assert rows[MIMIKA].days_in_stage == {"nominated": 2}  # a final stage has no duration
    assert rows[BOGOR].days_in_stage == {"nominated": 50}  # never moved: counts until now
    assert rows[MAKASSAR].since_local == "2017-05-07 09:00 WITA"
    assert [p.stage for p in rows[BANDUNG].periods] == [
        "nominated",
        "selected",
        "drafting",
        "masterplan_completed",
        "drafting",
        "masterplan_completed",
    ]


def test_deadlines_in_local_time_overdue_reviews_and_kpis(history):
    rep = report()
    rows = {r.bps_code: r for r in rep.regions}
    assert rows[MAKASSAR].overdue and rows[MAKASSAR].deadline == (
        "masterplan (stage) due 2017-06-16 17:00 WITA (OVERDUE by 4.7 days)"
    )
    assert not rows[BANDUNG].overdue and "2017-07-01 17:00 WIB (in 10.4 days)" in rows[BANDUNG].deadline
    assert rows[BOGOR].deadline == rows[MIMIKA].deadline == "no deadline"  # Bogor's deadline is done
    assert [(o["bps_code"], o["due_local"], o["days_overdue"]) for o in rep.overdue] == [
        (MAKASSAR, "2017-06-16 17:00 WITA", 4.7)
    ]
    assert [(r["bps_code"], r["round"], r["reviewers_pending"]) for r in rep.reviews_outstanding] == [
        (MAKASSAR, 1, ["Ir. Bambang"])
    ]
    assert [(k.kpi, k.target, k.actual, k.percent_of_target) for k in rep.quick_win_kpis] == [
        ("services", 40, 10, 25.0)
    ]
    assert rep.notes == []


def test_without_a_deadline_model_every_region_shows_no_deadline(history, monkeypatch):
    real = reports._model
    monkeypatch.setattr(reports, "_model", lambda module, name: None if name == "Deadline" else real(module, name))
    rep = report()
    assert {r.deadline for r in rep.regions} == {"no deadline"} and rep.overdue == []
    assert any("deadlines: not tracked" in n for n in rep.notes)


def test_all_four_formats_render_and_csv_parses_back(history):
    with session_scope() as s:  # hostile text in the registry must come out escaped
        s.exec(select(Region).where(Region.bps_code == BOGOR)).one().name = "Kota <script>alert(1)</script> & Co"
    rep = report(cohort="2017", simulated=True)
    out = {fmt: render(rep, fmt, lang="en") for fmt in ("md", "csv", "json", "html")}
    rows = {r["bps_code"]: r for r in csv.DictReader(io.StringIO(out["csv"]))}
    assert set(rows) == {BANDUNG, MAKASSAR, MIMIKA, BOGOR}
    assert (rows[BANDUNG]["days_drafting"], rows[BANDUNG]["days_masterplan_completed"]) == ("32.0", "7.0")
    assert rows[BOGOR]["name"] == "Kota <script>alert(1)</script> & Co"  # CSV keeps the data as it is
    assert {r["simulated"] for r in rows.values()} == {"true"} and rows[MAKASSAR]["overdue"] == "true"
    assert Report.model_validate(json.loads(out["json"])) == rep
    assert SIMULATED_BANNER in out["md"] and "| masterplan completed | 1 | 1 |" in out["md"]
    assert "| Rp 1.000.000 |" in out["md"]  # budgets the Indonesian way
    html = out["html"]
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert "<script>alert(1)" not in out["md"]
    assert not re.search(r"<script[^>]*\bsrc=", html), "plotly.js must be inline, never from a CDN"
    assert html.count("plotly.js v") == 1  # the library is embedded once for the page
    assert 'id="funnel-chart"' in html and 'id="timeline-chart"' in html and 'id="simulated-banner"' in html


def test_artifact_contents_show_local_deadlines_progress_and_no_secret(history):
    rep = report(simulated=True)
    board = program_board_markdown(rep)
    table = cohort_table(rep, "2017")
    percent, sentence = cohort_progress_percent(rep, "2017")
    assert "2017-06-16 17:00 WITA" in board and "▶ 45.0 d" in board and "SIMULATED" in board
    assert [r["code"] for r in table] == sorted([BANDUNG, MAKASSAR, MIMIKA, BOGOR])
    assert (percent, sentence) == (
        50.0,
        "cohort 2017: masterplans completed 1 of 2 selected regions; quick wins delivered 0 (simulated)",
    )
    everything = board + json.dumps(table) + sentence + render(rep, "json")
    assert "Sup3rSecretPw" not in everything and "mailto" not in everything


def test_naive_now_and_unknown_cohort_are_refused(history):
    from smartcity.models.core.errors import BadInput, NotFound

    with session_scope() as s, pytest.raises(BadInput):
        build_report(s, now=NOW.replace(tzinfo=None))
    with session_scope() as s, pytest.raises(NotFound):
        build_report(s, now=NOW, cohort="1999")


def test_cli_report_writes_each_format_and_refuses_bad_input(history, capsys, tmp_path):
    from smartcity.deployments.cli import app as cli

    for fmt in ("md", "csv", "json", "html"):
        out = tmp_path / f"report.{fmt}"
        assert cli.main(["report", "--format", fmt, "--out", str(out), "--now", NOW.isoformat()]) == 0
        assert out.stat().st_size > 0
    capsys.readouterr()
    bad = [
        ["report", "--format", "pdf", "--out", "x"],
        ["report", "--format", "md", "--out", "x", "--now", "2017-06-01T08:00"],
        ["report", "--format", "md"],
    ]
    codes = [cli.main(args) for args in bad]
    rows = list(csv.DictReader((tmp_path / "report.csv").open(encoding="utf-8")))
    assert {r["bps_code"]: r["days_drafting"] for r in rows}[MAKASSAR] == "45.0"
    assert json.loads((tmp_path / "report.json").read_text())["generated_at"].startswith("2017-06-21T01:00")
    err = capsys.readouterr().err.strip().splitlines()
    assert codes == [2, 2, 2] and len(err) == 3
    assert "one of md, csv, json, html" in err[0] and "give a UTC offset" in err[1] and "--out" in err[2]


VILLAGE = """
name = "village-digital"
title = { id = "Desa Digital", en = "Digital Villages" }

[[stages]]
name = "registered"
label = { id = "terdaftar", en = "registered" }

[[stages]]
name = "surveyed"
label = { id = "disurvei", en = "surveyed" }
colour = "#123456"

[[stages]]
name = "connected"
label = { id = "terhubung", en = "connected to the network" }
final = true

[[stages]]
name = "dropped"
label = { id = "keluar", en = "dropped out" }
final = true

[[edges]]
from = "registered"
to = "surveyed"

[[edges]]
from = "surveyed"
to = "connected"

[[edges]]
from = ["registered", "surveyed"]
to = "dropped"
kind = "withdraw"
reason_required = true

[deadlines]
rules = []

[[deadlines.ladder]]
key = "due"
offset = 0
recipients = ["pic"]
"""


def village_cohort(tmp_path, codes):
    """A cohort running another program (a test-only village digitisation drive): the first region connected,
    the second surveyed, the third dropped out."""
    from smartcity.models.core.program import create_cohort, nominate

    path = tmp_path / "village.toml"
    path.write_text(VILLAGE, encoding="utf-8")
    with session_scope() as s:
        create_cohort(s, name="desa-2024", year=2024, quota=5, now=T0, program=str(path))
        nominate(s, cohort="desa-2024", codes=codes, now=T0)
    first, second, third = codes
    for code, to, n, reason in [
        (first, "surveyed", 3, None),
        (first, "connected", 9, None),
        (second, "surveyed", 4, None),
        (third, "dropped", 5, "no signal in the district"),
    ]:
        with session_scope() as s:
            change = StageChange(region_code=code, to=to, actor="ani", reason=reason, cohort="desa-2024")
            change_stage(s, change, now=day(n))


@pytest.fixture
def village(db_url, tmp_path):
    """Bandung connected, Makassar surveyed, Mimika dropped out, in a village-programme cohort."""
    load_registry()
    village_cohort(tmp_path, [BANDUNG, MAKASSAR, MIMIKA])
    return db_url


def test_a_cohort_of_another_program_reports_its_own_stages_labels_and_colours(village):
    with session_scope() as s:
        rep = build_report(s, now=day(20), cohort="desa-2024")
    assert [(x.name, x.main, x.closed) for x in rep.stages] == [
        ("registered", True, False),
        ("surveyed", True, False),
        ("connected", True, True),
        ("dropped", False, True),
    ]
    # The definition's own colour where it gives one; the palette, in stage order, for the others.
    assert [x.colour for x in rep.stages] == ["#0072b2", "#123456", "#e69f00", "#009e73"]
    funnel = {f.stage: (f.count, f.reached) for f in rep.funnel}
    assert funnel == {"registered": (0, 3), "surveyed": (1, 2), "connected": (1, 1), "dropped": (1, 1)}
    rows = {r.bps_code: r for r in rep.regions}
    assert rows[MAKASSAR].days_in_stage == {"registered": 4, "surveyed": 16}
    assert rows[BANDUNG].days_in_stage == {"registered": 3, "surveyed": 6}  # a closed stage has no duration
    md_id, md_en = render(rep, "md", "id"), render(rep, "md", "en")
    assert md_id.startswith("# Desa Digital: laporan kohort desa-2024\n")
    assert "| terdaftar | 0 | 3 |" in md_id and "| keluar | 1 | 1 |" in md_id
    assert "| connected to the network | 1 | 1 |" in md_en and "| Kota Bandung | Jawa Barat | connected to" in md_en
    # No masterplan review and no quick win in this program: no empty tables about them.
    assert "Reviews outstanding" not in md_en and "Quick-win KPIs" not in md_en and "## Overdue" in md_en
    head = next(csv.reader(io.StringIO(render(rep, "csv", "en"))))
    assert [h for h in head if h.startswith("days_")] == [
        "days_registered",
        "days_surveyed",
        "days_connected",
        "days_dropped",
    ]
    html = render(rep, "html", "en")
    assert '"#123456"' in html and "surveyed" in html and "Desa Digital" in html
    assert cohort_progress_percent(rep, "desa-2024") == (
        100 / 3,
        "cohort desa-2024: 1 of 3 regions reached connected to the network",
    )
    board = program_board_markdown(rep)
    assert "| region | registered | surveyed | connected to the network | dropped out |" in board
    assert {r["stage"] for r in cohort_table(rep, "desa-2024")} == {
        "connected to the network",
        "surveyed",
        "dropped out",
    }


def test_a_program_report_of_two_programs_shows_both_programs_stages(history, tmp_path):
    village_cohort(tmp_path, ["3578", "5171", "1371"])  # Surabaya, Denpasar, Padang
    rep = report()
    names = [x.name for x in rep.stages]
    default = ["nominated", "selected", "drafting", "masterplan_completed", "quick_win_delivered"]
    assert names[:7] == [*default, "not_selected", "withdrawn"]
    assert names[7:] == ["registered", "surveyed", "connected", "dropped"]
    assert rep.title == "Gerakan Menuju 100 Smart City / Desa Digital: program report"
    assert {c: p.program for c, p in rep.programs.items()} == {"2017": "default", "desa-2024": "village-digital"}
    assert len({x.colour for x in rep.stages}) == len(rep.stages)  # no two stages share a colour
