"""`smartcity program validate|show` and `cohort create --program`, as a coordinator types them."""

from __future__ import annotations

import json

from smartcity.deployments.cli import app as cli
from smartcity.models.programs.loading import SHIPPED_DIR, shipped
from tests.helpers import ROOT


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_says_valid_or_one_line_naming_file_key_and_line(capsys, tmp_path):
    code, out, _ = run(capsys, "program", "validate", str(SHIPPED_DIR / "smartcity-2018.toml"))
    assert code == 0 and "valid program smartcity-2018 (10 stages" in out
    bad = tmp_path / "bad.toml"
    text = (
        (SHIPPED_DIR / "default.toml")
        .read_text(encoding="utf-8")
        .replace('guard = "quick_win_verified"', 'guard = "qw"')
    )
    bad.write_text(text, encoding="utf-8")
    line = text.splitlines().index('guard = "qw"') + 1
    code, out, err = run(capsys, "program", "validate", str(bad))
    assert (code, out) == (2, "")
    assert err.strip() == (
        f"error: bad.toml: edges[5].guard (line {line}): unknown guard 'qw' (known: always, calendar_event_started, "
        "evaluation_scored, quick_win_verified, review_quorum_approved, within_cohort_quota)"
    )


def test_show_prints_the_stages_json_and_the_readme_diagram(capsys):
    code, out, _ = run(capsys, "program", "show", "--mermaid")
    assert code == 0 and out.strip() == shipped().mermaid()
    assert out.strip() in (ROOT / "README.md").read_text(encoding="utf-8")
    code, out, _ = run(capsys, "program", "show", "smartcity-2018", "--json")
    data = json.loads(out)
    assert [s["name"] for s in data["stages"]][:4] == ["nominated", "selected", "mou_signed", "decrees_issued"]
    assert data["evaluation"]["weights"] == {
        "baseline": 0.1,
        "output": 0.2,
        "outcome": 0.3,
        "impact": 0.3,
        "quick_win": 0.1,
    }
    code, _, err = run(capsys, "program", "show", "smartcity-2019")
    assert code == 2 and "no shipped program 'smartcity-2019'" in err


def test_cohort_create_takes_a_program_and_refuses_a_bad_one_changing_nothing(sqlite_url, capsys, tmp_path):
    code, out, err = run(
        capsys, "cohort", "create", "2018", "--year", "2018", "--quota", "50", "--program", "smartcity-2018"
    )
    assert code == 0 and "program smartcity-2018" in out, err
    bad = tmp_path / "loop.toml"
    bad.write_text((SHIPPED_DIR / "default.toml").read_text(encoding="utf-8").replace("final = true", "final = false"))
    code, _, err = run(capsys, "cohort", "create", "2019", "--year", "2019", "--quota", "25", "--program", str(bad))
    assert code == 2 and "loop.toml: stages: no final stage" in err
    code, out, _ = run(capsys, "cohort", "list", "--json")
    assert [c["name"] for c in json.loads(out)] == ["2018"]
