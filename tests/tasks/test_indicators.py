"""Indicator import on both backends: all-or-nothing validation, upserts, versioning by year and source."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from smartcity.models.core.errors import BadInput
from smartcity.models.core.regions import read_csv_text
from smartcity.models.infra.db import session_scope
from smartcity.models.selection.indicators import known_region_codes, nominee_pool, parse_indicators, upsert_indicators
from smartcity.models.selection.scoring import ILLUSTRATIVE_INDICATORS_PATH
from smartcity.models.selection.tables import IndicatorValue
from tests.conftest import dump_database
from tests.helpers import T0, cohort_with, load_registry

HEADER = "bps_code,indicator,value,year,source\n"
GOOD = HEADER + "3273,readiness,80.5,2017,bps\n3273,fiscal_capacity,2.1,2017,bps\n3578,readiness,70,2017,bps\n"


def import_text(text: str, now=T0) -> dict[str, int]:
    """Parse and upsert in one transaction, as the CLI does."""
    with session_scope() as session:
        rows = parse_indicators(text, "test.csv", known_region_codes(session))
        return upsert_indicators(session, rows, now=now)


def values() -> dict[tuple[str, str, int, str], float]:
    from smartcity.models.core.tables import Region

    with session_scope() as session:
        rows = session.exec(select(Region.bps_code, IndicatorValue).join(Region)).all()
    return {(code, v.indicator, v.year, v.source): v.value for code, v in rows}


@pytest.fixture
def registry(db_url):
    load_registry()
    return db_url


def test_good_file_imports_and_reimport_updates_only_changed_values(registry):
    assert import_text(GOOD) == {"inserted": 3, "updated": 0, "unchanged": 0}
    assert values()[("3273", "readiness", 2017, "bps")] == 80.5
    changed = GOOD.replace("80.5", "81")
    assert import_text(changed, now=T0 + timedelta(days=1)) == {"inserted": 0, "updated": 1, "unchanged": 2}
    assert values()[("3273", "readiness", 2017, "bps")] == 81.0
    assert len(values()) == 3


def test_illustrative_file_imports_all_280_values(registry):
    assert import_text(read_csv_text(ILLUSTRATIVE_INDICATORS_PATH))["inserted"] == 280


BAD_FILES = [
    ("unknown region", HEADER + "3273,readiness,80,2017,bps\n9999,readiness,1,2017,bps\n", ["line 3: unknown region"]),
    (
        "non-numeric",
        HEADER + "3273,readiness,high,2017,bps\n3273,green,nan,2017,bps\n3273,x,inf,2017,bps\n3273,y,1e999,2017,bps\n",
        ["line 2: value 'high' is not a number", "line 3: value 'nan'", "line 4: value 'inf'", "line 5: value '1e999'"],
    ),
    ("duplicate", GOOD + "3273,readiness,80.5,2017,bps\n", ["line 5: duplicate of line 2"]),
    ("missing column", "bps_code,indicator,value,year\n3273,readiness,1,2017\n", ["line 1:", "lacks source"]),
    (
        "bad year",
        HEADER + "3273,readiness,1,17,bps\n3273,green,1,2017.0,bps\n",
        ["line 2: bad year '17'", "line 3: bad year '2017.0'"],
    ),
    (
        "empty value and extra field",
        HEADER + "3273,readiness,,2017,bps\n3273,green,1,2017,bps,extra\n",
        ["line 2: missing value", "line 3: more fields than the header"],
    ),
    ("header only", HEADER, ["line 2: no data rows"]),
    ("empty", "", ["line 1: no header"]),
]


@pytest.mark.parametrize(("case", "text", "expected"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_rows_list_every_line_and_import_nothing(registry, case, text, expected):
    import_text(GOOD)
    before = dump_database(registry)
    with pytest.raises(BadInput) as info:
        import_text(text)
    assert "nothing imported" in str(info.value) or "empty" in str(info.value)
    for fragment in expected:
        assert any(fragment in line for line in info.value.errors), (fragment, info.value.errors)
    assert dump_database(registry) == before


def test_bad_lines_are_all_reported_not_just_the_first(registry):
    text = HEADER + "3273,readiness,1,2017,bps\n9998,readiness,1,2017,bps\n3273,green,x,2017,bps\n3273,ok,1,1,bps\n"
    with pytest.raises(BadInput) as info:
        import_text(text)
    assert [e.split(":")[0] for e in info.value.errors] == ["line 3", "line 4", "line 5"]
    assert values() == {}


def test_wrong_encoding_and_empty_file_are_refused_before_parsing(registry, tmp_path):
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes((HEADER + "3273,readiness,1,2017,Badan Pusat Statistik \u00e9\n").encode("latin-1"))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    before = dump_database(registry)
    with pytest.raises(BadInput, match="not UTF-8"):
        read_csv_text(latin1)
    with pytest.raises(BadInput, match="empty"):
        read_csv_text(empty)
    assert dump_database(registry) == before
    assert import_text(read_csv_text(bom))["inserted"] == 3  # a UTF-8 BOM is fine


def test_versioned_by_year_and_source_and_pool_picks_latest_eligible_year(registry):
    cohort_with(["3273", "3578"], name="2017", quota=1)
    import_text(
        HEADER + "3273,readiness,50,2016,bps\n3273,readiness,60,2017,bps\n3273,readiness,70,2018,bps\n"
        "3273,readiness,65,2017,survey\n3578,readiness,40,2016,bps\n"
    )
    assert len(values()) == 5  # same region and indicator: one row per year and source
    with session_scope() as session:
        by_bps = {n.bps_code: n.indicators for n in nominee_pool(session, "2017", source="bps").nominees}
        exact = nominee_pool(session, "2017", year=2017, source="bps")
        survey = nominee_pool(session, "2017", source="survey")
    assert by_bps == {"3273": {"readiness": 60.0}, "3578": {"readiness": 40.0}}  # 2018 is after the cohort year
    assert {n.bps_code: n.indicators for n in exact.nominees} == {"3273": {"readiness": 60.0}, "3578": {}}
    assert exact.years == [2017] and not exact.illustrative
    assert {n.bps_code: n.indicators for n in survey.nominees}["3273"] == {"readiness": 65.0}


def test_semicolon_separated_file_is_explained_and_imports_nothing(registry, tmp_path, capsys):
    from smartcity.deployments.cli import app as cli

    import_text(GOOD)
    before = dump_database(registry)
    excel = tmp_path / "excel-id.csv"  # what Excel saves where ',' is the decimal mark
    excel.write_bytes(b"\xef\xbb\xbf" + GOOD.replace(",", ";").replace("80.5", "80,5").replace("\n", "\r\n").encode())
    capsys.readouterr()
    assert cli.main(["indicators", "import", str(excel)]) == 2
    err = capsys.readouterr().err
    assert "the file uses ';' as its delimiter" in err.splitlines()[0], err
    assert dump_database(registry) == before
