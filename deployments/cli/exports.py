"""`--format csv-id` of the list commands: a CSV that a spreadsheet set to Indonesian opens as it is.

Every export goes through `smartcity.models.infra.csvfile.write_rows` (';' between fields, UTF-8 with a BOM,
decimal commas). `--json` stays the machine format; the two cannot be combined.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer

from smartcity.models.core.errors import BadInput

EXPORT_FORMATS = ("csv-id",)
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="csv-id: ';'-separated CSV, UTF-8 with BOM, decimal comma (a spreadsheet set to Indonesian opens it)",
    ),
]


def export_format(fmt: str | None, as_json: bool) -> str | None:
    """The chosen export format (None: the usual text or --json), refusing an unknown one or both at once."""
    if fmt is None:
        return None
    fmt = fmt.strip().lower()
    if fmt not in EXPORT_FORMATS:
        raise BadInput(f"--format {fmt!r}: one of {', '.join(EXPORT_FORMATS)} (or --json)")
    if as_json:
        raise BadInput(f"--format {fmt} and --json: choose one")
    return fmt


def write_export(rows: Sequence[Mapping[str, Any]], header: list[str]) -> None:
    """Write `rows` as a csv-id export to standard output, as UTF-8 bytes whatever the terminal's encoding."""
    from smartcity.models.infra.csvfile import write_rows

    data = write_rows(rows, header=header, dialect="id").encode("utf-8")
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream (some test runners): it takes the text as it is
        sys.stdout.write(data.decode("utf-8"))
        return
    sys.stdout.flush()
    buffer.write(data)
    buffer.flush()


def review_rows(holders: list[dict]) -> list[dict]:
    """`reviews pending` flattened: one row per open review, with its reviewer."""
    return [
        {"reviewer_id": h["reviewer_id"], "reviewer": h["reviewer"], "institution": h["institution"], **o}
        for h in holders
        for o in h["open"]
    ]


REVIEW_COLUMNS = [
    "reviewer_id",
    "reviewer",
    "institution",
    "region_code",
    "region",
    "round_no",
    "version",
    "assigned_at",
    "assigned_local",
    "waiting_days",
    "waiting_working_days",
]

QUICK_WIN_COLUMNS = [
    "id",
    "bps_code",
    "region",
    "cohort",
    "title",
    "dimension",
    "budget_idr",
    "start_date",
    "verified_by",
    "evidence",
    "kpi",
    "unit",
    "target",
    "actual",
    "lower_is_better",
    "met",
    "progress",
]


def quick_win_rows(wins: list[dict]) -> list[dict]:
    """`quickwin list` flattened: one row per KPI, with its quick win."""
    out = []
    for w in wins:
        base = {**w, "evidence": len(w["evidence"])}
        for k in w["kpis"] or [{}]:
            out.append({**base, "kpi": k.get("name"), **{c: k.get(c) for c in QUICK_WIN_COLUMNS[11:]}})
    return out


DEADLINE_COLUMNS = [
    "id",
    "bps_code",
    "region",
    "kind",
    "key",
    "stage",
    "status",
    "due_at",
    "due_local",
    "extended",
    "done_by",
    "done_local",
]
REGION_COLUMNS = ["bps_code", "name", "type", "province", "timezone", "population"]
