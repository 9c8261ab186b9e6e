"""`smartcity quickwin ...`: register a quick win, attach evidence, verify it, list them.

Register with `app.add_typer(cli_quickwins.app, name="quickwin")` in deployments/cli/app.py.
None of these commands imports Prefect: they write through the domain and queue their events
in the outbox (`smartcity events flush` publishes them).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from smartcity.models.core.errors import BadInput

app = typer.Typer(no_args_is_help=True, help="Quick wins: register, attach evidence, verify, list.")

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _now() -> datetime:
    return datetime.now(UTC)


def _emit(data: Any, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False) if as_json else text)


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BadInput(f"--start {value!r}: give a date as YYYY-MM-DD") from None


@app.command("register")
def register(
    code: str,
    title: Annotated[str, typer.Option("--title")],
    dimension: Annotated[str, typer.Option("--dimension", help="governance|branding|economy|living|society|"
                                                                "environment")],
    budget: Annotated[int, typer.Option("--budget", help="budget in rupiah (IDR), a whole number >= 0")],
    start: Annotated[str, typer.Option("--start", help="start date, YYYY-MM-DD")],
    kpi: Annotated[list[str], typer.Option("--kpi", help="name:unit:target[:actual]; repeat for several")],
    actor: Annotated[str, typer.Option("--actor")],
    description: Annotated[str | None, typer.Option("--description")] = None,
    cohort: Annotated[str | None, typer.Option("--cohort")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a quick win for a region whose masterplan is completed."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.quickwins.ops import parse_kpi, register_quick_win

    kpis = [parse_kpi(k) for k in kpi]
    if not kpis:
        raise BadInput("give at least one --kpi name:unit:target[:actual]")
    data = {"title": title, "description": description, "dimension": dimension, "budget_idr": budget,
            "start_date": _date(start), "kpis": [k.model_dump() for k in kpis]}
    with session_scope() as session:
        qw = register_quick_win(session, code, data, actor, _now(), cohort)
        out = {"id": qw.id, "bps_code": code.strip(), "title": qw.title, "dimension": qw.dimension}
    _emit(out, as_json, f"quick win {out['id']} registered for region {out['bps_code']}: {out['title']}")


@app.command("evidence")
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
        row = add_evidence(session, quick_win_id, actor=actor, now=_now(), url=url, file=file,
                           provided_sha256=sha256)
        out = {"id": row.id, "quick_win_id": quick_win_id, "kind": row.kind, "sha256": row.sha256}
    _emit(out, as_json, f"quick win {quick_win_id}: {out['kind']} evidence recorded (sha256 {out['sha256']})")


@app.command("verify")
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
    _emit(out, as_json, f"quick win {quick_win_id} verified by {out['verified_by']}")


@app.command("list")
def list_(code: Annotated[str | None, typer.Argument()] = None, as_json: JsonOpt = False) -> None:
    """List quick wins (of one region), with KPIs and verification."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.quickwins.ops import list_quick_wins

    with session_scope() as session:
        rows = list_quick_wins(session, code)
    lines = []
    for r in rows:
        state = f"verified by {r['verified_by']}" if r["verified_by"] else "not verified"
        kpis = ", ".join(f"{k['name']} {_num(k['actual'])}/{_num(k['target'])} {k['unit']}" for k in r["kpis"])
        lines.append(f"{r['id']:>4}  {r['bps_code']} {r['region']:<28} {r['title']} [{r['dimension']}] "
                     f"Rp {r['budget_idr'] or 0:,} | {len(r['evidence'])} evidence | {state}"
                     + (f"\n      KPIs: {kpis}" if kpis else ""))
    _emit(rows, as_json, "\n".join(lines) or "no quick wins yet")


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}"
