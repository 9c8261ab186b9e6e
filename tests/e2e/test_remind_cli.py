"""`smartcity remind` as a coordinator runs it: a future --now is refused unless simulated, and when the sweep
runs as a flow on a real Prefect server the terminal shows our lines only (Prefect's logs go to the UI)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.infra.db import session_scope
from smartcity.models.notifications.outbox import add_contact
from tests.clirun import cli_env, smartcity_in_process
from tests.conftest import dump_database
from tests.helpers import ROOT, T0, cohort_with, load_registry

pytestmark = pytest.mark.slow
T14 = "2017-05-10T08:00+07:00"  # the T-14 rung of Bandung's bimtek-1


def bandung_drafting(pic_url: str | None = None) -> None:
    load_registry()
    cohort_with(["3273"])
    if pic_url:
        with session_scope() as s:
            add_contact(s, role="pic", region_code="3273", name="PIC", url=pic_url, language="id", now=T0)
    for to in (Stage.selected, Stage.drafting):
        with session_scope() as s:
            change_stage(s, StageChange(region_code="3273", to=to, actor="ani"), now=T0)


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="minutes")


def test_a_future_now_is_refused_unless_simulated(sqlite_url):
    """Through the CLI's entry point in this process (the flow test below runs real processes)."""
    bandung_drafting()
    before = dump_database(sqlite_url)
    future = iso(datetime.now(UTC) + timedelta(days=30))
    refused = smartcity_in_process("remind", "--now", future, db_url=sqlite_url)
    assert refused.code == 2 and refused.out == "", refused
    [line] = refused.err.splitlines()
    assert "ahead of the real clock" in line and "--simulate" in line
    assert dump_database(sqlite_url) == before  # nothing was sent, enqueued or moved
    dry = smartcity_in_process("remind", "--now", future, "--dry-run", db_url=sqlite_url)  # looking sends nothing
    assert dry.code == 0 and "would enqueue" in dry.out, dry
    soon = smartcity_in_process("remind", "--now", iso(datetime.now(UTC) + timedelta(minutes=2)), db_url=sqlite_url)
    assert soon.code == 0 and "simulat" not in soon.err, soon  # clock skew is no reason to refuse
    meant = smartcity_in_process("remind", "--now", future, "--simulate", db_url=sqlite_url)
    assert meant.code == 0 and "reminder(s) enqueued" in meant.out, meant
    assert meant.err.splitlines()[0].startswith("warning: simulating: --now ")
    assert smartcity_in_process("remind", "--now", T14, db_url=sqlite_url).code == 0  # a past instant needs no flag


#: `smartcity remind` in a process whose Prefect logging was set up before the command ran (an embedding
#: process, the demo, a harness): the console level must still hold.
PREFECT_FIRST = "import sys, prefect.main\nfrom smartcity.deployments.cli.entry import main\nsys.exit(main())\n"


@pytest.mark.prefect_server
@pytest.mark.parametrize("prefect_first", [False, True], ids=["cli", "prefect-configured-first"])
def test_remind_as_a_flow_prints_only_our_lines(sqlite_url, prefect_api, prefect_first):
    bandung_drafting("json://127.0.0.1:9/pic")
    env = cli_env(
        sqlite_url,
        PREFECT_API_URL=prefect_api,
        PREFECT_HOME=os.environ["PREFECT_HOME"],
        SMARTCITY_NOTIFY_ATTEMPTS="1",
        SMARTCITY_NOTIFY_TIMEOUT_S="1",
    )
    head = ["-c", PREFECT_FIRST] if prefect_first else ["-m", "smartcity.deployments.cli.entry"]
    done = subprocess.run(
        [sys.executable, *head, "remind", "--now", T14], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert done.returncode == 1, done  # nothing listens at the PIC's address: the message failed, stays pending
    assert done.stdout.splitlines() == ["as of 2017-05-10 01:00 UTC: 1 reminder(s) enqueued, 0 sent, 1 failed"]
    assert done.stderr.splitlines() == ["1 message(s) failed and stay pending: see `smartcity outbox --failed`"], (
        done.stderr
    )
