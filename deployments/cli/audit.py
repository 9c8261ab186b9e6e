"""`smartcity audit verify|anchor|export`: tamper evidence, anchors of the chains' heads, and the full record for
auditors (no secrets)."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from smartcity.deployments.cli.common import group
from smartcity.models.core.errors import BadInput, DomainRefused

if TYPE_CHECKING:
    from smartcity.models.core.audit import Anchor

audit_app = group("audit", "Tamper evidence and export of the audit record.")


@audit_app.command("verify")
def verify(
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            help="an anchor file written by `audit anchor`, or `prefect` for the latest audit-anchor "
            "artifact: also fail when a chain lost its anchored head",
        ),
    ] = None,
) -> None:
    """Recompute every hash chain, check each region against the end of its chain, and name the first
    problem (exit 1); with --against, also check that no anchored head is gone."""
    from smartcity.models.core.audit import check_anchor
    from smartcity.models.core.audit import verify as verify_chains
    from smartcity.models.infra.db import session_scope

    anchor = _read_anchor(against) if against else None  # bad input fails before the database is read
    with session_scope() as session:
        checked, problem = verify_chains(session)
        if problem is None and anchor is not None:
            problem = check_anchor(session, anchor)
    if problem:
        raise DomainRefused(f"audit chain broken after checking {checked} row(s): {problem}")
    held = f"; anchor of {anchor.taken_at.isoformat()} holds ({len(anchor.chains)} chain head(s))" if anchor else ""
    typer.echo(f"audit chain intact: {checked} row(s) checked{held}")


@audit_app.command("anchor")
def anchor(
    out: Annotated[Path, typer.Option("--out", help="file to write; keep it outside the application database's reach")],
) -> None:
    """Write the head of every chain to a JSON file, to check the database against later (`verify --against`)."""
    from smartcity.models.core.audit import anchor_json, masked_url, take_anchor
    from smartcity.models.infra.db import session_scope
    from smartcity.models.infra.settings import get_settings

    if out.is_dir():
        raise BadInput(f"--out {out} is a directory: name a file")
    with session_scope() as session:
        taken = take_anchor(session, now=datetime.now(UTC), database=masked_url(get_settings().resolved_database_url()))
    _write_atomically(out, anchor_json(taken) + "\n")
    typer.echo(f"wrote audit anchor of {len(taken.chains)} chain(s) to {out}")


def _write_atomically(path: Path, text: str) -> None:
    """Write beside the target, then rename: a reader sees the old anchor or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as tmp:
        tmp.write(text)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


def _read_anchor(against: str) -> Anchor:
    """The anchor named by --against: a file, or `prefect` for the latest artifact; BadInput when unreadable."""
    from smartcity.models.core.audit import parse_anchor

    if against == "prefect":
        return _anchor_from_prefect()
    path = Path(against)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read anchor file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_anchor(text, source=str(path))


def _anchor_from_prefect() -> Anchor:
    """The latest `audit-anchor` artifact, read through the Prefect client."""
    import asyncio

    from smartcity.deployments.runtime import prefect_link
    from smartcity.models.core.audit import anchor_from_markdown

    url = prefect_link.api_url()
    problem = prefect_link.health(url)
    if problem:
        raise BadInput(f"cannot read the audit anchor: the Prefect API at {url} {problem}")
    prefect_link.use_api(url)
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

    from smartcity.tasks.audit import ANCHOR_KEY

    async def latest() -> list:
        async with get_client() as client:
            return await client.read_latest_artifacts(
                artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[ANCHOR_KEY])), limit=1
            )

    found = asyncio.run(latest())
    if not found:
        raise BadInput(f"no {ANCHOR_KEY!r} artifact on the Prefect API at {url}: the deadline sweep publishes it")
    return anchor_from_markdown(found[0].data, source=f"Prefect artifact {ANCHOR_KEY!r}")


@audit_app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "json",
    out: Annotated[Path | None, typer.Option(help="file to write (default: standard output)")] = None,
) -> None:
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
