"""`smartcity quickwin ...`: register a quick win, attach evidence, verify it, list them.

None of these commands imports Prefect: they write through the domain and queue their events
in the outbox (`smartcity events flush` publishes them).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from smartcity.deployments.cli.common import JsonOpt, emit, group, region_code
from smartcity.deployments.cli.exports import QUICK_WIN_COLUMNS, FormatOpt, export_format, quick_win_rows, write_export
from smartcity.models.core.errors import BadInput
from smartcity.models.core.money import rupiah

quickwin_app = group("quickwin", "Quick wins: register, attach evidence, verify, list.")


def _now() -> datetime:
    return datetime.now(UTC)


def _date(value: str) -> date:
    """--start as a date; the message says whether the shape or the day is wrong."""
    text = value.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):  # the right shape, but no such day (2027-02-30)
            raise BadInput(f"--start {text} is not a date: no such day in the calendar") from None
        raise BadInput(f"--start {value!r}: give a date as YYYY-MM-DD") from None


@quickwin_app.command("register")
def register(
    code: str,
    title: Annotated[str, typer.Option("--title")],
    dimension: Annotated[
        str, typer.Option("--dimension", help="governance|branding|economy|living|society|environment")
    ],
    budget: Annotated[int, typer.Option("--budget", min=0, help="budget in rupiah (IDR), a whole number >= 0")],
    start: Annotated[str, typer.Option("--start", help="start date, YYYY-MM-DD")],
    kpi: Annotated[
        list[str],
        typer.Option(
            "--kpi",
            help="name:unit:target[:actual][:lower|higher]; 'lower' when less is better (a service time): "
            "the target is then a ceiling. Repeat for several.",
        ),
    ],
    actor: Annotated[str, typer.Option("--actor")],
    description: Annotated[str | None, typer.Option("--description")] = None,
    cohort: Annotated[str | None, typer.Option("--cohort")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a quick win for a region whose masterplan is completed."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.quickwins.ops import KPI_SHAPE, parse_kpi, register_quick_win

    kpis = [parse_kpi(k) for k in kpi]
    if not kpis:
        raise BadInput(f"give at least one --kpi {KPI_SHAPE}")
    data = {
        "title": title,
        "description": description,
        "dimension": dimension,
        "budget_idr": budget,
        "start_date": _date(start),
        "kpis": [k.model_dump() for k in kpis],
    }
    code = region_code(code)
    with session_scope() as session:
        qw = register_quick_win(session, code, data, actor, _now(), cohort)
        out = {"id": qw.id, "bps_code": code, "title": qw.title, "dimension": qw.dimension}
    emit(out, as_json, f"quick win {out['id']} registered for region {out['bps_code']}: {out['title']}")


@quickwin_app.command("evidence")
def evidence(
    quick_win_id: Annotated[int, typer.Argument(metavar="ID")],
    actor: Annotated[str, typer.Option("--actor")],
    url: Annotated[str | None, typer.Option("--url", help="a public document URL (not fetched)")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="a file; its SHA-256 is recorded")] = None,
    sha256: Annotated[str | None, typer.Option("--sha256", help="the URL document's SHA-256, if known")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Attach evidence to a quick win: a URL or a file, with its SHA-256."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.quickwins.ops import add_evidence

    with session_scope() as session:
        row = add_evidence(session, quick_win_id, actor=actor, now=_now(), url=url, file=file, provided_sha256=sha256)
        out = {"id": row.id, "quick_win_id": quick_win_id, "kind": row.kind, "sha256": row.sha256}
    emit(out, as_json, f"quick win {quick_win_id}: {out['kind']} evidence recorded (sha256 {out['sha256']})")


@quickwin_app.command("verify")
def verify(
    quick_win_id: Annotated[int, typer.Argument(metavar="ID")],
    coordinator: Annotated[str, typer.Option("--coordinator", help="your name: you vouch for this quick win")],
    check: Annotated[list[str] | None, typer.Option("--check", help="a checklist item you confirm")] = None,
    all_checks: Annotated[bool, typer.Option("--all-checks", help="confirm every checklist item")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Verify a quick win; every checklist item must be ticked and evidence attached."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.quickwins.ops import DEFAULT_CHECKLIST, verify_quick_win

    ticked = list(DEFAULT_CHECKLIST) if all_checks else [c.strip() for c in (check or [])]
    with session_scope() as session:
        qw = verify_quick_win(session, quick_win_id, coordinator, {c: True for c in ticked}, _now())
        out = {"id": qw.id, "verified_by": qw.verified_by, "verified_at": qw.verified_at}
    emit(out, as_json, f"quick win {quick_win_id} verified by {out['verified_by']}")


@quickwin_app.command("list")
def list_(
    code: Annotated[str | None, typer.Argument()] = None, as_json: JsonOpt = False, fmt: FormatOpt = None
) -> None:
    """List quick wins (of one region), with KPIs and verification."""
    export = export_format(fmt, as_json)
    from smartcity.models.infra.db import session_scope
    from smartcity.models.quickwins.ops import list_quick_wins

    code = region_code(code) if code is not None else None
    with session_scope() as session:
        rows = list_quick_wins(session, code)
    if export:
        return write_export(quick_win_rows(rows), QUICK_WIN_COLUMNS)
    lines = []
    for r in rows:
        state = f"verified by {r['verified_by']}" if r["verified_by"] else "not verified"
        kpis = "; ".join(f"{k['name']}: {k['progress']}" for k in r["kpis"])
        lines.append(
            f"{r['id']:>4}  {r['bps_code']} {r['region']:<28} {r['title']} [{r['dimension']}] "
            f"{rupiah(r['budget_idr'])} | {len(r['evidence'])} evidence | {state}"
            + (f"\n      KPIs: {kpis}" if kpis else "")
        )
    emit(rows, as_json, "\n".join(lines) or "no quick wins yet")
