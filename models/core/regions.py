"""Region registry: validate a whole CSV first, then upsert it in one transaction or not at all."""

from __future__ import annotations

import csv
import io
import re
import zoneinfo
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from smartcity.models.core.errors import BadInput
from smartcity.models.core.tables import Region, RegionBase
from sqlmodel import Session, select

REQUIRED = ("bps_code", "name", "type", "province", "timezone")
TYPES = ("kota", "kabupaten")
#: Keppres 41/1987: WIB, WITA, WIT. Pontianak is WIB too.
INDONESIAN_ZONES = ("Asia/Jakarta", "Asia/Pontianak", "Asia/Makassar", "Asia/Jayapura")
MAX_BYTES = 5 * 1024 * 1024
_CODE = re.compile(r"^[1-9][0-9]{3}$")
_POPULATION_COLUMN = re.compile(r"^population(_\d{4})?$")


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
    csv.field_size_limit(max(csv.field_size_limit(), max_bytes))  # else csv.Error (a traceback) past 128 KiB
    return text


def collect_valid(numbered_rows: Iterable[tuple[int, dict]], parse: Callable[[dict], tuple[Any, list[str]]], *,
                  key: Callable[[Any], Hashable], duplicate: Callable[[Any, int], str]) -> tuple[list, list[str]]:
    """Parse every row of an all-or-nothing import: (valid rows, 'line N: problem' for every bad one).

    A row whose key repeats an earlier valid row's is bad too (`duplicate` says so, naming that line)."""
    valid: list = []
    errors: list[str] = []
    seen: dict[Hashable, int] = {}
    for lineno, row in numbered_rows:
        parsed, problems = parse(row)
        if parsed is not None and key(parsed) in seen:
            problems.append(duplicate(parsed, seen[key(parsed)]))
        if problems:
            errors += [f"line {lineno}: {p}" for p in problems]
        elif parsed is not None:
            seen[key(parsed)] = lineno
            valid.append(parsed)
    return valid, errors


def parse_regions(text: str, source: str = "input") -> list[RegionBase]:
    """Validate every row; raise BadInput listing every bad line, or return all regions."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise BadInput(f"{source}: missing column(s) {', '.join(missing)} (need {','.join(REQUIRED)})")
    pop_cols = [h for h in header if _POPULATION_COLUMN.match(h)]
    if len(pop_cols) > 1:
        raise BadInput(f"{source}: several population columns ({', '.join(pop_cols)}); keep one")
    reader.fieldnames = header
    pop_col = pop_cols[0] if pop_cols else None
    regions, errors = collect_valid(
        enumerate(reader, start=2), lambda row: _parse_row(row, pop_col), key=lambda r: r.bps_code,
        duplicate=lambda r, first: f"duplicate bps_code {r.bps_code} (first on line {first})")
    if errors:
        raise BadInput(f"{source}: {len(errors)} error(s), nothing imported", errors)
    if not regions:
        raise BadInput(f"{source}: no data rows")
    return regions


def _parse_row(row: dict, pop_col: str | None) -> tuple[RegionBase | None, list[str]]:
    if None in row:
        return None, ["more fields than the header"]
    values = {k: (row.get(k) or "").strip() for k in REQUIRED}
    problems = [f"missing {k}" for k, v in values.items() if not v]
    code, rtype, tz = values["bps_code"], values["type"].lower(), values["timezone"]
    if code and not _CODE.match(code):
        problems.append(f"bad bps_code {code!r} (4 digits)")
    if rtype and rtype not in TYPES:
        problems.append(f"unknown type {values['type']!r} (kota or kabupaten)")
    if tz and tz not in INDONESIAN_ZONES:
        known = tz in zoneinfo.available_timezones()
        problems.append(f"{'non-Indonesian' if known else 'unknown IANA'} timezone {tz!r}")
    for k in ("name", "province"):
        if len(values[k]) > 200 or any(not ch.isprintable() for ch in values[k]):
            problems.append(f"{k} has control characters or is over 200 characters")
    population = None
    if pop_col and (raw := (row.get(pop_col) or "").strip()):
        if not (raw.isascii() and raw.isdigit()):  # str.isdigit() takes '²', which int() refuses
            problems.append(f"population {raw!r} is not a whole number")
        else:
            population = int(raw)
    if problems:
        return None, problems
    return RegionBase(bps_code=code, name=values["name"], type=rtype, province=values["province"],
                      timezone=tz, population=population), []


def upsert_regions(session: Session, regions: list[RegionBase], *, now: datetime) -> tuple[int, int]:
    """Insert new codes and update known ones; returns (inserted, updated). Caller commits."""
    existing = {r.bps_code: r for r in session.exec(select(Region)).all()}
    inserted = updated = 0
    for data in regions:
        current = existing.get(data.bps_code)
        if current is None:
            session.add(Region(**data.model_dump(), updated_at=now))
            inserted += 1
            continue
        fields = data.model_dump()
        if any(getattr(current, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(current, k, v)
            current.updated_at = now
            session.add(current)
            updated += 1
    return inserted, updated
