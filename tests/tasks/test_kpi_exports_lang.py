"""Issue 14, item 7: KPIs with a direction, csv-id exports a spreadsheet set to Indonesian opens, reports in
Bahasa Indonesia, and error lines that name the flag and the problem. In-process CLI (`cli.main`), no subprocess.
"""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from smartcity.deployments.cli import app as cli
from smartcity.models.core.errors import BadInput
from smartcity.models.infra.csvfile import write_rows
from smartcity.models.infra.db import session_scope
from smartcity.models.quickwins.ops import kpi_progress, list_quick_wins, parse_kpi, register_quick_win
from smartcity.models.reports.data import build_report
from smartcity.models.reports.render import render
from tests.tasks.test_reports import BANDUNG, MAKASSAR, NOW, history  # noqa: F401  (the fixture, reused)

BOM = "\ufeff"


def run(capsys, *args: str) -> tuple[int, str, str]:
    """`smartcity ARGS` in this process: (exit code, stdout, stderr)."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def read_id_csv(text: str) -> list[dict[str, str]]:
    """Read a csv-id export back as a spreadsheet would: BOM first, ';' between fields."""
    assert text.startswith(BOM), "a spreadsheet needs the BOM to read UTF-8"
    return list(csv.DictReader(io.StringIO(text.removeprefix(BOM), newline=""), delimiter=";"))


# --- 1. KPIs with a direction ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target,actual,unit,lower,lang,expected",
    [
        (3, 5, "days", True, "en", "5 days against a target of at most 3: not met"),
        (3, 2, "days", True, "en", "2 days against a target of at most 3: met"),
        (3, 3, "days", True, "en", "3 days against a target of at most 3: met"),
        (100, 80, "visits", False, "en", "80 of 100 visits (80%)"),
        (3, 5, "days", False, "en", "5 of 3 days (166.7%)"),
        (3, None, "days", True, "en", "target at most 3 days, not measured yet"),
        (0, 4, "complaints", False, "en", "4 complaints against a target of 0"),
        (3, 5, "hari", True, "id", "5 hari terhadap target paling tinggi 3: belum tercapai"),
        (2.5, 2.25, "hari", True, "id", "2,25 hari terhadap target paling tinggi 2,5: tercapai"),
        (1000, 800, "warga", False, "id", "800 dari 1.000 warga (80%)"),
    ],
)
def test_kpi_progress_says_the_direction(target, actual, unit, lower, lang, expected):
    assert kpi_progress(target, actual, unit, lower, lang) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("service time:days:3:5:lower", (3, 5, True)),
        ("service time:days:3:lower", (3, None, True)),
        ("service time:days:3::LOWER", (3, None, True)),
        ("visits:count:100:80:higher", (100, 80, False)),
        ("visits:count:100:80", (100, 80, False)),
    ],
)
def test_parse_kpi_reads_the_direction(text, expected):
    k = parse_kpi(text)
    assert (k.target, k.actual, k.lower_is_better) == expected


def test_parse_kpi_refuses_an_unknown_direction_naming_the_flag():
    with pytest.raises(BadInput, match=r"^--kpi 'x:u:3:5:sideways': the last part is 'sideways'; give 'lower'"):
        parse_kpi("x:u:3:5:sideways")


def test_a_lower_is_better_kpi_is_stored_listed_and_reported_as_met_or_not(history):  # noqa: F811
    with session_scope() as s:
        register_quick_win(
            s,
            BANDUNG,
            {
                "title": "Licence desk",
                "dimension": "governance",
                "budget_idr": 5_000_000,
                "start_date": date(2017, 7, 1),
                "kpis": [
                    {"name": "service time", "unit": "days", "target": 3, "actual": 5, "lower_is_better": True},
                    {"name": "visits", "unit": "count", "target": 100, "actual": 80},
                ],
            },
            "ani",
            NOW,
        )
    with session_scope() as s:
        listed = [k for w in list_quick_wins(s, BANDUNG) for k in w["kpis"]]
        rep = build_report(s, now=NOW, cohort="2017")
    service = next(k for k in listed if k["name"] == "service time")
    assert (service["lower_is_better"], service["met"]) == (True, False)
    assert service["progress"] == "5 days against a target of at most 3: not met"
    rows = {k.kpi: k for k in rep.quick_win_kpis}
    assert (rows["service time"].percent_of_target, rows["service time"].met) == (None, False)
    assert (rows["visits"].percent_of_target, rows["visits"].met) == (80.0, False)
    md = render(rep, "md", lang="en")
    assert "5 days against a target of at most 3: not met" in md and "166.7" not in md
    assert "80 of 100 count (80%)" in md and "% of target" not in md
    assert "5 days terhadap target paling tinggi 3: belum tercapai" in render(rep, "md")  # the unit is data


def test_quickwin_cli_registers_a_direction_and_lists_it(history, capsys):  # noqa: F811
    code, _, err = run(
        capsys,
        *("quickwin", "register", BANDUNG, "--title", "Licence desk", "--dimension", "governance"),
        *("--budget", "5000000", "--start", "2017-07-01", "--actor", "ani"),
        *("--kpi", "service time:days:3:2:lower", "--kpi", "rating:score:4.5:4.25"),
    )
    assert code == 0, err
    code, out, _ = run(capsys, "quickwin", "list", BANDUNG)
    assert "service time: 2 days against a target of at most 3: met" in out
    code, out, _ = run(capsys, "quickwin", "list", BANDUNG, "--format", "csv-id")
    rows = read_id_csv(out)
    licence = [r for r in rows if r["title"] == "Licence desk"]
    assert [(r["kpi"], r["target"], r["actual"], r["lower_is_better"], r["met"]) for r in licence] == [
        ("service time", "3,0", "2,0", "true", "true"),
        ("rating", "4,5", "4,25", "false", "false"),
    ]


# --- 2. Exports a spreadsheet set to Indonesian opens ------------------------------------------------------


def test_write_rows_id_dialect_reads_back_with_semicolons_and_decimal_commas():
    rows = [{"name": "Kota Bandung; Jawa Barat", "days": 32.5, "n": 7, "note": "=HYPERLINK(1)", "none": None}]
    text = write_rows(rows, dialect="id")
    assert text.startswith(BOM) and text.splitlines()[0] == f"{BOM}name;days;n;note;none"
    assert read_id_csv(text) == [
        {"name": "Kota Bandung; Jawa Barat", "days": "32,5", "n": "7", "note": "'=HYPERLINK(1)", "none": ""}
    ]
    plain = write_rows(rows, dialect="en")
    assert not plain.startswith(BOM) and list(csv.DictReader(io.StringIO(plain)))[0]["days"] == "32.5"
    with pytest.raises(BadInput, match="dialect 'fr'"):
        write_rows(rows, dialect="fr")


def test_every_list_exports_csv_id(history, capsys):  # noqa: F811
    code, out, _ = run(capsys, "regions", "list", "--province", "jawa barat", "--format", "csv-id")
    regions = read_id_csv(out)
    assert code == 0 and BANDUNG in {r["bps_code"] for r in regions}
    assert {r["province"] for r in regions} == {"Jawa Barat"}
    code, out, _ = run(capsys, "deadlines", "list", MAKASSAR, "--format", "csv-id")
    deadlines = read_id_csv(out)
    assert code == 0 and any(r["key"] == "masterplan" and r["due_local"].endswith("WITA") for r in deadlines)
    code, out, _ = run(capsys, "reviews", "pending", "--format", "CSV-ID")
    pending = read_id_csv(out)
    assert code == 0 and [(r["reviewer"], r["region_code"]) for r in pending] == [("Ir. Bambang", MAKASSAR)]
    code, out, _ = run(capsys, "quickwin", "list", "--format", "csv-id")
    assert code == 0 and [r["kpi"] for r in read_id_csv(out)] == ["services"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["regions", "list", "--format", "xlsx"], "error: --format 'xlsx': one of csv-id (or --json)"),
        (["deadlines", "list", "--format", "csv-id", "--json"], "error: --format csv-id and --json: choose one"),
        (["reviews", "pending", "--format", "csv"], "error: --format 'csv': one of csv-id (or --json)"),
        (["quickwin", "list", "--json", "--format", "csv-id"], "error: --format csv-id and --json: choose one"),
    ],
)
def test_bad_export_format_is_one_line_exit_2(history, capsys, args, message):  # noqa: F811
    code, out, err = run(capsys, *args)
    assert (code, out, err.strip()) == (2, "", message)


def test_report_csv_id_opens_in_an_indonesian_spreadsheet(history, capsys, tmp_path):  # noqa: F811
    out = tmp_path / "report.csv"
    assert run(capsys, "report", "--format", "csv-id", "--out", str(out), "--now", NOW.isoformat())[0] == 0
    rows = {r["bps_code"]: r for r in read_id_csv(out.read_text(encoding="utf-8"))}
    assert rows[MAKASSAR]["days_drafting"] == "45,0" and rows[MAKASSAR]["overdue"] == "true"


# --- 3. Reports in Bahasa Indonesia -----------------------------------------------------------------------


def test_report_is_in_bahasa_by_default_and_english_on_request(history, capsys, tmp_path):  # noqa: F811
    now = NOW.isoformat()
    md_id, md_en, page = tmp_path / "id.md", tmp_path / "en.md", tmp_path / "id.html"
    assert run(capsys, "report", "--format", "md", "--out", str(md_id), "--now", now, "--simulated")[0] == 0
    assert run(capsys, "report", "--format", "md", "--out", str(md_en), "--now", now, "--lang", "en")[0] == 0
    assert run(capsys, "report", "--format", "html", "--out", str(page), "--now", now, "--simulated")[0] == 0
    bahasa, english, html = (p.read_text(encoding="utf-8") for p in (md_id, md_en, page))
    assert "# Gerakan Menuju 100 Smart City: laporan kohort 2017" not in bahasa  # no --cohort: the program
    assert bahasa.startswith("# Gerakan Menuju 100 Smart City: laporan program")
    for text in ("## Corong tahapan", "## Daerah", "## Lewat tenggat", "## KPI quick win", "DATA SIMULASI"):
        assert text in bahasa, text
    assert "| masterplan selesai | 1 | 1 |" in bahasa and "| tidak terpilih |" in bahasa
    assert "Dibuat Rabu, 21 Juni 2017 01:00 UTC" in bahasa  # pendulum's `id` locale
    assert "TERLAMBAT" in bahasa and "jatuh tempo" in bahasa and "OVERDUE" not in bahasa
    assert "## Funnel" in english and "| masterplan completed | 1 | 1 |" in english and "Corong" not in english
    assert '<html lang="id">' in html and "<h2>Corong tahapan</h2>" in html and "DATA SIMULASI" in html


# --- 4. Messages that name the flag and the problem --------------------------------------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["report", "--format", "md", "--out", "-", "--now", "2027-02-30T08:00+07:00"],
            "error: --now '2027-02-30T08:00+07:00': 2027-02-30 is not a date (no such day in the calendar)",
        ),
        (
            ["milestone", "done", BANDUNG, "--key", "bimtek-1", "--actor", "ani", "--at", "2027-02-30T08:00+07:00"],
            "error: --at '2027-02-30T08:00+07:00': 2027-02-30 is not a date (no such day in the calendar)",
        ),
        (
            ["remind", "--now", "2017-06-31T08:00+07:00", "--dry-run"],
            "error: --now '2017-06-31T08:00+07:00': 2017-06-31 is not a date (no such day in the calendar)",
        ),
        (
            ["report", "--format", "md", "--out", "-", "--lang", "jv"],
            "error: --lang 'jv': one of id, en",
        ),
        (
            ["quickwin", "register", BANDUNG, "--title", "t", "--dimension", "economy", "--budget", "-5"]
            + ["--start", "2017-07-01", "--kpi", "a:b:1", "--actor", "ani"],
            "--budget",
        ),
        (
            ["quickwin", "register", BANDUNG, "--title", "t", "--dimension", "economy", "--budget", "5"]
            + ["--start", "2017-07-01", "--kpi", "a:b:x", "--actor", "ani"],
            "error: --kpi 'a': target and actual must be numbers ('a:b:x')",
        ),
    ],
)
def test_error_lines_name_the_flag_and_the_problem(history, capsys, args, message):  # noqa: F811
    code, _, err = run(capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.strip() == message if message.startswith("error:") else message in err, err
