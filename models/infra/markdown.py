"""GitHub-flavoured Markdown tables for Prefect artifacts and reports. Pure.

Every cell goes through `md_cell`: text from the database (a reason, a region's name) can hold `|`, which
would split the row into extra columns, a newline, which would end the table, or HTML, which a renderer
would run. The one helper keeps every table of the project safe in the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any, Literal

Align = Literal["left", "right", "center"] | None
_RULES = {None: "---", "left": ":---", "right": "---:", "center": ":---:"}


def md_cell(value: Any) -> str:
    """A Markdown table cell: escaped HTML, escaped pipes, one line; None is '-'."""
    if value is None:
        return "-"
    text = escape(str(value), quote=False)
    return text.replace("|", "\\|").replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def md_table(header: Sequence[Any], rows: Sequence[Sequence[Any]], align: Sequence[Align] | None = None) -> str:
    """A Markdown table; `align` gives each column's alignment (None: the renderer's default)."""
    aligns = list(align or [])
    if len(aligns) > len(header):
        raise ValueError(f"{len(aligns)} alignments for {len(header)} columns")
    aligns += [None] * (len(header) - len(aligns))
    lines = [_row(header), "|" + "|".join(_RULES[a] for a in aligns) + "|"]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row of {len(row)} cells in a table of {len(header)} columns")
        lines.append(_row(row))
    return "\n".join(lines)


def _row(cells: Sequence[Any]) -> str:
    """One table line."""
    return "| " + " | ".join(md_cell(c) for c in cells) + " |"
