"""`smartcity indicators import` and `smartcity cohort select|whatif`: cohort selection from the command line.

Read-only paths (import, --dry-run, whatif) do not import Prefect.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from smartcity.deployments.cli.common import JsonOpt, emit, group
from smartcity.models.core.errors import BadInput

indicators_app = group("indicators", "Indicator values used to select cohorts.")
cohort_app = group("cohort")

YearOpt = Annotated[int | None, typer.Option("--year", help="indicator year (default: latest up to the cohort's)")]
SourceOpt = Annotated[str | None, typer.Option("--source", help="use only values from this source")]


@indicators_app.command("import")
def indicators_import(file: Path, as_json: JsonOpt = False) -> None:
    """Upsert indicator values from a CSV (bps_code,indicator,value,year,source); all or nothing."""
    from smartcity.models.core.regions import read_csv_text
    from smartcity.models.infra.db import session_scope
    from smartcity.models.selection.indicators import (
        ILLUSTRATIVE_LABEL,
        known_region_codes,
        parse_indicators,
        upsert_indicators,
    )

    text = read_csv_text(file)
    with session_scope() as session:
        rows = parse_indicators(text, str(file), known_region_codes(session))
        counts = upsert_indicators(session, rows, now=datetime.now(UTC))
    sources = sorted({r.source for r in rows})
    illustrative = any("illustrative" in s.lower() or "simulated" in s.lower() for s in sources)
    text_out = (
        f"imported {len(rows)} indicator values from {file.name}: {counts['inserted']} new, "
        f"{counts['updated']} updated, {counts['unchanged']} unchanged"
    )
    if illustrative:
        text_out += f"\nnote: {ILLUSTRATIVE_LABEL} (source: {'; '.join(sources)})"
    emit({**counts, "rows": len(rows), "sources": sources, "illustrative": illustrative}, as_json, text_out)


def _policy(path: Path | None, cohort: str):
    """The policy file given, else the cohort's program's own policy."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.programs.store import selection_policy

    with session_scope() as session:
        return selection_policy(session, cohort, path)


def ranking_text(summary: dict[str, Any]) -> str:
    """The ranking as an aligned text table, with the illustrative label first when it applies."""
    from smartcity.models.selection.indicators import ILLUSTRATIVE_LABEL

    lines = [f"*** {ILLUSTRATIVE_LABEL}: not official data ***"] if summary["illustrative"] else []
    lines.append(
        f"cohort {summary['cohort']}, policy {summary['policy']}: {len(summary['selected'])} selected "
        f"of {len(summary['ranking'])} nominees"
    )
    lines.append(
        f"{'rank':>4} {'code':<4} {'name':<32} {'province':<24} {'island group':<22} {'total':>6} "
        f"{'selected':<8} equity rule"
    )
    for r in summary["ranking"]:
        total = f"{r['total']:.3f}" if r["total"] is not None else "-"
        lines.append(
            f"{r['rank'] if r['rank'] is not None else '-':>4} {r['bps_code']:<4} {r['name'][:32]:<32} "
            f"{r['province'][:24]:<24} {r['island_group']:<22} {total:>6} "
            f"{'yes' if r['selected'] else 'no':<8} {r['equity_rule'] or '-'}"
        )
    lines += [f"note: {n}" for n in summary["notes"]]
    return "\n".join(lines)


@cohort_app.command("select")
def cohort_select(
    name: str,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="selection policy TOML (default: the cohort's program's)")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the ranking, change nothing")] = False,
    actor: Annotated[str | None, typer.Option("--actor", help="who applies the selection")] = None,
    year: YearOpt = None,
    source: SourceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rank a cohort's nominees by the policy; without --dry-run, record selected / not_selected."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.selection.indicators import plan_selection

    pol = _policy(policy, name)  # an invalid file stops here: one line, exit 2, nothing touched
    with session_scope() as session:
        plan = plan_selection(session, name, pol, year=year, source=source)
    if dry_run:
        summary = plan.summary([])
        emit({**summary, "dry_run": True}, as_json, ranking_text(summary) + "\ndry run: nothing changed")
        _warn(summary["warnings"])
        return
    actor = (actor or "").strip()
    if not actor:
        raise BadInput("--actor must name who applies the selection (or use --dry-run)")
    summary = _apply(name, str(policy.resolve()) if policy else None, actor, year, source)
    done = (
        f"applied: {summary['applied']} change(s), {summary['duplicate']} already recorded, "
        f"{summary['unchanged']} unchanged, {len(summary['refused'])} refused"
    )
    emit(
        summary,
        as_json,
        ranking_text(summary) + "\n" + done + "".join(f"\n  refused {r}" for r in summary["refused"][:50]),
    )
    _warn(summary.get("warnings", []))
    if summary["refused"]:
        raise typer.Exit(1)


