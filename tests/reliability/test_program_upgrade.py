"""Programs as data, on a database made before programs were data: a database at migration 0010 (the schema
the code wrote until this change), filled with rows, upgrades with every row kept; its program runs the shipped
default definition, and the application moves its regions exactly as before."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from smartcity.models.core import program
from smartcity.models.core.transitions import advance_many
from smartcity.models.infra.db import session_scope
from smartcity.models.infra.migrate import current_heads, upgrade
from smartcity.models.programs.store import program_named
from tests.clirun import smartcity
from tests.reliability.test_schema_upgrade import fill_v1, fresh_url

__all__ = ["fresh_url"]  # the fixture, shared with the first-migration upgrade test


def every_row(url: str) -> dict[str, list[tuple]]:
    """Every row of every table the database has now, as text, sorted."""
    engine = sa.create_engine(url)
    with engine.connect() as c:
        tables = [t for t in sa.inspect(c).get_table_names() if t != "alembic_version"]
        out = {t: sorted(tuple(map(str, r)) for r in c.execute(sa.text(f'select * from "{t}"'))) for t in tables}
    engine.dispose()
    return out


def test_a_database_made_before_programs_were_data_upgrades_and_runs_the_default(fresh_url):
    upgrade(fresh_url, "0001")
    fill_v1(fresh_url)
    upgrade(fresh_url, "0010")  # the schema the code wrote until programs became data, with its rows
    before = every_row(fresh_url)
    assert sum(len(r) for r in before.values()) > 500  # the registry, a cohort, enrollments, history, ...

    upgrade(fresh_url)
    after = every_row(fresh_url)
    kept = {t: [r[: len(before[t][0])] if before[t] else r for r in after[t]] for t in before}
    assert {t: len(r) for t, r in after.items() if t in before} == {t: len(r) for t, r in before.items()}
    assert kept == before, [t for t in before if kept[t] != before[t]]
    engine = sa.create_engine(fresh_url)
    with engine.connect() as c:
        versions = sorted(r[0] for r in c.execute(sa.text("select version_num from alembic_version")))
        programs = c.execute(sa.text("select name, definition, definition_source from program")).all()
    engine.dispose()
    assert versions == sorted(current_heads())
    assert programs == [("Gerakan Menuju 100 Smart City", "default", None)]

    with session_scope(fresh_url) as session:
        assert program_named(session, "2017").name == "default"
    done = smartcity("region", "advance", "3273", "--to", "drafting", "--actor", "ani", "--json", db_url=fresh_url)
    assert done.code == 0, done.err
    typo = smartcity("region", "advance", "3271", "--to", "drafted", "--actor", "ani", db_url=fresh_url)
    assert typo.code == 2 and "unknown stage 'drafted' in program default" in typo.err
    with session_scope(fresh_url) as session:
        outcome = advance_many(
            session,
            cohort="2017",
            items=[("3271", 0), ("9412", 0)],
            to="selected",
            actor="budi",
            reason=None,
            now=datetime.now(UTC),
        )
        history = program.history(session, "3273")
    assert outcome == {"applied": ["3271", "9412"], "unchanged": [], "refused": []}
    assert [(h["from"], h["to"]) for h in history] == [("nominated", "selected"), ("selected", "drafting")]
