"""`smartcity evaluation import|show` as a coordinator runs them (the console script's main, in this process),
and the `evaluation-<year>` artifact on a real Prefect server. Every score here is simulated, and imported
with --simulated."""

from __future__ import annotations

import json

import pytest

from tests.clirun import Done, smartcity_in_process
from tests.conftest import dump_database
from tests.helpers import cohort_with, load_registry

pytestmark = pytest.mark.slow

BANDUNG, MAKASSAR, BOGOR = "3273", "7371", "3271"
HEADER = "year,cohort,bps_code,dimension,score,source"
SCORES = {  # baseline, output, outcome, impact, quick_win in 2019
    BANDUNG: (3.0, 3.2, 2.8, 3.5, 4.0),  # 3.23 with the Sleman weights
    MAKASSAR: (4.0, 3.0, 3.0, 3.0, 3.0),  # 3.1
    BOGOR: (3.0, 3.0, 3.0, 3.0, 4.0),  # 3.1: ties with Makassar
}
DIMS = ("baseline", "output", "outcome", "impact", "quick_win")


def sc(*args: str, db_url: str) -> Done:
    return smartcity_in_process(*args, db_url=db_url)


def scores_file(tmp_path, name="scores.csv", change=None):
    lines = [
        f"2019,2017,{code},{dim},{value},simulated"
        for code, values in SCORES.items()
        for dim, value in zip(DIMS, change(code, values) if change else values, strict=True)
    ]
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def cohort(sqlite_url):
    load_registry()
    cohort_with([BANDUNG, MAKASSAR, BOGOR])
    return sqlite_url


def test_import_all_or_nothing_then_show_the_ranked_index(cohort, tmp_path):
    db = cohort
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"{HEADER}\n2019,2017,{BANDUNG},baseline,3\n2019,2017,9999,baseline,3\n2019,2017,{BANDUNG},impact,7\n"
    )
    before = dump_database(db)
    done = sc("evaluation", "import", str(bad), "--actor", "ani", db_url=db)
    assert done.code == 2 and done.out == ""
    assert done.err.splitlines() == [
        "error: bad.csv: 2 error(s), nothing imported",
        "  line 3: unknown region '9999'",
        "  line 4: score 7 is outside 0..4",
    ]
    assert dump_database(db) == before

    path = scores_file(tmp_path)
    done = sc("evaluation", "import", path, "--actor", "ani", "--simulated", db_url=db)
    assert done.code == 0, done.err
    assert done.out.strip() == "scores.csv: 15 score(s): 15 added, 0 changed, 0 unchanged (simulated)"
    again = sc("evaluation", "import", path, "--actor", "ani", "--simulated", "--json", db_url=db)
    assert again.code == 0 and json.loads(again.out)["unchanged"] == 15

    shown = sc("evaluation", "show", "--year", "2019", db_url=db)
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[0] == "# Implementation evaluation 2019" and "SIMULATED DATA" in lines[2]
    assert "Weights (monev-2019): Baseline 10%, Output 20%, Outcome 30%, Impact 30%, Quick Win 10%" in shown.out
    ranks = [line.split(" | ")[:4] for line in lines if line.startswith("| ") and line[2].isdigit()]
    assert ranks == [
        ["| 1", BANDUNG, "Kota Bandung", "3.23"],
        ["| 2", BOGOR, "Kota Bogor", "3.10"],
        ["| 2", MAKASSAR, "Kota Makassar", "3.10"],
    ]
    data = json.loads(sc("evaluation", "show", "--year", "2019", "--cohort", "2017", "--json", db_url=db).out)
    assert [(r["bps_code"], r["index"], r["rank"], r["simulated"]) for r in data[0]["rows"]] == [
        (BANDUNG, 3.23, 1, True),
        (BOGOR, 3.1, 2, True),
        (MAKASSAR, 3.1, 2, True),
    ]
    nope = sc("evaluation", "show", "--year", "2019", "--cohort", "nope", db_url=db)
    assert nope.code == 2 and nope.err.strip() == "error: cohort 'nope' does not exist (see `smartcity cohort list`)"


def test_a_changed_score_needs_a_reason_and_the_audit_chain_still_verifies(cohort, tmp_path):
    db = cohort
    assert sc("evaluation", "import", scores_file(tmp_path), "--actor", "ani", db_url=db).code == 0
    changed = scores_file(
        tmp_path, "v2.csv", change=lambda code, v: (*v[:3], 3.9, v[4]) if code == MAKASSAR else v
    )  # Makassar's impact 3.0 -> 3.9
    refused = sc("evaluation", "import", changed, "--actor", "ani", db_url=db)
    assert refused.code == 2 and refused.err.splitlines()[1] == (
        "  line 10: 7371 2019 impact: 3 (simulated) [simulated] is already recorded; changing it to 3.9 needs a "
        "reason (--reason)"
    )
    done = sc("evaluation", "import", changed, "--actor", "ani", "--reason", "assessor's correction", db_url=db)
    assert done.code == 0 and "1 changed" in done.out, done.err
    data = json.loads(sc("evaluation", "show", "--year", "2019", "--json", db_url=db).out)
    assert [(r["bps_code"], r["rank"]) for r in data[0]["rows"]] == [(MAKASSAR, 1), (BANDUNG, 2), (BOGOR, 3)]
    verify = sc("audit", "verify", db_url=db)
    assert verify.code == 0, verify.err + verify.out


@pytest.mark.prefect_server
def test_the_evaluation_artifact_on_a_real_prefect_server(cohort, tmp_path, prefect_api):
    from prefect import flow, get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from smartcity.tasks.evaluation import publish_evaluation

    @flow(name="publish-evaluation-test")
    def publish() -> str:
        return publish_evaluation(2019)

    assert sc("evaluation", "import", scores_file(tmp_path), "--actor", "ani", "--simulated", db_url=cohort).code == 0
    assert publish() == "evaluation-2019"
    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["evaluation-2019"])), limit=1
        )
    assert artifact.type == "markdown" and "SIMULATED DATA" in (artifact.description or "")
    text = str(artifact.data)
    assert text.startswith("# Implementation evaluation 2019\n\n**SIMULATED DATA")
    assert "| 1 | 3273 | Kota Bandung | 3.23 | 3.00 | 3.20 | 2.80 | 3.50 | 4.00 | simulated |" in text
    assert "Weights (monev-2019): Baseline 10%" in text
