"""No way around the review: every path to masterplan_completed is refused without an approved round,
and the review commands work end to end through the CLI."""

from __future__ import annotations

import json

import pytest

from smartcity.models.core.errors import GuardFailed
from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage, find_enrollment
from smartcity.models.infra.db import session_scope
from smartcity.models.reviews.ops import add_reviewer
from tests.clirun import Done, smartcity_in_process
from tests.conftest import dump_database
from tests.helpers import T0, cohort_with, load_registry, phase1_codes

BANDUNG = "3273"
APPROVE = "governance=4,branding=3,economy=4,living=5,society=4,environment=3"


def reviews_cli(*args: str, db_url: str) -> Done:
    """`smartcity ARGS` through the CLI's entry point in this process (what the commands do, not the process:
    tests/e2e/test_exit_codes.py runs a sample as real processes)."""
    return smartcity_in_process(*args, db_url=db_url)


@pytest.fixture
def drafting(db_url):
    load_registry()
    cohort_with(phase1_codes())
    for to in (Stage.selected, Stage.drafting):
        with session_scope() as s:
            change_stage(s, StageChange(region_code=BANDUNG, to=to, actor="ani", cohort="2017"), now=T0)
    with session_scope() as s:
        add_reviewer(s, name="Ir. Hammam", institution="BPPT", province="DKI Jakarta", expertise="economy", now=T0)
    done = reviews_cli(
        "reviewers",
        "add",
        "--name",
        "Dr. Ninok",
        "--institution",
        "Universitas Multimedia Nusantara",
        "--province",
        "banten",
        "--expertise",
        "governance,branding",
        db_url=db_url,
    )
    assert done.code == 0 and "reviewer 2 added: Dr. Ninok (Universitas Multimedia Nusantara, Banten" in done.out
    return db_url


def assert_every_path_refused(url: str, why: str) -> None:
    before = dump_database(url)
    with pytest.raises(GuardFailed, match=f"guard review_quorum_approved: {why}"):
        with session_scope() as s:
            change_stage(
                s, StageChange(region_code=BANDUNG, to=Stage.masterplan_completed, actor="ani", cohort="2017"), now=T0
            )
    region = smartcity_in_process(
        "region", "advance", BANDUNG, "--to", "masterplan_completed", "--actor", "ani", db_url=url
    )
    assert region.code == 1 and why in region.err, region
    cohort = smartcity_in_process(
        "cohort", "advance", "2017", "--to", "masterplan_completed", "--actor", "ani", "--json", db_url=url
    )
    assert cohort.code == 1 and json.loads(cohort.out)["applied"] == 0, cohort
    assert any(why in r for r in json.loads(cohort.out)["refused"])
    assert dump_database(url) == before
    with session_scope() as s:
        assert find_enrollment(s, BANDUNG).stage == "drafting"


@pytest.mark.slow
def test_no_path_reaches_masterplan_completed_without_an_approved_round(drafting):
    assert_every_path_refused(drafting, "no masterplan review round yet")
    assert reviews_cli("masterplan", "submit", BANDUNG, "--version", "v1", "--actor", "ani", db_url=drafting).code == 0
    reviews_cli(
        "review", "submit", BANDUNG, "--reviewer", "1", "--scores", APPROVE, "--decision", "approve", db_url=drafting
    )
    with pytest.raises(GuardFailed, match="review round 1 is open, not approved"):  # one approval is not a quorum
        with session_scope() as s:
            change_stage(
                s, StageChange(region_code=BANDUNG, to=Stage.masterplan_completed, actor="ani", cohort="2017"), now=T0
            )
    done = reviews_cli(
        "review",
        "submit",
        BANDUNG,
        "--reviewer",
        "2",
        "--scores",
        APPROVE,
        "--decision",
        "revise",
        "--comment",
        "mobility plan missing",
        db_url=drafting,
    )
    assert done.code == 0 and "round revision_requested" in done.out and "region now drafting" in done.out
    assert_every_path_refused(drafting, "review round 1 is revision_requested, not approved")


def test_review_commands_end_to_end(drafting):
    url = drafting
    done = reviews_cli("masterplan", "submit", BANDUNG, "--version", "v1", "--actor", "ani", db_url=url)
    assert done.code == 0 and "review round 1" in done.out and "#1 Ir. Hammam" in done.out, done
    pending = json.loads(reviews_cli("reviews", "pending", "--json", db_url=url).out)
    assert sorted(h["reviewer_id"] for h in pending) == [1, 2]
    before = dump_database(url)
    for args, code, text in [
        (
            ["--scores", APPROVE.replace("environment=3", "environment=9"), "--decision", "approve"],
            2,
            "environment: score must be 1..5 (got 9)",
        ),
        (["--scores", APPROVE + ",mobility=3", "--decision", "approve"], 2, "unknown rubric dimension(s) mobility"),
    ]:
        bad = reviews_cli("review", "submit", BANDUNG, "--reviewer", "1", *args, db_url=url)
        assert bad.code == code and text in bad.err and len(bad.err.strip().splitlines()) == 1, (args, bad)
    assert dump_database(url) == before
    for reviewer in ("1", "2"):
        done = reviews_cli(
            "review",
            "submit",
            BANDUNG,
            "--reviewer",
            reviewer,
            "--scores",
            APPROVE,
            "--decision",
            "approve",
            "--note",
            "economy=good local data",
            db_url=url,
        )
        assert done.code == 0, done
    assert "round approved" in done.out and "region now masterplan_completed" in done.out
    again = reviews_cli(
        "review", "submit", BANDUNG, "--reviewer", "1", "--scores", APPROVE, "--decision", "approve", db_url=url
    )
    assert again.code == 1 and "no open review round (round 1 is approved)" in again.err
    rounds = json.loads(reviews_cli("reviews", "rounds", BANDUNG, "--json", db_url=url).out)
    assert [(r["round_no"], r["status"], len(r["reviews"])) for r in rounds] == [(1, "approved", 2)]
    assert {v["source"] for v in rounds[0]["reviews"]} == {"cli"}
    listed = json.loads(reviews_cli("reviewers", "list", "--json", db_url=url).out)
    assert [r["open_reviews"] for r in listed] == [0, 0]
    bad = reviews_cli("reviewers", "deactivate", "2", "--reason", "", "--actor", "ani", db_url=url)
    assert bad.code == 2 and bad.err.strip().count("\n") == 0 and "a reason and an actor" in bad.err, bad
    off = reviews_cli("reviewers", "deactivate", "2", "--reason", "left UMN", "--actor", "ani", db_url=url)
    assert off.code == 0 and "reviewer 2 (Dr. Ninok) is inactive" in off.out, off
    listed = json.loads(reviews_cli("reviewers", "list", "--json", db_url=url).out)
    assert [r["active"] for r in listed] == [True, False]
    nobody = reviews_cli("reviewers", "contact", "1", "--contact-id", "999", db_url=url)
    assert nobody.code != 0 and nobody.err.strip().count("\n") == 0 and "contact 999 does not exist" in nobody.err
