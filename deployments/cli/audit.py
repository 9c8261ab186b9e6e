"""`smartcity audit verify|export`: tamper evidence and the full record for auditors (no secrets)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated

import typer
from smartcity.models.core.errors import BadInput, DomainRefused

app = typer.Typer(no_args_is_help=True, help="Tamper evidence and export of the audit record.")


@app.command("verify")
def verify() -> None:
    """Recompute every hash chain and name the first broken link (exit 1 when one is broken)."""
    from smartcity.models.core.audit import verify as verify_chains
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        checked, problem = verify_chains(session)
    if problem:
        raise DomainRefused(f"audit chain broken after checking {checked} row(s): {problem}")
    typer.echo(f"audit chain intact: {checked} row(s) checked")


@app.command("export")
def export(fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "json",
           out: Annotated[Path | None, typer.Option(help="file to write (default: standard output)")] = None) -> None:
    """Every audited act, oldest first: stage changes, review decisions, deadline extensions, sends."""
    from smartcity.models.core.audit import export_rows
    from smartcity.models.infra.db import session_scope

    if fmt not in ("csv", "json"):
        raise BadInput(f"--format must be csv or json (got {fmt!r})")
    with session_scope() as session:
        rows = export_rows(session)
    text = json.dumps(rows, indent=2, ensure_ascii=False) if fmt == "json" else _csv(rows)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {len(rows)} audit row(s) to {out}")


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    fields = ["record", "id", "at", "actor", "kind", "subject", "detail", "prev_hash", "row_hash"]
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
