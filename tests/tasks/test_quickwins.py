"""Quick wins on real SQLite and PostgreSQL: register, attach evidence, verify; refusals change nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

import pytest
from sqlmodel import select

from smartcity.models.core.errors import BadInput, DomainRefused, GuardFailed, NotFound
from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import EventOutbox
from smartcity.models.core.transitions import StageChange, change_stage, find_enrollment
from smartcity.models.infra.db import session_scope
from smartcity.models.quickwins.ops import (
    DEFAULT_CHECKLIST,
    add_evidence,
    list_quick_wins,
    parse_kpi,
    register_quick_win,
    verify_quick_win,
)
from smartcity.models.quickwins.tables import QuickWin, QuickWinEvidence, QuickWinKPI
from smartcity.models.reviews.tables import MasterplanRound
from tests.conftest import dump_database
from tests.helpers import T0, cohort_with, load_registry

BANDUNG, BOGOR = "3273", "3271"
ALL_TICKED = {item: True for item in DEFAULT_CHECKLIST}


def move(code, to, at, reason=None):
    with session_scope() as s:
        return change_stage(
            s, StageChange(region_code=code, to=Stage(to), actor="ani", reason=reason, cohort="2017"), now=at
        )


def complete_masterplan(code: str, at=T0) -> None:
    """Walk a region to masterplan_completed through the real guards."""
    move(code, "selected", at)
    move(code, "drafting", at + timedelta(days=1))
    with session_scope() as s:
        s.add(
            MasterplanRound(enrollment_id=find_enrollment(s, code).id, round_no=1, status="approved", submitted_at=at)
        )
    move(code, "masterplan_completed", at + timedelta(days=30))


def data(**over):
    base = {
        "title": "Bandung Command Center",
        "description": "city dashboard",
        "dimension": "governance",
        "budget_idr": 2_500_000_000,
        "start_date": date(2017, 10, 1),
        "kpis": [
            {"name": "services online", "unit": "count", "target": 40, "actual": 12},
            {"name": "uptime", "unit": "%", "target": 99},
        ],
    }
    return {**base, **over}


@pytest.fixture
def program(db_url):
    load_registry()
    cohort_with([BANDUNG, BOGOR])
    complete_masterplan(BANDUNG)
    return db_url


def register(code=BANDUNG, **over) -> int:
    with session_scope() as s:
        return register_quick_win(s, code, data(**over), "ani", T0 + timedelta(days=40)).id


def evidence(qw_id, **kw) -> QuickWinEvidence:
    with session_scope() as s:
        return add_evidence(s, qw_id, actor="ani", now=T0 + timedelta(days=41), **kw)


def verify(qw_id, checklist=None, coordinator="Budi (Kominfo)"):
    with session_scope() as s:
        return verify_quick_win(
            s, qw_id, coordinator, ALL_TICKED if checklist is None else checklist, T0 + timedelta(days=42)
        )


def test_register_evidence_verify_then_the_guard_lets_the_region_through(program, tmp_path):
    qw_id = register()
    photo = tmp_path / "launch.jpg"
    photo.write_bytes(b"\xff\xd8launch day\x00" * 100)
    url_row = evidence(qw_id, url="https://bandung.go.id/launch.pdf", provided_sha256="AB" * 32)
    file_row = evidence(qw_id, file=photo)
    assert url_row.sha256 == hashlib.sha256(b"https://bandung.go.id/launch.pdf").hexdigest()
    assert url_row.provided_sha256 == "ab" * 32 and url_row.size_bytes is None
    assert (file_row.sha256, file_row.size_bytes) == (hashlib.sha256(photo.read_bytes()).hexdigest(), 1300)
    with pytest.raises(GuardFailed, match="no verified quick win"):
        move(BANDUNG, "quick_win_delivered", T0 + timedelta(days=42))
    qw = verify(qw_id)
    assert (qw.verified_by, qw.verified_at, qw.verification_checklist) == (
        "Budi (Kominfo)",
        T0 + timedelta(days=42),
        ALL_TICKED,
    )
    assert move(BANDUNG, "quick_win_delivered", T0 + timedelta(days=43)).status == "applied"
    with session_scope() as s:
        kpis = s.exec(select(QuickWinKPI).order_by(QuickWinKPI.id)).all()
        events = [e.event for e in s.exec(select(EventOutbox).order_by(EventOutbox.id)).all()]
        stored = s.get(QuickWin, qw_id)
    assert [(k.name, k.unit, k.target, k.actual) for k in kpis] == [
        ("services online", "count", 40, 12),
        ("uptime", "%", 99, None),
    ]
    assert (stored.dimension, stored.budget_idr, stored.start_date) == ("governance", 2_500_000_000, date(2017, 10, 1))
    assert events.count("smartcity.quickwin.evidence-added") == 2
    assert {
        "smartcity.quickwin.registered",
        "smartcity.quickwin.verified",
        "smartcity.region.quick_win_delivered",
    } <= set(events)
    listed = list_quick_wins_for(BANDUNG)
    assert listed[0]["verified_by"] == "Budi (Kominfo)" and len(listed[0]["evidence"]) == 2


def list_quick_wins_for(code):
    with session_scope() as s:
        return list_quick_wins(s, code)


REGISTER_REFUSALS = [
    (BANDUNG, {"kpis": [{"name": "uptime", "unit": "%", "target": None}]}, BadInput, "KPI 'uptime' has no target"),
    (BANDUNG, {"kpis": []}, BadInput, "kpis"),
    (BANDUNG, {"dimension": "tourism"}, BadInput, "unknown dimension 'tourism'"),
    (BANDUNG, {"budget_idr": -1}, BadInput, "budget: Input should be greater than or equal to 0"),
    (BANDUNG, {"title": "  "}, BadInput, "title"),
    ("9999", {}, NotFound, "region 9999: not in the registry"),
    (BOGOR, {}, DomainRefused, "region 3271 .* is nominated: a quick win is registered once the region reaches mas"),
]


@pytest.mark.parametrize("code,over,error,text", REGISTER_REFUSALS)
def test_register_refusals_change_nothing(program, code, over, error, text):
    before = dump_database(program)
    with pytest.raises(error, match=text):
        register(code, **over)
    assert dump_database(program) == before


def test_verify_and_evidence_refusals_change_nothing(program, tmp_path):
    qw_id = register()
    before = dump_database(program)
    refusals = [
        (lambda: verify(qw_id), DomainRefused, "not verified: no evidence attached"),
        (lambda: verify(999), NotFound, "quick win 999 does not exist"),
        (lambda: evidence(qw_id, url="https://user:pw@example.org/x"), BadInput, "must not carry credentials"),
        (lambda: evidence(qw_id, url="ftp://example.org/x"), BadInput, "http"),
        (lambda: evidence(qw_id, file=tmp_path / "missing.pdf"), BadInput, "no such file"),
        (lambda: evidence(qw_id, url="https://x.org/a", provided_sha256="abc"), BadInput, "64 hex digits"),
        (lambda: evidence(999, url="https://x.org/a"), NotFound, "quick win 999"),
    ]
    for call, error, text in refusals:
        with pytest.raises(error, match=text):
            call()
        assert dump_database(program) == before, text
    evidence(qw_id, url="https://bandung.go.id/launch.pdf")
    before = dump_database(program)
    unticked = {**ALL_TICKED, "launched_to_residents": False}
    refusals = [
        (lambda: verify(qw_id, unticked), DomainRefused, "checklist item\\(s\\) not ticked: launched_to_residents"),
        (lambda: verify(qw_id, {}), DomainRefused, "not ticked: evidence_attached, kpi_targets_set"),
        (lambda: verify(qw_id, {**ALL_TICKED, "photos": True}), BadInput, "unknown checklist item\\(s\\) photos"),
        (lambda: verify(qw_id, coordinator=" "), BadInput, "coordinator"),
        (lambda: move(BANDUNG, "quick_win_delivered", T0 + timedelta(days=50)), GuardFailed, "no verified"),
    ]
    for call, error, text in refusals:
        with pytest.raises(error, match=text):
            call()
        assert dump_database(program) == before, text
    verify(qw_id)
    before = dump_database(program)
    with pytest.raises(DomainRefused, match="already verified by Budi"):
        verify(qw_id, coordinator="Sari")
    assert dump_database(program) == before


@pytest.mark.parametrize(
    "text,expected",
    [
        ("uptime:%:99", ("uptime", "%", 99.0, None)),
        ("households connected : homes : 1_000 : 250", ("households connected", "homes", 1000.0, 250.0)),
    ],
)
def test_parse_kpi(text, expected):
    k = parse_kpi(text)
    assert (k.name, k.unit, k.target, k.actual) == expected


@pytest.mark.parametrize(
    "text,message",
    [
        ("uptime:%:", "has no target"),
        ("uptime:%", "expected name:unit:target"),
        ("uptime:%:high", "must be numbers"),
        ("uptime:%:inf", "finite"),
        (":%:3", "name"),
    ],
)
def test_parse_kpi_refusals(text, message):
    with pytest.raises(BadInput, match=message):
        parse_kpi(text)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """The real `main` wrapper, with these sub-apps mounted as deployments/cli/app.py will mount them."""
    from smartcity.deployments.cli import app as cli

    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_register_evidence_verify_list(program, capsys, tmp_path):
    base = [
        "quickwin",
        "register",
        BANDUNG,
        "--title",
        "Smart parking",
        "--dimension",
        "Economy",
        "--budget",
        "750000000",
        "--start",
        "2017-10-01",
        "--actor",
        "ani",
    ]
    code, _, err = run_cli(capsys, *base, "--kpi", "bays sensed:count:")
    assert (code, err.strip()) == (
        2,
        "error: --kpi 'bays sensed' has no target (name:unit:target[:actual][:lower|higher])",
    )
    code, out, _ = run_cli(capsys, *base, "--kpi", "bays sensed:count:500:120", "--json")
    qw_id = json.loads(out)["id"]
    assert code == 0
    code, _, err = run_cli(capsys, "quickwin", "verify", str(qw_id), "--coordinator", "Budi", "--all-checks")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "no evidence attached" in err
    proof = tmp_path / "report.pdf"
    proof.write_bytes(b"%PDF-1.4 parking")
    assert run_cli(capsys, "quickwin", "evidence", str(qw_id), "--file", str(proof), "--actor", "ani")[0] == 0
    code, _, err = run_cli(
        capsys, "quickwin", "verify", str(qw_id), "--coordinator", "Budi", "--check", "evidence_attached"
    )
    assert code == 1 and "not ticked: kpi_targets_set, budget_documented, launched_to_residents" in err
    code, out, _ = run_cli(capsys, "quickwin", "verify", str(qw_id), "--coordinator", "Budi", "--all-checks")
    assert (code, out.strip()) == (0, f"quick win {qw_id} verified by Budi")
    code, out, _ = run_cli(capsys, "quickwin", "list", BANDUNG, "--json")
    rows = json.loads(out)
    assert (rows[0]["dimension"], rows[0]["budget_idr"], rows[0]["kpis"][0]["actual"]) == ("economy", 750000000, 120)
    assert rows[0]["evidence"][0]["sha256"] == hashlib.sha256(proof.read_bytes()).hexdigest()
    code, out, _ = run_cli(capsys, "quickwin", "list", "kota bandung")  # a region by name, budget in rupiah
    assert code == 0 and "Rp 750.000.000 |" in out
