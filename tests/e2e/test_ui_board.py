"""The program board as a coordinator sees it: the Prefect UI's artifact page in headless Chromium."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from prefect import get_client

from smartcity.flows.cohort_report import cohort_report
from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.infra.db import session_scope
from tests.browser import ARTIFACTS, run_chromium
from tests.helpers import T0, cohort_with, load_registry

pytestmark = [pytest.mark.slow, pytest.mark.prefect_server]


def test_program_board_renders_in_the_prefect_ui(sqlite_url, prefect_api, chromium):
    load_registry()
    cohort_with(["3273", "7371", "9412"], name="ui-2017")
    for code in ("3273", "7371"):
        with session_scope() as s:
            change_stage(
                s, StageChange(region_code=code, to=Stage.selected, actor="ani", reason=None, cohort="ui-2017"), now=T0
            )
    with session_scope() as s:
        change_stage(
            s,
            StageChange(region_code="3273", to=Stage.drafting, actor="ani", reason=None, cohort="ui-2017"),
            now=T0 + timedelta(days=3),
        )
    asyncio.run(cohort_report("ui-2017", simulated=True, as_of=(T0 + timedelta(days=10)).isoformat()))

    async def board():
        async with get_client() as client:
            # /artifacts/{key}/latest answers with the collection's id; the UI page wants the artifact's.
            r = await client._client.post(
                "/artifacts/filter",
                json={"artifacts": {"key": {"any_": ["program-board"]}}, "sort": "CREATED_DESC", "limit": 1},
            )
            r.raise_for_status()
            return r.json()[0]

    artifact = asyncio.run(board())
    assert "Kota Bandung" in artifact["data"] and "Kabupaten Mimika" in artifact["data"]
    url = prefect_api.removesuffix("/api") + f"/artifacts/artifact/{artifact['id']}"
    dom = run_chromium(chromium, "--dump-dom", url, budget_ms=40000)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "prefect-ui-program-board.html").write_text(dom.stdout, encoding="utf-8")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for text in ("Kota Bandung", "Kota Makassar", "Kabupaten Mimika", "drafting"):
        assert text in dom.stdout, f"{text!r} not in the rendered UI page"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "prefect-ui-program-board.png"
    done = run_chromium(chromium, f"--screenshot={shot}", url, budget_ms=40000)
    assert done.returncode == 0 and shot.stat().st_size > 20_000, done.stderr[-2000:]
