"""Every run says what it is, read back from a real Prefect server: per-region runs carry `region:`, `stage:`,
`province:` and `cohort:` (looked up when not given), `remind` runs are named by their as-of time, and a
coordinator's typo creates no run at all."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage, find_enrollment
from smartcity.models.infra.db import session_scope
from smartcity.models.reviews.ops import add_reviewer, submit_masterplan, submit_review
from smartcity.models.reviews.tables import MasterplanRound
from tests.clirun import smartcity_in_process
from tests.helpers import T0, cohort_with, load_registry

pytestmark = [pytest.mark.slow, pytest.mark.prefect_server]

REVIEW = {
    "scores": {d: {"score": 4} for d in ("governance", "branding", "economy", "living", "society", "environment")},
    "decision": "approve",
    "comment": "",
}


async def run_named(name: str):
    """The latest flow run called `name`."""
    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
    assert runs, f"no run named {name}"
    return max(runs, key=lambda r: r.created)


async def run_count() -> int:
    """Every flow run on the server (a page of them would stop counting once the session's server holds more)."""
    async with get_client() as client:
        return await client.count_flow_runs()


def tags_of(name: str) -> set[str]:
    return set(asyncio.run(run_named(name)).tags)


def test_per_region_runs_carry_region_stage_province_and_cohort(sqlite_url, prefect_api):
    from smartcity.flows.advance_stage import advance_stage
    from smartcity.flows.close_region_file import close_region_file
    from smartcity.flows.drafting_setup import drafting_setup
    from smartcity.flows.quick_win_tracking import quick_win_tracking
    from smartcity.flows.review_round import review_round

    load_registry()
    cohort_with(["3273", "7371"], name="2017")
    with session_scope() as s:
        for name, institution, province in (("Ir. Hammam", "BPPT", "DKI Jakarta"), ("Dr. Ninok", "UMN", "Banten")):
            add_reviewer(s, name=name, institution=institution, province=province, expertise="economy", now=T0)
    # No cohort given: the run looks up the region's open enrollment for its tag.
    asyncio.run(advance_stage("3273", Stage.selected, "ani", at=T0))
    asyncio.run(drafting_setup("3273", event_id="e-1", at=(T0 + timedelta(days=1)).isoformat()))
    with session_scope() as s:
        submit_masterplan(s, "3273", "v1", "ani", T0 + timedelta(days=20), n=2)
    for reviewer in (1, 2):
        with session_scope() as s:
            submit_review(
                s,
                region_code="3273",
                reviewer_id=reviewer,
                submission=REVIEW,
                source="cli",
                now=T0 + timedelta(days=25),
            )
    asyncio.run(review_round("3273", round_no=1))  # the round is closed: the run only labels itself and ends
    for stage in (Stage.selected, Stage.drafting):
        with session_scope() as s:
            change_stage(s, StageChange(region_code="7371", to=stage, actor="ani", cohort="2017"), now=T0)
    with session_scope() as s:
        s.add(
            MasterplanRound(enrollment_id=find_enrollment(s, "7371").id, round_no=1, status="approved", submitted_at=T0)
        )
    with session_scope() as s:
        change_stage(
            s, StageChange(region_code="7371", to=Stage.masterplan_completed, actor="ani"), now=T0 + timedelta(days=30)
        )
    asyncio.run(quick_win_tracking("7371", event_id="e-2", at=(T0 + timedelta(days=30)).isoformat()))
    refused = asyncio.run(close_region_file("7371", event_id="e-3", return_state=True))

    bandung = {"region:3273", "province:jawa-barat", "cohort:2017"}
    makassar = {"region:7371", "province:sulawesi-selatan", "cohort:2017"}
    assert bandung | {"stage:selected"} <= tags_of("advance-kota-bandung-to-selected")
    assert bandung | {"stage:drafting"} <= tags_of("drafting-setup-3273")
    assert bandung | {"stage:drafting", "round:1"} <= tags_of("review-3273-round-1")
    assert makassar | {"stage:masterplan_completed"} <= tags_of("quick-win-tracking-7371")
    # A rule's refusal (the file stays open until delivery) is still a run on record, Failed and labelled.
    assert refused.is_failed()
    assert makassar | {"stage:quick_win_delivered"} <= tags_of("close-region-file-7371")


def test_a_region_enrolled_twice_is_tagged_with_its_open_cohort(sqlite_url, prefect_api):
    from smartcity.flows.advance_stage import advance_stage

    load_registry()
    cohort_with(["3273"], name="2017")
    with session_scope() as s:
        change_stage(s, StageChange(region_code="3273", to=Stage.not_selected, actor="ani", cohort="2017"), now=T0)
    from smartcity.models.core.program import create_cohort, nominate

    with session_scope() as s:
        create_cohort(s, name="2018", year=2018, quota=5, now=T0 + timedelta(days=300))
        nominate(s, cohort="2018", codes=["3273"], now=T0 + timedelta(days=300))
    asyncio.run(advance_stage("3273", Stage.selected, "ani", at=T0 + timedelta(days=310)))
    tags = tags_of("advance-kota-bandung-to-selected")
    assert "cohort:2018" in tags and "cohort:2017" not in tags


def test_remind_runs_are_named_by_their_as_of_time_and_zone(sqlite_url, prefect_api):
    load_registry()
    done = smartcity_in_process(
        "remind", "--now", "2017-09-18T08:00+08:00", db_url=sqlite_url, PREFECT_API_URL=prefect_api
    )
    assert done.code == 0, done.err
    run = asyncio.run(run_named("deadline-sweep-2017-09-18-0800-wita"))
    assert {"deadlines", "zone:wita"} <= set(run.tags)


@pytest.mark.parametrize(
    "args",
    [
        ("region", "advance", "9999", "--to", "selected", "--actor", "ani"),  # no such region
        ("region", "advance", "3273", "--to", "selected", "--actor", "ani", "--cohort", "2071"),  # no such cohort
        ("region", "advance", "3273", "--to", "selectd", "--actor", "ani"),  # no such stage
        ("cohort", "advance", "2071", "--to", "selected", "--actor", "ani"),
        ("cohort", "select", "2071", "--actor", "ani"),
    ],
    ids=["region", "region-cohort", "stage", "cohort-advance", "cohort-select"],
)
def test_a_typo_is_refused_before_any_run_is_created(sqlite_url, prefect_api, args):
    load_registry()
    cohort_with(["3273"], name="2017")
    before = asyncio.run(run_count())
    done = smartcity_in_process(*args, db_url=sqlite_url, PREFECT_API_URL=prefect_api)
    assert done.code == 2, (done.code, done.err)
    assert len(done.err.strip().splitlines()) == 1 and "Traceback" not in done.err
    assert asyncio.run(run_count()) == before


def test_the_run_form_refuses_a_malformed_region_or_stage_before_a_run_exists(sqlite_url, prefect_api):
    from prefect.exceptions import PrefectHTTPStatusError

    from smartcity.deployments.runtime.registry import spec, to_runner_deployment

    deployment = to_runner_deployment(spec("advance-stage"))  # built in sync code: Prefect's sync form

    async def scenario() -> tuple[int, int]:
        deployment_id = await deployment.apply()
        before = await run_count()
        async with get_client() as client:
            # Stages are the cohort's program's names, so the form checks their shape; a well-formed unknown name
            # is refused by the CLI before any run (tests/e2e/test_program_village.py) and by the run itself.
            for bad in ({"region_code": "bandung", "to": "selected"}, {"region_code": "3273", "to": "Selected!"}):
                with pytest.raises(PrefectHTTPStatusError):
                    await client.create_flow_run_from_deployment(deployment_id, parameters={**bad, "actor": "ani"})
        return before, await run_count()

    before, after = asyncio.run(scenario())
    assert after == before


def test_an_unknown_region_from_the_form_ends_cancelled_not_failed(sqlite_url, prefect_api):
    """A well-formed code that is not in the registry passes the form; the run changes nothing and is grey."""
    from smartcity.flows.advance_stage import advance_stage

    load_registry()
    state = asyncio.run(advance_stage("9999", Stage.selected, "ani", return_state=True))
    assert state.is_cancelled() and "not in the registry" in (state.message or "")
    assert asyncio.run(run_named("advance-9999-to-selected")).state.is_cancelled()
