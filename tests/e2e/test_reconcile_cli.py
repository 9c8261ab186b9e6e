"""`smartcity reconcile` and `smartcity status` as a coordinator runs them, with no Prefect server anywhere.

The commands run through the CLI's entry point in this process; the full CLI's `status --json`, compared with
the fast path's, runs as a real process."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlmodel import select

from smartcity.flows.drafting_setup import ACTOR as DRAFTING_SETUP_ACTOR
from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import EventOutbox
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.infra.db import session_scope
from tests.clirun import cli_env, smartcity_in_process
from tests.conftest import dump_database
from tests.helpers import ROOT, T0, cohort_with, load_registry

DEPOK, BANDUNG = "3276", "3273"
AS_OF = "2017-05-02T12:00+07:00"  # three hours after the selection (08:00 WIB)


def select_both_lose_depok() -> None:
    """Both selected with no Prefect API (events wait); only Bandung's drafting-setup ever runs."""
    load_registry()
    cohort_with([DEPOK, BANDUNG])
    for code in (DEPOK, BANDUNG):
        with session_scope() as s:
            change_stage(s, StageChange(region_code=code, to=Stage.selected, actor="ani", cohort="2017"), now=T0)
    with session_scope() as s:
        event_id = next(r.event_id for r in s.exec(select(EventOutbox)).all() if r.payload["region_code"] == BANDUNG)
        change_stage(
            s,
            StageChange(
                region_code=BANDUNG,
                to=Stage.drafting,
                actor=DRAFTING_SETUP_ACTOR,
                idempotency_key=f"drafting-setup:{event_id}",
            ),
            now=T0,
        )


def full_cli_status_json(db_url: str) -> str:
    """`status --json` from the full (typer) CLI, bypassing the stdlib fast path."""
    proc = subprocess.run(
        [sys.executable, "-m", "smartcity.deployments.cli.app", "status", "--json"],
        capture_output=True,
        text=True,
        env=cli_env(db_url),
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_status_flags_and_reconcile_repairs_a_lost_selection_once(sqlite_url):
    select_both_lose_depok()
    status = smartcity_in_process("status", db_url=sqlite_url)
    assert status.code == 0, status.err
    assert "stalled: 1 region(s) waiting more than 60 min" in status.out
    assert (
        f"  {DEPOK} Kota Depok" in status.out
        and "selected since 2017-05-02 08:00 WIB, waiting for drafting-setup" in status.out
    )
    assert BANDUNG not in status.out.split("stalled:")[1]
    fast = smartcity_in_process("status", "--json", db_url=sqlite_url).out
    assert fast == full_cli_status_json(sqlite_url) and set(json.loads(fast)) == {"cohorts", "regions"}
    stalled = json.loads(smartcity_in_process("status", "--stalled", "--json", db_url=sqlite_url).out)
    assert [(r["region_code"], r["follow_up"]) for r in stalled["stalled"]] == [(DEPOK, "drafting-setup")]

    before = dump_database(sqlite_url)
    dry = smartcity_in_process("reconcile", "--now", AS_OF, "--dry-run", "--json", db_url=sqlite_url)
    assert dry.code == 0, dry.err
    assert [(r["region_code"], r["outcome"]) for r in json.loads(dry.out)["repairs"]] == [(DEPOK, "would repair")]
    early = json.loads(
        smartcity_in_process("reconcile", "--now", "2017-05-02T08:30+07:00", "--json", db_url=sqlite_url).out
    )
    assert early["repairs"] == []  # 30 min after the selection: within the grace period
    assert dump_database(sqlite_url) == before

    done = smartcity_in_process("reconcile", "--now", AS_OF, "--json", db_url=sqlite_url)
    assert done.code == 0, done.err
    assert [(r["region_code"], r["outcome"]) for r in json.loads(done.out)["repairs"]] == [(DEPOK, "repaired")]
    assert "events wait" in done.err or "outbox" in done.err  # no Prefect API: said once, on stderr
    again = smartcity_in_process("reconcile", "--now", AS_OF, db_url=sqlite_url)
    assert (again.code, again.out.splitlines()[0]) == (
        0,
        "repaired 0 region(s) waiting more than 60 min as of 2017-05-02T05:00:00+00:00",
    )
    status = smartcity_in_process("status", "--cohort", "2017", db_url=sqlite_url)
    assert "stalled" not in status.out and f"  {DEPOK} Kota Depok" in status.out and "drafting" in status.out


def test_bad_now_is_one_line_exit_2_and_changes_nothing(sqlite_url):
    select_both_lose_depok()
    before = dump_database(sqlite_url)
    for bad in ("yesterday", "2017-05-02T12:00"):  # not ISO; no UTC offset
        done = smartcity_in_process("reconcile", "--now", bad, db_url=sqlite_url)
        assert done.code == 2 and done.out == "" and len(done.err.strip().splitlines()) == 1, done
        assert "--now" in done.err
    assert dump_database(sqlite_url) == before
