"""The one CSV reader behind the region and indicator imports: every bad line by its number, or every row."""

from __future__ import annotations

import pytest

from smartcity.models.core.errors import BadInput
from smartcity.models.core.regions import RegionRow, parse_regions
from smartcity.models.infra.csvfile import read_rows
from smartcity.models.selection.indicators import IndicatorRow, parse_indicators

HEADER = "bps_code,name,type,province,timezone,population"
ROW = "9412,Kabupaten Mimika,kabupaten,Papua,Asia/Jayapura,311969"


def refused(text: str, parse=lambda t: parse_regions(t, source="f.csv")) -> BadInput:
    """The BadInput that parsing `text` raises."""
    with pytest.raises(BadInput) as info:
        parse(text)
    return info.value


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_a_semicolon_separated_file_is_explained(eol):
    regions = refused(HEADER.replace(",", ";") + eol + ROW.replace(",", ";") + eol)
    assert "the file uses ';' as its delimiter" in str(regions) and "nothing imported" in str(regions)
    assert regions.errors == [f"line 1: header {HEADER.replace(',', ';')!r} is split by ';', not ','"]
    indicators = refused(
        "\ufeffbps_code;indicator;value;year;source\n3273;readiness;0,8;2017;BPS\n",
        lambda t: parse_indicators(t, "i.csv", {"3273"}),
    )
    assert "the file uses ';' as its delimiter" in str(indicators)


def test_a_comma_file_that_lacks_a_column_is_not_called_semicolon_separated():
    error = refused("bps_code,name,type,province,note;remark\n9412,K,kota,Papua,a;b\n")
    assert str(error) == (
        "f.csv: missing column(s) timezone (need bps_code,name,type,province,timezone), nothing imported"
    )
    assert error.errors == ["line 1: header 'bps_code,name,type,province,note;remark' lacks timezone"]


def test_a_row_is_reported_at_the_line_where_it_starts():
    text = (
        f"{HEADER}\n"
        '9412,"Kabupaten\nMimika",kabupaten,Papua,Asia/Jayapura,\n'  # lines 2-3: one row, a name on two lines
        "\n"  # line 4: blank, skipped
        "9413,Kota X,city,Papua,Asia/Jayapura,\n"
    )  # line 5
    error = refused(text)
    assert error.errors == [
        "line 2: name has control characters or is over 200 characters",
        "line 5: unknown type 'city' (kota or kabupaten)",
    ]


def test_every_problem_of_every_line_and_duplicates_name_the_first_line():
    text = f"{HEADER}\n{ROW}\n12,,kota,Papua,Asia/Tokyo,²\n{ROW}\n{ROW},extra\n"
    error = refused(text)
    assert str(error) == "f.csv: 6 error(s), nothing imported"
    assert error.errors == [
        "line 3: bad bps_code '12' (4 digits)",
        "line 3: missing name",
        "line 3: non-Indonesian timezone 'Asia/Tokyo'",
        "line 3: population '²' is not a whole number",
        "line 4: duplicate bps_code 9412 (first on line 2)",
        "line 5: more fields than the header",
    ]


def test_excel_exports_read_like_plain_files():
    plain = read_rows(f"{HEADER}\n{ROW}\n", RegionRow, "plain")
    excel = read_rows(f"\ufeff{HEADER},catatan\r\n{ROW},x\r\n", RegionRow, "excel")
    assert (
        plain
        == excel
        == [
            RegionRow(
                bps_code="9412",
                name="Kabupaten Mimika",
                type="kabupaten",
                province="Papua",
                timezone="Asia/Jayapura",
                population=311969,
            )
        ]
    )
    renamed = read_rows(
        HEADER.replace("population", "population_2024") + "\n" + ROW + "\n",
        RegionRow,
        "x",
        rename={"population_2024": "population"},
    )
    assert renamed == plain


def test_indicator_rows_are_validated_against_the_registry_given_as_context():
    text = "bps_code,indicator,value,year,source\n3273,readiness,0.8,2017,BPS\n"
    assert read_rows(text, IndicatorRow, "i", context={"known_codes": {"3273"}})[0].key == (
        "3273",
        "readiness",
        2017,
        "BPS",
    )
    error = refused(text, lambda t: read_rows(t, IndicatorRow, "i", context={"known_codes": {"1101"}}))
    assert error.errors == ["line 2: unknown region '3273' (not in the registry)"]
