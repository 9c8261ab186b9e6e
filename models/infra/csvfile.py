"""All-or-nothing CSV imports: one reader, pydantic row models, and a 'line N: problem' for every bad line.

What Excel saves is accepted as it is: a UTF-8 BOM, CRLF line ends, extra columns, Unicode text. A file saved
with ';' between its fields (Excel does that in comma-decimal locales) is refused with that explanation.
Line numbers are the file's own lines, as an editor shows them: a quoted field may span several lines, and
a row is reported at the line where it starts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from smartcity.models.core.errors import BadInput

MAX_BYTES = 5 * 1024 * 1024


class CsvRow(BaseModel):
    """Base of a row model: cells arrive stripped, a blank cell is absent, columns not named here are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    def row_key(self) -> Hashable | None:
        """What two rows of one file may not share (None: any number of equal rows)."""
        return None

    def duplicate_of(self, first_line: int) -> str:
        """The problem reported for a row whose key repeats the row on `first_line`."""
        return f"duplicate of line {first_line}"


Row = TypeVar("Row", bound=CsvRow)


def read_csv_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """Read a CSV file as UTF-8 (a BOM is accepted), refusing huge, empty or mis-encoded files."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise BadInput(f"{path}: {size} bytes is over the {max_bytes} byte limit for an import")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not UTF-8 (byte {exc.start}); save the file as UTF-8") from None
    if not text.strip():
        raise BadInput(f"{path}: the file is empty")
    if "\x00" in text:
        raise BadInput(f"{path}: contains NUL bytes; not a text CSV")
    _allow_fields_up_to(max_bytes)
    return text


def _allow_fields_up_to(size: int) -> None:
    """Lift the csv module's 128 KiB field limit (past it: csv.Error, a traceback); the file's size bounds it."""
    csv.field_size_limit(max(csv.field_size_limit(), size))


def csv_header(text: str) -> list[str]:
    """The column names of a CSV text (stripped; a BOM is dropped)."""
    return [h.strip() for h in next(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")), [])]


def read_rows(
    text: str,
    model: type[Row],
    source: str,
    *,
    context: Mapping[str, Any] | None = None,
    rename: Mapping[str, str] | None = None,
) -> list[Row]:
    """Validate every row of `text` as `model`; raise BadInput listing every bad line, or return all rows.

    `context` reaches the model's validators (pydantic's validation context); `rename` maps a column of
    the file to a field of the model."""
    need = ",".join(name for name, f in model.model_fields.items() if f.is_required())
    if not text.strip():
        raise BadInput(f"{source}: the file is empty", [f"line 1: no header (need {need})"])
    _allow_fields_up_to(len(text))
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = [(rename or {}).get(h, h) for h in (h.strip() for h in next(reader, []))]
    _check_header(header, model, source, text)
    rows: list[Row] = []
    errors: list[str] = []
    seen: dict[Hashable, int] = {}
    for line, cells in _records(reader, source):
        row, problems = _validate(model, header, cells, context)
        key = row.row_key() if row is not None else None
        if row is not None and key is not None and key in seen:
            problems, row = [row.duplicate_of(seen[key])], None
        errors += [f"line {line}: {p}" for p in problems]
        if row is not None:
            if key is not None:
                seen[key] = line
            rows.append(row)
    if errors:
        raise BadInput(f"{source}: {len(errors)} error(s), nothing imported", errors)
    if not rows:
        raise BadInput(f"{source}: no data rows, nothing imported", ["line 2: no data rows after the header"])
    return rows


def _check_header(header: list[str], model: type[CsvRow], source: str, text: str) -> None:
    """Refuse a header that lacks a required column, saying so when the file is ';'-separated."""
    required = [name for name, f in model.model_fields.items() if f.is_required()]
    missing = [c for c in required if c not in header]
    if not missing:
        return
    first = text.removeprefix("\ufeff").splitlines()[0]
    by_semicolon = [h.strip() for h in next(csv.reader([first], delimiter=";"))]
    if len(by_semicolon) > len(header) and any(c in by_semicolon for c in required):
        raise BadInput(
            f"{source}: the file uses ';' as its delimiter; save it as CSV with ',' between fields, nothing imported",
            [f"line 1: header {first!r} is split by ';', not ','"],
        )
    raise BadInput(
        f"{source}: missing column(s) {', '.join(missing)} (need {','.join(required)}), nothing imported",
        [f"line 1: header {','.join(header)!r} lacks {', '.join(missing)}"],
    )


def _records(reader: Any, source: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, its cells) for each non-blank row after the header."""
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise BadInput(f"{source}: line {start}: {exc}, nothing imported") from None
        if cells:  # a blank line: the csv module gives [], and a spreadsheet shows an empty row
            yield start, cells


def _validate(
    model: type[Row], header: list[str], cells: list[str], context: Mapping[str, Any] | None
) -> tuple[Row | None, list[str]]:
    """One row as the model, or its problems (every one, in column order)."""
    if len(cells) > len(header):
        return None, ["more fields than the header"]
    values = {name: cell.strip() for name, cell in zip(header, cells, strict=False) if cell.strip()}
    try:
        return model.model_validate(values, context=dict(context or {})), []
    except ValidationError as exc:
        return None, [_problem(e) for e in exc.errors()]


def _problem(error: ErrorDetails) -> str:
    """A pydantic error as the importer's words: a validator's own message, or 'missing <column>'."""
    field = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f"missing {field}"
    if error["type"] == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    return f"{field}: {error['msg']}"


# --- Writing: one writer for every export -------------------------------------------------------------------

#: Export dialects: `id` opens in a spreadsheet set to Indonesian (Excel there splits on ';' and reads ','
#: as the decimal mark, and needs the BOM to read UTF-8); `en` is the plain comma CSV that tools expect.
CSV_DIALECTS: dict[str, dict[str, Any]] = {
    "id": {"delimiter": ";", "decimal": ",", "bom": "\ufeff", "lineterminator": "\r\n"},
    "en": {"delimiter": ",", "decimal": ".", "bom": "", "lineterminator": "\n"},
}


def csv_cell(value: Any, decimal: str = ".") -> Any:
    """One cell as text: formulas neutralised (a name starting with '=' stays text), floats with `decimal`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value).replace(".", decimal) if decimal != "." else repr(value)
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    """'-3' or '+1.5' is a number, not a formula, and stays as it is."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_rows(rows: Sequence[Mapping[str, Any]], *, header: list[str] | None = None, dialect: str = "id") -> str:
    """Rows (dicts) as CSV text in `dialect` (see CSV_DIALECTS); columns are `header` or the first row's keys."""
    if dialect not in CSV_DIALECTS:
        raise BadInput(f"CSV dialect {dialect!r}: one of {', '.join(CSV_DIALECTS)}")
    d = CSV_DIALECTS[dialect]
    columns = header if header is not None else list(rows[0]) if rows else []
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=d["delimiter"], lineterminator=d["lineterminator"])
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(c), d["decimal"]) for c in columns])
    return d["bom"] + out.getvalue()
