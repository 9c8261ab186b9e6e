"""`smartcity contacts import` and `milestone done-all` as a coordinator runs them; every act shows in the audit
export with its actor (the OS user when no --actor is given) and no URL in clear."""

from __future__ import annotations

import getpass
import json

from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.infra.db import session_scope
from tests.clirun import smartcity_in_process
from tests.conftest import dump_database
from tests.helpers import T0, cohort_with, load_registry

BANDUNG, MAKASSAR = "3273", "7371"
SECRET = "S3cretT0ken"


def test_contacts_import_and_milestone_done_all_from_the_command_line(sqlite_url, tmp_path):
    load_registry()
    cohort_with([BANDUNG, MAKASSAR])
    for code in (BANDUNG, MAKASSAR):
        for to in (Stage.selected, Stage.drafting):
            with session_scope() as s:
                change_stage(s, StageChange(region_code=code, to=to, actor="ani", cohort="2017"), now=T0)
    good, bad = tmp_path / "contacts.csv", tmp_path / "bad.csv"
    good.write_text(
        "role,region,name,url,language\n"
        f"pic,{BANDUNG},PIC Bandung,json://pic:{SECRET}@127.0.0.1:9/pic,id\n"
        "coordinator,,Koordinator,json://127.0.0.1:9/coordinator,en\n",
        encoding="utf-8",
    )
    bad.write_text(good.read_text() + f"pic,{BANDUNG},Typo,json//{SECRET},id\nboss,,X,json://127.0.0.1:9/x,id\n")

    before = dump_database(sqlite_url)
    refused = smartcity_in_process("contacts", "import", str(bad), db_url=sqlite_url)
    assert refused.code == 2 and refused.out == "" and SECRET not in refused.err, refused.err
    assert "line 4: url is not a valid Apprise URL" in refused.err and "line 5: unknown role 'boss'" in refused.err
    assert dump_database(sqlite_url) == before

    imported = smartcity_in_process("contacts", "import", str(good), "--actor", "ani", db_url=sqlite_url)
    assert imported.code == 0 and "imported 2 contact(s), 0 already present" in imported.out, imported.err
    assert SECRET not in imported.out + imported.err and "json://pic:****@127.0.0.1" in imported.out

    done = smartcity_in_process(
        "milestone", "done-all", "2017", "bimtek-1", "--at", "2017-06-01T10:00+07:00", "--actor", "budi",
        db_url=sqlite_url,
    )  # fmt: skip
    assert done.code == 0 and done.out.strip() == (
        "cohort 2017: bimtek-1 recorded done for 2 region(s), 0 already done"
    ), done.err
    created = smartcity_in_process("cohort", "create", "2018", "--year", "2018", "--quota", "5", db_url=sqlite_url)
    assert created.code == 0, created.err

    exported = smartcity_in_process("audit", "export", "--format", "json", db_url=sqlite_url)
    rows = [(r["kind"], r["actor"]) for r in json.loads(exported.out) if r["record"] == "audit_record"]
    assert rows.count(("contact_added", "ani")) == 2 and rows.count(("milestone_done", "budi")) == 2
    assert ("cohort_created", getpass.getuser()) in rows
    assert SECRET not in exported.out
    assert smartcity_in_process("audit", "verify", db_url=sqlite_url).code == 0
