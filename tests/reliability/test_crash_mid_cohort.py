"""Crash mid-cohort: `smartcity cohort advance` of all 514 regions is killed with SIGKILL partway through,
then run again. Every region advances exactly once, and once the outbox drains the Prefect server holds
exactly one `smartcity.region.selected` event per region."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.clirun import smartcity, spawn
from tests.helpers import cohort_with, load_registry
from tests.reliability.support import audit_counts, event_counts, outbox_pending

pytestmark = [pytest.mark.slow, pytest.mark.prefect_server]

KILL_AFTER = 100  # transitions committed before the kill


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
    codes = load_registry()
    name = f"crash-{uuid.uuid4().hex[:8]}"  # one cohort per run: its events are told apart on the shared server
    cohort_with(codes, name=name, quota=514)
    since = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
    args = ("cohort", "advance", name, "--to", "selected", "--actor", "ani", "--json")

    proc = spawn(*args, db_url=db_url, PREFECT_API_URL=prefect_api)
    at_kill = kill_partway(proc, db_url, KILL_AFTER)
    assert KILL_AFTER <= at_kill < 514, f"kill landed at {at_kill} transitions: not mid-cohort"

    again = smartcity(*args, db_url=db_url, PREFECT_API_URL=prefect_api)
    assert again.code == 0, again.err
    summary = json.loads(again.out)
    assert summary["refused"] == [], summary["refused"]
    assert (summary["already"], summary["applied"]) == (at_kill, 514 - at_kill), summary

    flushed = smartcity("events", "flush", db_url=db_url, PREFECT_API_URL=prefect_api)
    assert flushed.code == 0, flushed.err
    assert outbox_pending(db_url) == 0

    transitions, dupes, outbox = audit_counts(db_url)
    counts = event_counts(prefect_api, "smartcity.region.selected", name, since, expect=514)
    time.sleep(2)  # and nothing more arrives late: one event per transition
    counts = event_counts(prefect_api, "smartcity.region.selected", name, since, expect=515, timeout=0)
    print(
        f"checked: killed at {at_kill}, {transitions} transitions, {outbox} outbox events, "
        f"{sum(counts.values())} events on the server for {len(counts)} regions"
    )
    assert (transitions, dupes, outbox) == (514, 0, 514)
    assert len(counts) == 514 and set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
    assert set(counts) == {f"smartcity.region.{c}" for c in codes}
