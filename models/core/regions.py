"""Region registry: validate a whole CSV first, then upsert it in one transaction or not at all."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from datetime import datetime
from functools import cache

import sqlalchemy as sa
from pydantic import ValidationInfo, field_validator
from sqlmodel import Session, select

from smartcity.models.core.errors import BadInput, NotFound
from smartcity.models.core.tables import Region, RegionBase
from smartcity.models.infra.csvfile import MAX_BYTES, CsvRow, csv_header, read_csv_text, read_rows

__all__ = [
    "INDONESIAN_ZONES",
    "MAX_BYTES",
    "TYPES",
    "RegionRow",
    "parse_regions",
    "read_csv_text",
    "resolve_region",
    "upsert_regions",
]

TYPES = ("kota", "kabupaten")
#: Keppres 41/1987: WIB, WITA, WIT. Pontianak is WIB too.
INDONESIAN_ZONES = ("Asia/Jakarta", "Asia/Pontianak", "Asia/Makassar", "Asia/Jayapura")
_CODE = re.compile(r"^[1-9][0-9]{3}$")
_POPULATION_COLUMN = re.compile(r"^population(_\d{4})?$")


class RegionRow(CsvRow):
    """One line of a region file: bps_code,name,type,province,timezone[,population or population_YYYY]."""

    bps_code: str
    name: str
    type: str
    province: str
    timezone: str
    population: int | None = None

    @field_validator("bps_code")
    @classmethod
    def _four_digits(cls, code: str) -> str:
        """A BPS code of a kabupaten/kota: four digits, not starting with 0."""
        if not _CODE.match(code):
            raise ValueError(f"bad bps_code {code!r} (4 digits)")
        return code

    @field_validator("type")
    @classmethod
    def _kota_or_kabupaten(cls, rtype: str) -> str:
        """'kota' or 'kabupaten', in any case."""
        if rtype.lower() not in TYPES:
            raise ValueError(f"unknown type {rtype!r} (kota or kabupaten)")
        return rtype.lower()

    @field_validator("timezone")
    @classmethod
    def _indonesian_zone(cls, tz: str) -> str:
        """One of Indonesia's IANA zones."""
        if tz not in INDONESIAN_ZONES:
            raise ValueError(f"{'non-Indonesian' if tz in _iana_zones() else 'unknown IANA'} timezone {tz!r}")
        return tz

    @field_validator("name", "province")
    @classmethod
    def _printable(cls, text: str, info: ValidationInfo) -> str:
        """Printable text of at most 200 characters."""
        if len(text) > 200 or any(not ch.isprintable() for ch in text):
            raise ValueError(f"{info.field_name} has control characters or is over 200 characters")
        return text

    @field_validator("population", mode="before")
    @classmethod
    def _whole_number(cls, raw: object) -> int:
        """ASCII digits only: str.isdigit() and int() would also take '²' or '٣٤'."""
        text = str(raw)
        if not (text.isascii() and text.isdigit()):
            raise ValueError(f"population {text!r} is not a whole number")
        return int(text)

    def row_key(self) -> str:
        """One row per BPS code."""
        return self.bps_code

    def duplicate_of(self, first_line: int) -> str:
        """The problem of a second row for the same code."""
        return f"duplicate bps_code {self.bps_code} (first on line {first_line})"


@cache
def _iana_zones() -> frozenset[str]:
    """Every zone name the system knows (read once: it walks the zoneinfo tree)."""
    return frozenset(zoneinfo.available_timezones())


def parse_regions(text: str, source: str = "input") -> list[RegionBase]:
    """Validate every row; raise BadInput listing every bad line, or return all regions."""
    pop_cols = [h for h in csv_header(text) if _POPULATION_COLUMN.match(h)]
    if len(pop_cols) > 1:
        raise BadInput(f"{source}: several population columns ({', '.join(pop_cols)}); keep one")
    rename = {pop_cols[0]: "population"} if pop_cols else None
    return [RegionBase(**row.model_dump()) for row in read_rows(text, RegionRow, source, rename=rename)]


def upsert_regions(session: Session, regions: list[RegionBase], *, now: datetime) -> tuple[int, int]:
    """Insert new codes and update known ones; returns (inserted, updated). Caller commits.

    New codes go in as one multi-row INSERT of the validated rows: building a table object per region (and
    flushing them one by one) took most of the time of loading the 514-region registry."""
    existing = {r.bps_code: r for r in session.exec(select(Region)).all()}
    new = [{**data.model_dump(), "updated_at": now} for data in regions if data.bps_code not in existing]
    if new:
        session.connection().execute(sa.insert(Region), new)
    inserted, updated = len(new), 0
    for data in regions:
        current = existing.get(data.bps_code)
        if current is None:
            continue
        fields = data.model_dump()
        if any(getattr(current, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(current, k, v)
            current.updated_at = now
            session.add(current)
            updated += 1
    return inserted, updated


def resolve_region(session: Session, text: str) -> Region:
    """The region a coordinator named, by BPS code or by name (any case); NotFound with a near miss if any."""
    wanted = " ".join(text.split())
    if not wanted:
        raise BadInput("name a region: a BPS code (e.g. 3372) or a name (e.g. Kota Surakarta)")
    by_code = session.exec(select(Region).where(Region.bps_code == wanted)).first()
    if by_code is not None:
        return by_code
    regions = session.exec(select(Region)).all()
    by_name = {r.name.casefold(): r for r in regions}
    if wanted.casefold() in by_name:
        return by_name[wanted.casefold()]
    raise NotFound(unknown_region_message(wanted, list(regions)))


def unknown_region_message(wanted: str, regions: list[Region]) -> str:
    """`unknown region ...`, with the closest names (difflib) when some are near enough to be a typo."""
    if _CODE.match(wanted):  # a well-formed code that is simply absent: a near code would be a guess
        return f"unknown region {wanted} (no region with this BPS code in the registry)"
    if not regions:
        return f"unknown region {wanted!r}: the registry is empty (import it with `smartcity regions import`)"
    near = near_regions(wanted, regions)
    if near:
        return f"unknown region {wanted!r}; did you mean {' or '.join(f'{r.name} ({r.bps_code})' for r in near)}?"
    return f"unknown region {wanted!r} (not a BPS code or a region name in the registry)"


def near_regions(wanted: str, regions: list[Region], limit: int = 3) -> list[Region]:
    """Regions whose name, with or without its Kota/Kabupaten prefix, is close to `wanted`."""
    labels: dict[str, list[Region]] = {}
    for r in regions:
        labels.setdefault(r.name.casefold(), []).append(r)
        bare = r.name.split(" ", 1)[1] if r.name.split(" ", 1)[0].lower() in TYPES and " " in r.name else r.name
        labels.setdefault(bare.casefold(), []).append(r)
    found: dict[str, Region] = {}
    for label in difflib.get_close_matches(wanted.casefold(), list(labels), n=limit, cutoff=0.8):
        found.update((r.bps_code, r) for r in labels[label])
    return list(found.values())[:limit]
