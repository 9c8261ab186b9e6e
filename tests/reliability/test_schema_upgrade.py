"""Schema upgrade: a database created at the first migration and filled with plain SQL keeps every row when
upgraded to the current heads (SQLite's batch mode rebuilds `masterplan_round` and `quick_win` on the way),
and the application works on it: a region advances, chained to the history written before the upgrade."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from smartcity.models.core import program
from smartcity.models.core.audit import GENESIS, chain_hash, transition_content
from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import advance_many
from smartcity.models.infra.db import session_scope
from smartcity.models.infra.migrate import current_heads, upgrade
from tests.clirun import smartcity_in_process
from tests.conftest import IN_CI, PG_ADMIN_URL, pg_available, reset_caches
from tests.helpers import REGISTRY

T_OLD = datetime(2017, 5, 2, 1, 0, tzinfo=UTC)
V1_TABLES = (
    "program",
    "region",
    "cohort",
    "contact",
    "enrollment",
    "stage_transition",
    "event_outbox",
    "masterplan_round",
    "quick_win",
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request, tmp_path) -> Iterator[str]:
    """An empty database of its own (not the session's migrated one), on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        reset_caches()
        return
    problem = pg_available()
    if problem:
        if IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)
    name = f"smartcity_upgrade_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        reset_caches()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def when(url: str, at: datetime = T_OLD) -> str:
    """A time literal as each backend stores it (SQLite: naive UTC text, as core.tables.UTCDateTime does)."""
    return at.strftime("%Y-%m-%d %H:%M:%S.%f") if url.startswith("sqlite") else at.isoformat()


def fill_v1(url: str) -> int:
    """The registry, a cohort with three enrollments, one transition, its event, a contact, a round and a
    quick win, all written with plain SQL against the 0001 schema. Returns the number of regions.

    Ids come from the database (as the application's inserts get them), so on a fresh database the
    program, cohort and first enrollment are id 1, and PostgreSQL's sequences stay in step."""
    lines = REGISTRY.read_text(encoding="utf-8").splitlines()[1:]
    regions = [
        dict(zip(("code", "name", "type", "pcode", "province", "zone", "tz"), line.split(",")[:7], strict=True))
        for line in lines
    ]
    t = when(url)
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(
            sa.text("insert into program (name, created_at) values ('Gerakan Menuju 100 Smart City', :t)"), {"t": t}
        )
        c.execute(
            sa.text(
                "insert into region (bps_code, name, type, province, timezone, population, updated_at) "
                "values (:code, :name, :type, :province, :tz, null, :t)"
            ),
            [{**r, "t": t} for r in regions],
        )
        ids = dict(c.execute(sa.text("select bps_code, id from region")).all())
        c.execute(
            sa.text("insert into cohort (program_id, name, year, quota, created_at) values (1, '2017', 2017, 25, :t)"),
            {"t": t},
        )
        c.execute(
            sa.text(
                "insert into enrollment (cohort_id, region_id, stage, version, entered_stage_at) "
                "values (1, :rid, :stage, :v, :t)"
            ),
            [
                {"rid": ids["3273"], "stage": "selected", "v": 1, "t": t},
                {"rid": ids["3271"], "stage": "nominated", "v": 0, "t": t},
                {"rid": ids["9412"], "stage": "nominated", "v": 0, "t": t},
            ],
        )
        row = SimpleNamespace(
            enrollment_id=1,
            version=1,
            from_stage="nominated",
            to_stage="selected",
            kind="advance",
            actor="ani",
            reason=None,
            occurred_at=T_OLD,
            flow_run_id=None,
            idempotency_key="1:v1",
        )
        c.execute(
            sa.text(
                "insert into stage_transition (enrollment_id, version, from_stage, to_stage, kind, actor, "
                "reason, occurred_at, flow_run_id, idempotency_key, prev_hash, row_hash) values (1, 1, "
                "'nominated', 'selected', 'advance', 'ani', null, :t, null, '1:v1', :prev, :hash)"
            ),
            {"t": t, "prev": GENESIS, "hash": chain_hash(GENESIS, transition_content(row))},
        )
        c.execute(
            sa.text(
                "insert into event_outbox (event_id, event, resource, related, payload, occurred_at, "
                "published_at, attempts, last_error) values (:eid, 'smartcity.region.selected', :res, "
                "'[]', :payload, :t, :t, 1, null)"
            ),
            {
                "eid": str(uuid.uuid4()),
                "res": json.dumps({"prefect.resource.id": "smartcity.region.3273"}),
                "payload": json.dumps({"region_code": "3273", "to": "selected"}),
                "t": t,
            },
        )
        c.execute(
            sa.text(
                "insert into contact (role, name, region_id, apprise_url, language, created_at) "
                "values ('pic', 'Pak Budi', :rid, 'mailto://u:p@127.0.0.1', 'id', :t)"
            ),
            {"rid": ids["3273"], "t": t},
        )
        c.execute(
            sa.text(
                "insert into masterplan_round (enrollment_id, round_no, status, submitted_at, closed_at) "
                "values (1, 1, 'submitted', :t, null)"
            ),
            {"t": t},
        )
        c.execute(
            sa.text(
                "insert into quick_win (enrollment_id, title, verified_at, verified_by) "
                "values (1, 'Command centre', null, null)"
            )
        )
    engine.dispose()
    return len(regions)


