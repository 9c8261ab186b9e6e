"""Markdown tables: one helper escapes `|`, newlines and HTML, so free text cannot break a table's columns."""

from __future__ import annotations

import re

import pytest

from smartcity.models.infra.markdown import md_cell, md_table
from smartcity.models.reports.render import region_file_markdown

HOSTILE = "split | the row\nand end the table <img src=x onerror=alert(1)>"


def cells(line: str) -> list[str]:
    """The cells of one Markdown table line, as a GitHub renderer splits them (on pipes not escaped)."""
    assert line.startswith("|") and line.endswith("|"), line
    return re.split(r"(?<!\\)\|", line[1:-1])


def table_lines(markdown: str) -> list[str]:
    """The lines of the (one) table in a Markdown text."""
    return [line for line in markdown.splitlines() if line.startswith("|")]


def test_cell_escapes_pipes_newlines_and_html():
    assert md_cell(HOSTILE) == "split \\| the row and end the table &lt;img src=x onerror=alert(1)&gt;"
    assert md_cell(None) == "-" and md_cell(3) == "3" and md_cell("a\r\nb") == "a b"


def test_table_keeps_its_columns_and_alignment():
    table = md_table(["what", "count"], [[HOSTILE, 1], ["b", None]], align=[None, "right"])
    lines = table.splitlines()
    assert len(lines) == 4 and lines[1] == "|---|---:|"
    assert all(len(cells(line)) == 2 for line in lines)
    with pytest.raises(ValueError, match="2 columns"):
        md_table(["a", "b"], [["only one"]])


def test_region_file_with_a_pipe_and_a_newline_in_a_reason_keeps_five_columns():
    rows = [
        {
            "at": "2017-05-01T01:00:00+00:00",
            "at_local": "2017-05-01 08:00 WIB",
            "from": None,
            "to": "nominated",
            "actor": "ani",
            "reason": None,
        },
        {
            "at": "2017-06-01T01:00:00+00:00",
            "at_local": "2017-06-01 08:00 WIB",
            "from": "nominated",
            "to": "selected",
            "actor": "ani",
            "reason": "score 0.8 | rank 3\nsee the ranking",
        },
    ]
    markdown = region_file_markdown("3273", rows)
    assert markdown.startswith("# Region file 3273: closed\n\n")
    lines = table_lines(markdown)
    assert len(lines) == 2 + len(rows)  # header, rule, one line per transition: the newline did not split a row
    assert [len(cells(line)) for line in lines] == [5, 5, 5, 5]
    assert cells(lines[3])[4].strip() == "score 0.8 \\| rank 3 see the ranking"
    assert cells(lines[2])[1:5] == [" - ", " nominated ", " ani ", "  "]  # no reason: an empty cell
    assert cells(lines[2])[0] == " 2017-05-01 08:00 WIB " and "local time" in lines[0]  # the region's clock
