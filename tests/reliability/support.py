"""Helpers shared by the reliability scenarios: database fingerprints, audit counts, events on the server."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.clirun import Done
from tests.conftest import dump_database, reset_caches


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL, else None."""
    return Path(url.split("///", 1)[1]) if url.startswith("sqlite") else None


def file_hash(url: str) -> str | None:
    """sha256 of the SQLite file (and its WAL, if one is left), once no engine of ours holds it."""
    path = sqlite_file(url)
    if path is None:
        return None
    reset_caches()  # dispose this process's engines: the last close checkpoints and removes the WAL
    digest = hashlib.sha256(path.read_bytes())
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        digest.update(wal.read_bytes())
    return digest.hexdigest()


def fingerprint(url: str) -> tuple[list[tuple], str | None]:
    """Every row, plus (SQLite) the file's bytes: equal fingerprints mean nothing was written."""
    rows = dump_database(url)
    return rows, file_hash(url)


def audit_counts(url: str, to_stage: str = "selected") -> tuple[int, int, int]:
    """(transitions to `to_stage`, enrollments with more than one of them, outbox events for that stage)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("select count(*) from stage_transition where to_stage = :s"), {"s": to_stage}).scalar()
        dupes = conn.execute(
            sa.text(
                "select count(*) from (select enrollment_id from stage_transition where to_stage = :s "
                "group by enrollment_id having count(*) > 1) d"
            ),
            {"s": to_stage},
        ).scalar()
        events = conn.execute(
            sa.text("select count(*) from event_outbox where event = :e"), {"e": f"smartcity.region.{to_stage}"}
        ).scalar()
    engine.dispose()
    return n, dupes, events


def _scalar(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text(sql)).scalar()
    engine.dispose()
    return n


def outbox_pending(url: str) -> int:
    """Outbox rows not yet published, read straight from the database (no CLI start-up)."""
    return _scalar(url, "select count(*) from event_outbox where published_at is null")


def published_events(url: str) -> int:
    """Outbox events our database marks as published to the server."""
    return _scalar(url, "select count(*) from event_outbox where published_at is not null")


def pending_events(done: Done) -> int:
    """The count printed by `smartcity events pending --json`."""
    assert done.code == 0, done.err
    return json.loads(done.out)["pending"]


def event_counts(
    api: str, event: str, cohort_slug: str, since: str, expect: int, timeout: float = 30, headers: dict | None = None
) -> dict[str, int]:
    """Per region resource, how many `event`s of one cohort the server stored since `since`.

    Polls until `expect` regions are there or `timeout` passes (the server ingests asynchronously).
    """
    body = {
        "filter": {
            "event": {"name": [event]},
            "occurred": {"since": since},
            "related": {"id": [f"smartcity.cohort.{cohort_slug}"]},
        }
    }
    deadline, counts = time.monotonic() + timeout, {}
    while True:
        r = httpx.post(f"{api}/events/count-by/resource", json=body, headers=headers or {}, timeout=10)
        r.raise_for_status()
        counts = {c["value"]: c["count"] for c in r.json()}
        if len(counts) >= expect or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def one_line_error(done: Done) -> str:
    """The single `error: ...` line of a refused command (details, if any, are indented `line N:` lines)."""
    assert "Traceback" not in done.err, done.err
    lines = done.err.rstrip("\n").splitlines()
    assert lines and lines[0].startswith("error: "), done.err
    assert all(line.startswith("  line ") for line in lines[1:]), done.err
    return lines[0]
