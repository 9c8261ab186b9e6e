"""Prefect server down: stage changes still commit through the documented fallback and their events wait
in the outbox until `smartcity events flush` reaches a live server; with SMARTCITY_REQUIRE_PREFECT=true the
CLI refuses before writing anything."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.clirun import DEAD_API, smartcity, smartcity_in_process
from tests.helpers import cohort_with, load_registry, phase1_codes
from tests.reliability.support import (
    audit_counts,
    event_counts,
    fingerprint,
    one_line_error,
    outbox_pending,
    pending_events,
)


@pytest.mark.slow
@pytest.mark.prefect_server
def test_changes_commit_while_prefect_is_down_and_their_events_reach_it_later(sqlite_url, prefect_api):
    """The commands run through the CLI's entry point in this process; the refusal below runs real processes."""
    load_registry()
    codes = phase1_codes()[:10]
    name = f"down-{uuid.uuid4().hex[:8]}"
    cohort_with(codes, name=name)
    since = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()

    one = smartcity_in_process(
        "region", "advance", codes[0], "--to", "selected", "--actor", "ani", "--cohort", name, db_url=sqlite_url
    )  # clirun points PREFECT_API_URL at a dead port by default
    assert one.code == 0, one.err
    assert "not reachable" in one.err and "outbox" in one.err, one.err
    rest = smartcity_in_process(
        "cohort", "advance", name, "--to", "selected", "--actor", "ani", "--json", db_url=sqlite_url
    )
    assert rest.code == 0, rest.err
    assert json.loads(rest.out)["applied"] == len(codes) - 1

    transitions, dupes, outbox = audit_counts(sqlite_url)
    waiting = pending_events(smartcity_in_process("events", "pending", "--json", db_url=sqlite_url))
    assert (transitions, dupes, outbox, waiting) == (len(codes), 0, len(codes), len(codes))
    assert event_counts(prefect_api, "smartcity.region.selected", name, since, expect=1, timeout=0) == {}

    # Flushing while the server is still down publishes nothing and loses nothing.
    refused = smartcity_in_process("events", "flush", db_url=sqlite_url)
    assert refused.code == 1 and "cannot publish" in one_line_error(refused)
    assert outbox_pending(sqlite_url) == len(codes)

    flushed = smartcity_in_process("events", "flush", db_url=sqlite_url, PREFECT_API_URL=prefect_api)
    assert flushed.code == 0 and f"published {len(codes)} event(s)" in flushed.out, flushed
    assert outbox_pending(sqlite_url) == 0
    counts = event_counts(prefect_api, "smartcity.region.selected", name, since, expect=len(codes))
    print(f"checked: {transitions} transitions, {waiting} events waited, {sum(counts.values())} reached the server")
    assert len(counts) == transitions and set(counts.values()) == {1}, counts


def test_require_prefect_refuses_before_writing_anything(sqlite_url):
    load_registry()
    codes = phase1_codes()[:3]
    cohort_with(codes, name="strict")
    before = fingerprint(sqlite_url)
    cases = [
        ("region", "advance", codes[0], "--to", "selected", "--actor", "ani"),
        ("cohort", "advance", "strict", "--to", "selected", "--actor", "ani"),
    ]
    for args in cases:
        done = smartcity(*args, db_url=sqlite_url, SMARTCITY_REQUIRE_PREFECT="true")
        assert done.code == 1, (args, done)
        line = one_line_error(done)
        assert len(done.err.strip().splitlines()) == 1, done.err
        assert DEAD_API in line and "nothing was changed" in line, line
        assert fingerprint(sqlite_url) == before, args
    print(f"checked: {len(cases)} refused commands, 0 rows written")
