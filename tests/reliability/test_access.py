"""Access: against a Prefect server that requires an auth string, the CLI with the right string runs a stage
change as a flow run; without it (or with a wrong one) it says so in one line and writes nothing, and
`smartcity serve` refuses too. Every change names its actor, and the history shows it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.clirun import smartcity, smartcity_in_process
from tests.helpers import cohort_with, load_registry, phase1_codes
from tests.prefect_server import prefect_server
from tests.reliability.support import fingerprint, one_line_error

pytestmark = [pytest.mark.slow, pytest.mark.prefect_server]

AUTH = "admin:s3cret"


@pytest.fixture(scope="module")
def locked_api(tmp_path_factory) -> Iterator[str]:
    """A Prefect server of its own, started with PREFECT_SERVER_API_AUTH_STRING."""
    with prefect_server(
        tmp_path_factory.mktemp("locked-prefect"), extra_env={"PREFECT_SERVER_API_AUTH_STRING": AUTH}
    ) as api:
        yield api


def test_auth_string_gates_every_stage_change(sqlite_url, locked_api):
    load_registry()
    codes = phase1_codes()[:3]
    cohort_with(codes, name="2017")
    before = fingerprint(sqlite_url)

    def advance(actor: str, *extra: str, run=smartcity_in_process, **auth: str):
        """`smartcity region advance` of the first region against the locked server, with `auth` env: through
        the CLI's entry point in this process, or with `run=smartcity` as a real process."""
        return run(
            "region",
            "advance",
            codes[0],
            "--to",
            "selected",
            "--actor",
            actor,
            *extra,
            db_url=sqlite_url,
            PREFECT_API_URL=locked_api,
            **auth,
        )

    refused = [
        advance("ani"),
        advance("ani", PREFECT_API_AUTH_STRING="admin:wrong"),
        smartcity("serve", db_url=sqlite_url, PREFECT_API_URL=locked_api, timeout=120),
    ]
    for done in refused:
        assert done.code == 1, done
        assert "refused our credentials" in one_line_error(done), done.err
        assert len(done.err.strip().splitlines()) == 1, done.err
        assert fingerprint(sqlite_url) == before

    blank = advance("  ", PREFECT_API_AUTH_STRING=AUTH)
    assert blank.code == 2 and "--actor" in one_line_error(blank)
    assert fingerprint(sqlite_url) == before

    done = advance(" ani ", "--json", run=smartcity, PREFECT_API_AUTH_STRING=AUTH)
    assert done.code == 0, done.err
    history = json.loads(smartcity_in_process("region", "history", codes[0], "--json", db_url=sqlite_url).out)
    assert [(h["to"], h["actor"]) for h in history] == [("selected", "ani")]
    run_id = history[0]["flow_run_id"]
    assert run_id, "the change did not run as a flow run"
    headers = {"Authorization": "Basic " + base64.b64encode(AUTH.encode()).decode()}
    run = httpx.get(f"{locked_api}/flow_runs/{run_id}", headers=headers, timeout=10)
    assert run.status_code == 200 and run.json()["state"]["type"] == "COMPLETED", run.text
    assert httpx.get(f"{locked_api}/flow_runs/{run_id}", timeout=10).status_code == 401
    print(
        f"checked: {len(refused) + 1} refused commands wrote nothing; 1 change ran as flow run {run_id} "
        f"by actor {history[0]['actor']!r}"
    )