def columns(url: str) -> dict[str, list[str]]:
    """The columns of the 0001 tables as the database has them now."""
    engine = sa.create_engine(url)
    with engine.connect() as c:
        out = {t: [col["name"] for col in sa.inspect(c).get_columns(t)] for t in V1_TABLES}
    engine.dispose()
    return out


def rows(url: str, cols: dict[str, list[str]]) -> dict[str, list[tuple]]:
    """Every row of the 0001 tables, over their 0001 columns, as text, sorted."""
    engine = sa.create_engine(url)
    with engine.connect() as c:
        out = {
            t: sorted(tuple(map(str, r)) for r in c.execute(sa.text(f'select {", ".join(cols[t])} from "{t}"')))
            for t in V1_TABLES
        }
    engine.dispose()
    return out


def test_upgrade_from_first_migration_keeps_every_row_and_the_app_works(fresh_url):
    upgrade(fresh_url, "0001")
    v1 = columns(fresh_url)
    n_regions = fill_v1(fresh_url)
    before = rows(fresh_url, v1)

    upgrade(fresh_url)
    engine = sa.create_engine(fresh_url)
    with engine.connect() as c:
        versions = sorted(r[0] for r in c.execute(sa.text("select version_num from alembic_version")))
    engine.dispose()
    after = rows(fresh_url, v1)
    assert all(set(v1[t]) <= set(cols) for t, cols in columns(fresh_url).items())
    assert versions == sorted(current_heads())
    assert {t: len(r) for t, r in after.items()} == {t: len(r) for t, r in before.items()}
    assert after == before, [t for t in V1_TABLES if after[t] != before[t]]

    done = smartcity_in_process(
        "region", "advance", "3273", "--to", "drafting", "--actor", "ani", "--json", db_url=fresh_url
    )
    assert done.code == 0, done.err
    with session_scope(fresh_url) as session:
        outcome = advance_many(
            session,
            cohort="2017",
            items=[("3271", 0), ("9412", 0)],
            to=Stage.selected,
            actor="budi",
            reason=None,
            now=datetime.now(UTC),
        )
        history = program.history(session, "3273")
    assert outcome == {"applied": ["3271", "9412"], "unchanged": [], "refused": []}
    assert [(h["from"], h["to"], h["actor"]) for h in history] == [
        ("nominated", "selected", "ani"),
        ("selected", "drafting", "ani"),
    ]
    engine = sa.create_engine(fresh_url)
    with engine.connect() as c:
        chain = c.execute(
            sa.text("select prev_hash, row_hash from stage_transition where enrollment_id = 1 order by version")
        ).all()
    engine.dispose()
    assert chain[1][0] == chain[0][1], "the new transition does not chain onto the pre-upgrade history"
    print(
        f"checked: {sum(len(r) for r in before.values())} rows in {len(V1_TABLES)} tables "
        f"({n_regions} regions) kept across the upgrade to {versions}; 3 transitions after it"
    )