def _warn(warnings: list[str]) -> None:
    """Missing-data exclusions on stderr, where they are not lost in a long ranking."""
    for line in warnings:
        typer.echo(f"WARNING: {line}", err=True)


def _apply(name: str, policy_path: str | None, actor: str, year: int | None, source: str | None) -> dict:
    """Through the select-cohort flow when a Prefect API answers, else the domain directly (events wait)."""

    from smartcity.deployments.runtime.runner import EVENTS_WAIT, flow_result, run_operation

    async def as_flow() -> dict:
        from smartcity.flows.select_cohort import select_cohort

        return flow_result(await select_cohort(name, actor, policy_path, year, source))

    def in_process() -> dict:
        from smartcity.models.infra.db import session_scope
        from smartcity.models.selection.indicators import apply_selection, plan_selection

        with session_scope() as session:
            plan = plan_selection(
                session, name, _policy(Path(policy_path) if policy_path else None, name), year=year, source=source
            )
            return apply_selection(session, plan, actor, now=datetime.now(UTC))

    return run_operation(
        flow=as_flow,
        in_process=in_process,
        say_fallback=lambda summary: summary["applied"] > 0,
        fallback=EVENTS_WAIT + " No flow run, so no ranking artifacts were published.",
    )


@cohort_app.command("whatif")
def cohort_whatif(
    name: str,
    policy: Annotated[Path, typer.Option("--policy", help="the policy to try")],
    against: Annotated[
        Path | None, typer.Option("--against", help="baseline policy (default: the cohort's program's)")
    ] = None,
    year: YearOpt = None,
    source: SourceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare two policies on the same nominees and list the regions whose decision flips."""
    from smartcity.models.core.program import get_cohort
    from smartcity.models.infra.db import session_scope
    from smartcity.models.selection.indicators import nominee_pool
    from smartcity.models.selection.scoring import whatif

    base, trial = _policy(against, name), _policy(policy, name)
    with session_scope() as session:
        pool = nominee_pool(session, name, year, source)
        quota = get_cohort(session, name).quota
    (base, note_a), (trial, note_b) = base.for_cohort(pool.cohort, quota), trial.for_cohort(pool.cohort, quota)
    flips = whatif(pool.nominees, base, trial)
    data = {
        "cohort": pool.cohort,
        "policy_a": base.name,
        "policy_b": trial.name,
        "nominees": len(pool.nominees),
        "illustrative": pool.illustrative,
        "flips": [asdict(f) for f in flips],
        "notes": [n for n in (note_a, note_b) if n],
    }
    emit(data, as_json, whatif_text(data))


def whatif_text(data: dict[str, Any]) -> str:
    """Human lines for a whatif comparison."""
    from smartcity.models.selection.indicators import ILLUSTRATIVE_LABEL

    def word(selected: bool) -> str:
        return "selected" if selected else "not selected"

    lines = [f"*** {ILLUSTRATIVE_LABEL}: not official data ***"] if data["illustrative"] else []
    lines.append(
        f"cohort {data['cohort']}: {data['policy_a']} -> {data['policy_b']} on {data['nominees']} nominees: "
        f"{len(data['flips'])} region(s) flip"
    )
    for f in data["flips"]:
        lines.append(
            f"  {f['bps_code']} {f['name']:<32} {word(f['selected_a']):>12} -> {word(f['selected_b']):<12} "
            f"(rank {f['rank_a'] or '-'} -> {f['rank_b'] or '-'})"
        )
    lines += [f"note: {n}" for n in data.get("notes", [])]
    return "\n".join(lines)
