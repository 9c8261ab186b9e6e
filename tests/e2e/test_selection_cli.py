"""`smartcity indicators import` and `smartcity cohort select|whatif` as a coordinator runs them, through the
CLI's entry point in this process (tests/e2e/test_exit_codes.py runs a sample as real processes)."""

from __future__ import annotations

import csv
import json

import pytest

from smartcity.models.selection.scoring import DEFAULT_POLICY_PATH, ILLUSTRATIVE_INDICATORS_PATH
from tests.clirun import Done, smartcity_in_process
from tests.conftest import dump_database
from tests.helpers import cohort_with, load_registry, phase1_codes


def sc(*args: str, db_url: str) -> Done:
    """`smartcity ARGS`, no Prefect server."""
    return smartcity_in_process(*args, db_url=db_url)


@pytest.fixture
def nominated(db_url):
    """Registry and the 40 illustrative nominees in cohort 2017 (quota 25); indicators not yet imported."""
    load_registry()
    with ILLUSTRATIVE_INDICATORS_PATH.open(encoding="utf-8") as fh:
        codes = sorted({row["bps_code"] for row in csv.DictReader(fh)})
    cohort_with(codes, name="2017", quota=25)
    return db_url


def policy_file(tmp_path, name: str, edit) -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(edit(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")), encoding="utf-8")
    return str(path)


@pytest.mark.slow
def test_import_dry_run_whatif_and_bad_policy(nominated, tmp_path):
    db = nominated
    done = sc("indicators", "import", str(ILLUSTRATIVE_INDICATORS_PATH), "--json", db_url=db)
    assert done.code == 0, done.err
    assert json.loads(done.out)["inserted"] == 280 and json.loads(done.out)["illustrative"]

    before = dump_database(db)
    dry = sc("cohort", "select", "2017", "--dry-run", db_url=db)
    assert dry.code == 0, dry.err
    assert "ILLUSTRATIVE (simulated) indicator values" in dry.out.splitlines()[0]
    bandung = next(line for line in dry.out.splitlines() if "Kota Bandung" in line)
    assert bandung.split()[:2] == ["2", "3273"] and "Jawa Barat" in bandung and " yes " in bandung
    depok = next(line for line in dry.out.splitlines() if "Kota Depok" in line)
    assert depok.rstrip().endswith("province_cap") and " no " in depok
    assert dump_database(db) == before

    no_cap = policy_file(
        tmp_path,
        "nocap",
        lambda t: t.replace("max_per_province = 6", "").replace('"selection_default_2017"', '"no_province_cap"'),
    )
    flips = sc("cohort", "whatif", "2017", "--policy", no_cap, "--json", db_url=db)
    assert flips.code == 0, flips.err
    data = json.loads(flips.out)
    assert (data["policy_a"], data["policy_b"]) == ("selection_default_2017", "no_province_cap")
    assert {(f["bps_code"], f["selected_a"], f["selected_b"]) for f in data["flips"]} == {
        ("3276", False, True),
        ("3404", True, False),
    }  # Depok in without the cap, Sleman (last place) out
    text = sc("cohort", "whatif", "2017", "--policy", no_cap, db_url=db).out
    assert "2 region(s) flip" in text and "Kota Depok" in text
    same = sc("cohort", "whatif", "2017", "--policy", str(DEFAULT_POLICY_PATH), db_url=db)
    assert "0 region(s) flip" in same.out

    bad = policy_file(tmp_path, "bad", lambda t: t.replace("quota = 25", 'quota = "25"'))
    for args in (["select", "2017", "--policy", bad, "--actor", "ani"], ["whatif", "2017", "--policy", bad]):
        refused = sc("cohort", *args, db_url=db)
        lines = refused.err.strip().splitlines()
        assert refused.code == 2 and len(lines) == 1 and "bad.toml" in lines[0] and "quota" in lines[0], refused
        assert "Traceback" not in refused.err
    assert dump_database(db) == before


@pytest.mark.slow
def test_select_applies_through_the_fallback_and_a_rerun_records_nothing(nominated):
    db = nominated
    assert sc("indicators", "import", str(ILLUSTRATIVE_INDICATORS_PATH), db_url=db).code == 0
    no_actor = sc("cohort", "select", "2017", db_url=db)
    assert no_actor.code == 2 and "--actor" in no_actor.err
    done = sc("cohort", "select", "2017", "--actor", "ani", "--json", db_url=db)
    assert done.code == 0, done.err
    summary = json.loads(done.out)
    assert summary["applied"] == 40 and set(summary["selected"]) == set(phase1_codes())
    assert "outbox" in done.err  # the documented fallback says where the events wait
    status = json.loads(sc("status", "--json", db_url=db).out)
    assert status["cohorts"] == {"2017": {"selected": 25, "not_selected": 15}}
    before = dump_database(db)
    again = sc("cohort", "select", "2017", "--actor", "ani", db_url=db)
    assert again.code == 0 and "0 change(s), 40 already recorded" in again.out
    assert dump_database(db) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    ("edit", "rule"),
    [
        (
            lambda t: t.replace("min_per_island_group = 1 ", "min_per_island_group = 5 "),
            "the island-group floors add up to 30 (Sumatra 5, Java 5, Bali and Nusa Tenggara 5, Kalimantan 5, "
            "Sulawesi 5, Papua 5), more than the quota of 25",
        ),
        (
            lambda t: t.replace("[weights]", "[island_group_floors]\nMaluku = 1\n\n[weights]"),
            "the island-group floor of 1 for Maluku cannot be met: only 0 eligible nominee(s) in Maluku",
        ),
        (
            lambda t: t.replace("max_per_province = 6", "max_per_province = 1").replace(
                "[weights]", "[island_group_floors]\nPapua = 2\n\n[weights]"
            ),
            "the island-group floor of 2 for Papua cannot be met under the province cap of 1: its eligible nominees "
            "are in 1 province(s), which allow at most 1",
        ),
    ],
    ids=["floors-over-quota", "no-nominee", "cap-too-tight"],
)
def test_infeasible_floors_are_refused_with_one_line(nominated, tmp_path, edit, rule):
    db = nominated
    assert sc("indicators", "import", str(ILLUSTRATIVE_INDICATORS_PATH), db_url=db).code == 0
    infeasible = policy_file(tmp_path, "floors", edit)
    before = dump_database(db)
    for args in (
        ["select", "2017", "--policy", infeasible, "--dry-run"],
        ["select", "2017", "--policy", infeasible, "--actor", "ani"],
        ["whatif", "2017", "--policy", infeasible],
    ):
        refused = sc("cohort", *args, db_url=db)
        assert refused.code == 2, refused
        assert refused.err.strip().splitlines() == [f"error: policy 'selection_default_2017': {rule}"], refused
        assert refused.out == ""
    assert dump_database(db) == before
