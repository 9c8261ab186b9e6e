"""A database that cannot be reached or used gets one line that says what to do, and exit 2: never a
driver's traceback. The matrix of broken URLs runs through the CLI's entry point in this process; a database
never initialised is met through the real `smartcity` command, as a coordinator would meet it."""

from __future__ import annotations

import pytest

from tests.clirun import smartcity, smartcity_in_process
from tests.conftest import PG_ADMIN_URL
from tests.prefect_server import free_port

PG_SERVER = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql://")

CASES = {
    "wrong database name": (f"{PG_SERVER}/no_such_db_smartcity", "does not exist on that server"),
    "server down": (f"postgresql://postgres@127.0.0.1:{free_port()}/x", "cannot reach the database server"),
    "not a URL": ("walk_test", "is not a database URL"),
    "unsupported kind": ("mysql://u:s3cret@127.0.0.1/x", "not supported"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("args", [("regions", "list"), ("cohort", "create", "2017", "--year", "2017", "--quota", "25")])
def test_unusable_database_gets_one_line_and_exit_2(case, args):
    url, words = CASES[case]
    done = smartcity_in_process(*args, db_url=url)
    assert done.code == 2, done
    assert len(done.err.strip().splitlines()) == 1 and words in done.err, done.err
    assert "Traceback" not in done.err and "s3cret" not in done.err + done.out


def test_a_database_never_initialised_says_run_init(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    done = smartcity("status", db_url=url)
    assert done.code == 2 and "run `smartcity init`" in done.err and len(done.err.strip().splitlines()) == 1, done
    assert smartcity("init", db_url=url).code == 0
    assert smartcity("status", db_url=url).code == 0
