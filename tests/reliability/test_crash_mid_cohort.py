"""Crash mid-cohort: `smartcity cohort advance` of a 60-region cohort is killed with SIGKILL partway through,
then run again. Every region advances exactly once, and once the outbox drains the Prefect server holds
exactly one `smartcity.region.selected` event per region.

The property does not depend on the cohort's size, only on the kill landing between two committed batches
with batches still to come: 60 regions in batches of 5 (12 batches, killed after 3 or more) is the same
shape as 514 in the default batches of 50 (11 batches), at an eighth of the transitions and events."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.clirun import smartcity_in_process, spawn
from tests.helpers import cohort_with, load_registry
from tests.reliability.support import audit_counts, event_counts, outbox_pending

pytestmark = [pytest.mark.slow, pytest.mark.prefect_server]

REGIONS, BATCH = 60, "5"
KILL_AFTER = 15  # transitions committed before the kill


def kill_partway(proc, db_url: str, at_least: int, timeout: float = 180) -> int:
    """SIGKILL `proc` once `at_least` transitions are committed; returns how many there were at the kill."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = audit_counts(db_url)[0]
        if n >= at_least or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"the run ended on its own (rc {proc.returncode}) before the kill"
    return audit_counts(db_url)[0]


def test_killed_cohort_advance_resumes_without_loss_or_double(db_url, prefect_api):
    codes = load_registry()[:REGIONS]
    name = f"crash-{uuid.uuid4().hex[:8]}"  # one cohort per run: its events are told apart on the shared server
    cohort_with(codes, name=name, quota=REGIONS)
    since = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
    args = ("cohort", "advance", name, "--to", "selected", "--actor", "ani", "--json")

    proc = spawn(*args, db_url=db_url, PREFECT_API_URL=prefect_api, SMARTCITY_BATCH_SIZE=BATCH)
    at_kill = kill_partway(proc, db_url, KILL_AFTER)
    assert KILL_AFTER <= at_kill < REGIONS, f"kill landed at {at_kill} transitions: not mid-cohort"

    # The killed run is a real process; the re-run and the flush need none (the CLI's entry point, here).
    again = smartcity_in_process(*args, db_url=db_url, PREFECT_API_URL=prefect_api, SMARTCITY_BATCH_SIZE=BATCH)
    assert again.code == 0, again.err
    summary = json.loads(again.out)
    assert summary["refused"] == [], summary["refused"]
    assert (summary["already"], summary["applied"]) == (at_kill, REGIONS - at_kill), summary

    flushed = smartcity_in_process("events", "flush", db_url=db_url, PREFECT_API_URL=prefect_api)
    assert flushed.code == 0, flushed.err
    assert outbox_pending(db_url) == 0

    transitions, dupes, outbox = audit_counts(db_url)
    counts = event_counts(prefect_api, "smartcity.region.selected", name, since, expect=REGIONS)
    time.sleep(2)  # and nothing more arrives late: one event per transition
    counts = event_counts(prefect_api, "smartcity.region.selected", name, since, expect=REGIONS + 1, timeout=0)
    print(
        f"checked: killed at {at_kill}, {transitions} transitions, {outbox} outbox events, "
        f"{sum(counts.values())} events on the server for {len(counts)} regions"
    )
    assert (transitions, dupes, outbox) == (REGIONS, 0, REGIONS)
    assert len(counts) == REGIONS and set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
    assert set(counts) == {f"smartcity.region.{c}" for c in codes}
