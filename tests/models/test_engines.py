"""The engine cache: `reset_engines` closes every connection, and forgets every engine but the ones it keeps."""

from __future__ import annotations

from sqlalchemy import text

from smartcity.models.infra.db import get_engine, reset_engines
from tests.conftest import reset_caches


def test_reset_closes_every_connection_and_keeps_only_the_named_engines(tmp_path):
    kept_url, other_url = f"sqlite:///{tmp_path / 'kept.db'}", f"sqlite:///{tmp_path / 'other.db'}"
    kept, other = get_engine(kept_url), get_engine(other_url)
    for engine in (kept, other):
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    pools = kept.pool, other.pool
    assert pools[0].checkedin() == pools[1].checkedin() == 1  # each pool holds its connection

    try:
        reset_engines(keep=[kept_url])
        assert get_engine(kept_url) is kept and kept.pool is not pools[0]  # same engine, a new empty pool
        assert kept.pool.checkedin() == 0
        assert get_engine(other_url) is not other  # forgotten: a new engine is built
        assert pools[0].checkedin() == pools[1].checkedin() == 0  # both old pools closed their connections
    finally:
        reset_caches()
