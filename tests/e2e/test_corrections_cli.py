"""The correction commands as a coordinator runs them: exit codes, one-line errors, no secrets. Through the
CLI's entry point in this process (tests/e2e/test_exit_codes.py runs a sample as real processes)."""

from __future__ import annotations

import json

import pytest

from smartcity.models.selection.scoring import ILLUSTRATIVE_INDICATORS_PATH
from tests.clirun import smartcity_in_process
from tests.conftest import dump_database
from tests.e2e import test_selection_cli
from tests.helpers import T0, cohort_with, load_registry

nominated = test_selection_cli.nominated  # the fixture, shared

BANDUNG = "3273"
SECRET = "S3cretPicUrl"


@pytest.mark.slow
def test_partial_data_dry_run_warns_and_reconsider_reopens(nominated, tmp_path):
    db = nominated
    trimmed = [
        line
        for line in ILLUSTRATIVE_INDICATORS_PATH.read_text(encoding="utf-8").splitlines()
        if not (line.startswith(("9412,", "9471,")) and ",readiness," in line)
    ]  # Papua lacks readiness
    partial = tmp_path / "partial.csv"
    partial.write_text("\n".join(trimmed) + "\n", encoding="utf-8")
    assert smartcity_in_process("indicators", "import", str(partial), db_url=db).code == 0
    dry = smartcity_in_process("cohort", "select", "2017", "--dry-run", "--json", db_url=db)
    assert dry.code == 0, dry.err
    assert "WARNING: whole island group Papua excluded (2 nominee(s)) for missing readiness" in dry.err
    assert any("missing: readiness (2)" in w for w in json.loads(dry.out)["warnings"])
    assert smartcity_in_process("cohort", "select", "2017", "--actor", "ani", db_url=db).code == 0
    refused = smartcity_in_process(
        "region", "advance", "9412", "--to", "selected", "--actor", "ani", "--force", "--reason", "late data", db_url=db
    )
    assert refused.code == 1 and "reconsider it first" in refused.err
    before = dump_database(db)
    bad = smartcity_in_process("region", "reconsider", "9412", "--reason", " ", "--actor", "ani", db_url=db)
    assert (bad.code, len(bad.err.strip().splitlines())) == (2, 1) and dump_database(db) == before
    ok = smartcity_in_process(
        "region", "reconsider", "9412", "--reason", "readiness came late", "--actor", "ani", db_url=db
    )
    assert ok.code == 0 and "now nominated" in ok.out, ok.err


@pytest.fixture
def drafting_with_contact(db_url):
    """Bandung drafting since T0, with a PIC contact whose URL holds a secret."""
    from smartcity.models.core.stages import Stage
    from smartcity.models.core.transitions import StageChange, change_stage
    from smartcity.models.infra.db import session_scope
    from smartcity.models.notifications.outbox import add_contact

    load_registry()
    cohort_with([BANDUNG])
    with session_scope() as s:
        add_contact(
            s,
            role="pic",
            region_code=BANDUNG,
            name="PIC Bandung",
            language="id",
            now=T0,
            url=f"json://pic:{SECRET}@127.0.0.1:9/pic",
        )
    for to in (Stage.selected, Stage.drafting):
        with session_scope() as s:
            change_stage(s, StageChange(region_code=BANDUNG, to=to, actor="ani"), now=T0)
    return db_url


@pytest.mark.slow
def test_contact_deadline_and_milestone_corrections(drafting_with_contact):
    db = drafting_with_contact
    before = dump_database(db)
    for args, code, says in (
        (
            ["milestone", "done", BANDUNG, "--key", "bimtek-1", "--actor", "ani", "--at", "2030-01-01T08:00+07:00"],
            2,
            "in the future",
        ),
        (
            ["deadline", "extend", BANDUNG, "--key", "masterplan", "--days", "10000", "--reason", "r", "--actor", "a"],
            2,
            "implausible",
        ),
        (
            ["deadline", "extend", BANDUNG, "--key", "masterplan", "--days", "0", "--reason", "r", "--actor", "a"],
            2,
            "must not be 0",
        ),
        (["milestone", "undo", BANDUNG, "bimtek-1", "--reason", "oops", "--actor", "ani"], 1, "not done"),
        (["contacts", "edit", "1", "--url", "nonsense", "--reason", "typo", "--actor", "ani"], 2, "Apprise"),
    ):
        done = smartcity_in_process(*args, db_url=db)
        assert (done.code, len(done.err.strip().splitlines())) == (code, 1), (args, done.err)
        assert says in done.err, (args, done.err)
    assert dump_database(db) == before
    replaced = smartcity_in_process(
        "contacts",
        "replace",
        "1",
        "--url",
        "json://pic:N3wSecret@127.0.0.1:9/new",
        "--name",
        "PIC baru",
        "--reason",
        "new PIC",
        "--actor",
        "ani",
        db_url=db,
    )
    assert replaced.code == 0 and "replaced by contact 2" in replaced.out, replaced.err
    removed = smartcity_in_process("contacts", "remove", "2", "--reason", "left", "--actor", "ani", db_url=db)
    listed = smartcity_in_process("contacts", "list", db_url=db)
    assert removed.code == 0 and "(removed)" in listed.out
    for out in (replaced.out + replaced.err, removed.out + removed.err, listed.out):
        assert SECRET not in out and "N3wSecret" not in out
