"""The coordinator CLI end to end: exit codes, one-line errors, JSON reads, and a race.

Set-up, bad requests and imports run through the CLI's entry point in this process (what a command does);
the status read and the race run as real processes (test_exit_codes keeps a real-process sample too)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.clirun import smartcity, smartcity_in_process, spawn
from tests.conftest import dump_database
from tests.helpers import PHASE1, REGISTRY


@pytest.fixture
def loaded(db_url):
    assert smartcity_in_process("regions", "import", str(REGISTRY), db_url=db_url).code == 0
    assert smartcity_in_process("cohort", "create", "2017", "--year", "2017", "--quota", "25", db_url=db_url).code == 0
    assert smartcity_in_process("cohort", "nominate", "2017", "--file", str(PHASE1), db_url=db_url).code == 0
    return db_url


def one_line(done) -> str:
    lines = done.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.err, done.err
    return lines[0]


def test_status_json_and_history(loaded):
    done = smartcity("cohort", "advance", "2017", "--to", "selected", "--actor", "ani", db_url=loaded)
    assert done.code == 0 and "25 advanced" in done.out
    assert "not reachable" in done.err and "outbox" in done.err  # the documented fallback says what it did
    status = json.loads(smartcity("status", "--json", db_url=loaded).out)
    assert status["cohorts"] == {"2017": {"selected": 25}} and len(status["regions"]) == 25
    hist = json.loads(smartcity("region", "history", "3273", "--json", db_url=loaded).out)
    assert [(h["from"], h["to"], h["actor"]) for h in hist] == [("nominated", "selected", "ani")]


BAD_REQUESTS = [
    (["region", "advance", "3273", "--to", "drafting", "--actor", "ani"], 1, "cannot skip"),
    (["region", "advance", "3273", "--to", "approved", "--actor", "ani"], 2, "unknown stage 'approved'"),
    (["region", "advance", "3273", "--to", "selected", "--actor", "  "], 2, "--actor"),
    (["region", "advance", "1101", "--to", "selected", "--actor", "ani"], 1, "not enrolled"),
    (["cohort", "create", "x", "--year", "2017", "--quota", "-3"], 2, "quota must be 1..10000"),
    (["cohort", "create", "2017", "--year", "2017", "--quota", "3"], 1, "already exists"),
    (["cohort", "nominate", "2017", "12x4", "3273'; DROP TABLE region;--"], 2, "unknown region"),
    (["region", "advance", "3273", "--actor", "ani"], 2, "Missing option '--to'"),
    (["no-such-command"], 2, "No such command"),
    (["regions", "import", "/nonexistent.csv"], 2, "no such file"),
]


def test_bad_requests_get_one_line_and_change_nothing(loaded):
    before = dump_database(loaded)
    for args, code, text in BAD_REQUESTS:
        done = smartcity_in_process(*args, db_url=loaded)
        assert done.code == code, (args, done)
        assert text in one_line(done), args
        assert dump_database(loaded) == before, args


def test_broken_csv_names_every_bad_line_and_imports_nothing(db_url, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "bps_code,name,type,province,timezone,population\n"
        "3273,Kota Bandung,kota,Jawa Barat,Asia/Jakarta,2591763\n"
        "32X3,Kota Salah,kota,Jawa Barat,Asia/Jakarta,\n"
        "3274,Kota Cirebon,city,Jawa Barat,Asia/Jakarta,\n"
        "3275,Kota Bekasi,kota,Jawa Barat,Mars/Olympus,\n"
        "3273,Kota Bandung,kota,Jawa Barat,Asia/Jakarta,\n"
        "3276,,kota,Jawa Barat,Asia/Jakarta,-5\n",
        encoding="utf-8",
    )
    before = dump_database(db_url)
    done = smartcity_in_process("regions", "import", str(bad), db_url=db_url)
    assert done.code == 2 and "nothing imported" in done.err
    for line in (
        "line 3: bad bps_code",
        "line 4: unknown type 'city'",
        "line 5: unknown IANA timezone",
        "line 6: duplicate bps_code 3273 (first on line 2)",
        "line 7: missing name",
        "line 7: population '-5'",
    ):
        assert line in done.err, line
    assert dump_database(db_url) == before


def test_bom_and_crlf_import_like_plain_utf8(db_url, tmp_path):
    text = "bps_code,name,type,province,timezone,extra\r\n9412,Kabupaten Mimika,kabupaten,Papua,Asia/Jayapura,x\r\n"
    f = tmp_path / "bom.csv"
    f.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert smartcity_in_process("regions", "import", str(f), db_url=db_url).code == 0
    listed = json.loads(smartcity_in_process("regions", "list", "--json", db_url=db_url).out)
    assert listed == [
        {
            "bps_code": "9412",
            "name": "Kabupaten Mimika",
            "type": "kabupaten",
            "province": "Papua",
            "timezone": "Asia/Jayapura",
            "population": None,
        }
    ]


def test_two_processes_advance_the_same_100_regions_once(loaded, tmp_path):
    codes = [line.split(",")[0] for line in REGISTRY.read_text().splitlines()[1:101]]
    created = smartcity_in_process("cohort", "create", "race", "--year", "2018", "--quota", "100", db_url=loaded)
    assert created.code == 0
    codes = [c for c in codes if c not in PHASE1.read_text()]
    assert smartcity_in_process("cohort", "nominate", "race", *codes, db_url=loaded).code == 0
    procs = [
        spawn("cohort", "advance", "race", "--to", "selected", "--actor", f"p{i}", "--json", db_url=loaded)
        for i in range(2)
    ]
    results = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert sum(r["applied"] for r in results) == len(codes)
    assert all(r["refused"] == [] for r in results), results
    engine = sa.create_engine(loaded)
    with engine.connect() as conn:
        n = conn.execute(sa.text("select count(*) from stage_transition where to_stage='selected'")).scalar()
        dupes = conn.execute(
            sa.text(
                "select count(*) from (select enrollment_id from stage_transition "
                "group by enrollment_id having count(*) > 1) d"
            )
        ).scalar()
    engine.dispose()
    assert (n, dupes) == (len(codes), 0)
