"""`smartcity reviewers|masterplan|review|reviews`: the masterplan review commands."""

from __future__ import annotations

from typing import Annotated

import typer

from smartcity.deployments.cli.common import JsonOpt, UserActorOpt, actor_or_user, emit, group, region_code, utcnow
from smartcity.deployments.cli.exports import REVIEW_COLUMNS, FormatOpt, export_format, review_rows, write_export
from smartcity.models.core.errors import BadInput

reviewers_app = group("reviewers", "The reviewer pool and declared conflicts of interest.")
masterplan_app = group("masterplan", "Submit a masterplan version for review.")
review_app = group("review", "Submit one reviewer's review.")
reviews_app = group("reviews", "Pending reviews and the history of rounds.")


@reviewers_app.command("add")
def reviewers_add(
    name: Annotated[str, typer.Option()],
    institution: Annotated[str, typer.Option()],
    province: Annotated[str, typer.Option(help="home province (conflict of interest rule)")],
    expertise: Annotated[str, typer.Option(help="rubric keys, e.g. governance,economy")],
    contact_id: Annotated[int | None, typer.Option("--contact-id")] = None,
    actor: UserActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a reviewer to the pool (audited)."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.reviews.ops import add_reviewer

    with session_scope() as session:
        r = add_reviewer(
            session,
            name=name,
            institution=institution,
            province=province,
            expertise=expertise,
            contact_id=contact_id,
            now=utcnow(),
            actor=actor_or_user(actor),
        )
        data = {
            "id": r.id,
            "name": r.name,
            "institution": r.institution,
            "home_province": r.home_province,
            "expertise": r.expertise,
        }
    emit(
        data, as_json, f"reviewer {r.id} added: {r.name} ({r.institution}, {r.home_province}; {', '.join(r.expertise)})"
    )


@reviewers_app.command("list")
def reviewers_list(as_json: JsonOpt = False) -> None:
    """The pool, with open reviews and declared conflicts."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.reviews.ops import list_reviewers

    with session_scope() as session:
        rows = list_reviewers(session)
    lines = [
        f"{r['id']:>4}  {r['name']:<28} {r['institution']:<32} {r['home_province']:<20} "
        f"open={r['open_reviews']} {'' if r['active'] else 'INACTIVE '}{','.join(r['expertise'])}"
        + (f" conflicts={','.join(r['conflicts'])}" if r["conflicts"] else "")
        for r in rows
    ]
    emit(rows, as_json, "\n".join(lines) or "no reviewers yet (add some with `smartcity reviewers add`)")


def _set_active(reviewer_id: int, active: bool, reason: str, actor: str) -> None:
    from smartcity.models.infra.db import session_scope
    from smartcity.models.reviews.ops import deactivate_reviewer, set_reviewer_active

    swaps: list = []
    with session_scope() as session:
        if active:
            r, changed, _ = set_reviewer_active(
                session, reviewer_id=reviewer_id, active=True, reason=reason, actor=actor, now=utcnow()
            )
        else:
            r, changed, swaps = deactivate_reviewer(
                session, reviewer_id=reviewer_id, reason=reason, actor=actor, now=utcnow()
            )
        name = r.name
    state = "active" if active else "inactive"
    typer.echo(f"reviewer {reviewer_id} ({name}) is {state}" + ("" if changed else " already (nothing changed)"))
    if not active:
        handed = sum(1 for s in swaps if s.replacement_id is not None)
        typer.echo(
            f"{handed} open review(s) reassigned"
            + (f", {len(swaps) - handed} left without a replacement" if len(swaps) > handed else "")
        )
        _say_swaps(swaps)


def _say_swaps(swaps: list) -> None:
    """One line per reviewer taken off a round; the ones left short go to stderr, where they are noticed."""
    for s in swaps:
        typer.echo(s.line(), err=s.replacement_id is None)


@reviewers_app.command("deactivate")
def reviewers_deactivate(
    reviewer_id: int, reason: Annotated[str, typer.Option()], actor: Annotated[str, typer.Option()]
) -> None:
    """Take a reviewer out of the pool (audited): no new assignments, open reviews go to replacements."""
    _set_active(reviewer_id, False, reason, actor)


@reviewers_app.command("activate")
def reviewers_activate(
    reviewer_id: int, reason: Annotated[str, typer.Option()], actor: Annotated[str, typer.Option()]
) -> None:
    """Put a deactivated reviewer back in the pool (audited, with the reason)."""
    _set_active(reviewer_id, True, reason, actor)


@reviewers_app.command("contact")
def reviewers_contact(
    reviewer_id: int,
    contact_id: Annotated[
        int,
        typer.Option("--contact-id", help="a contact with role reviewer (`smartcity contacts add --role reviewer`)"),
    ],
    actor: UserActorOpt = None,
) -> None:
    """Set where a reviewer's reminders go (audited); reminders that waited for want of it go there now."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.reviews.ops import set_reviewer_contact

    with session_scope() as session:
        took = set_reviewer_contact(
            session, reviewer_id=reviewer_id, contact_id=contact_id, now=utcnow(), actor=actor_or_user(actor)
        )
    typer.echo(
        f"reviewer {reviewer_id}: reminders go to contact {contact_id}"
        + (f"; {took} waiting reminder(s) now go there too" if took else "")
    )


@reviewers_app.command("conflict")
def reviewers_conflict(
    reviewer_id: int,
    region: Annotated[str, typer.Option(help="BPS code or region name")],
    reason: Annotated[str, typer.Option()],
    actor: Annotated[str | None, typer.Option(help="who records it (default: the reviewer)")] = None,
) -> None:
    """Declare a reviewer's conflict of interest with a region; an open assignment there is replaced."""
    region = region_code(region)
    from smartcity.models.infra.db import session_scope
    from smartcity.models.reviews.ops import declare_conflict

    with session_scope() as session:
        _, swaps = declare_conflict(
            session, reviewer_id=reviewer_id, region_code=region, reason=reason, now=utcnow(), actor=actor
        )
    typer.echo(f"reviewer {reviewer_id}: conflict with region {region} recorded")
    _say_swaps(swaps)


@masterplan_app.command("submit")
def masterplan_submit(
    code: str,
    version: Annotated[str, typer.Option("--version")],
    actor: Annotated[str, typer.Option("--actor")],
    reviewers: Annotated[int | None, typer.Option(help="how many (default: settings)")] = None,
    quorum: Annotated[int | None, typer.Option(help="answers that close the round")] = None,
    cohort: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a drafting region's masterplan version: opens the next review round and assigns reviewers."""
    code = region_code(code)
    from smartcity.models.infra.db import session_scope
    from smartcity.models.reviews.ops import rounds_history, submit_masterplan

    with session_scope() as session:
        rnd = submit_masterplan(
            session, code.strip(), version, actor, utcnow(), n=reviewers, quorum=quorum, cohort=cohort
        )
        session.commit()
        data = rounds_history(session, code.strip())[-1]
    _publish_quietly()
    names = "; ".join(f"#{a['reviewer_id']} {a['reviewer']}" for a in data["assigned"])
    emit(
        data,
        as_json,
        f"region {code}: masterplan {version} is in review round {rnd.round_no} "
        f"(quorum {data['quorum']}); reviewers: {names}",
    )


@review_app.command("submit")
def review_submit(
    code: str,
    reviewer: Annotated[int, typer.Option("--reviewer")],
    scores: Annotated[str, typer.Option(help="governance=4,branding=3,... (all six, 1-5)")],
    decision: Annotated[str, typer.Option(help="approve | revise")],
    comment: Annotated[str | None, typer.Option()] = None,
    note: Annotated[list[str] | None, typer.Option(help="a dimension's comment: economy=text")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a reviewer's scores and decision for the region's open review round."""
    code = region_code(code)
    from smartcity.models.infra.db import session_scope
    from smartcity.models.reviews.ops import parse_submission, submit_review

    submission = parse_submission(
        {"scores": _scores(scores, note or []), "decision": decision.strip().lower(), "comment": comment}
    )
    with session_scope() as session:
        result = submit_review(
            session, region_code=code.strip(), reviewer_id=reviewer, submission=submission, source="cli", now=utcnow()
        )
    if _publish_quietly() and result["closed_now"]:
        release_waiting_runs(code.strip(), result["round_no"])
    text = (
        f"region {code}: review by reviewer {reviewer} recorded in round {result['round_no']} "
        f"({result['answered']}/{result['needed']} answered)"
    )
    if result["closed_now"]:
        text += f"; round {result['status']}: {result['summary']}; region now {result['stage']}"
    emit(result, as_json, text)


def _pairs(text: str, what: str) -> list[tuple[str, str]]:
    out = []
    for item in (i.strip() for i in text.split(",") if i.strip()):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"{what}: expected dimension=value, got {item!r}")
        out.append((key.strip().lower(), value.strip()))
    return out


def _scores(text: str, notes: list[str]) -> dict[str, dict]:
    """{dimension: {score, comment}} from --scores and --note (validation happens in the domain)."""
    scores: dict[str, dict] = {}
    for key, value in _pairs(text, "--scores"):
        if key in scores:
            raise BadInput(f"--scores: {key} given twice")
        scores[key] = {"score": value}
    for note in notes:
        key, sep, value = note.partition("=")
        if not sep or key.strip().lower() not in scores:
            raise BadInput(f"--note: expected a scored dimension=text, got {note!r}")
        scores[key.strip().lower()]["comment"] = value.strip() or None
    return scores


@reviews_app.command("pending")
def reviews_pending(as_json: JsonOpt = False, fmt: FormatOpt = None) -> None:
    """Who is holding what: open reviews per reviewer, longest wait first."""
    export = export_format(fmt, as_json)
    from smartcity.models.infra.db import session_scope
    from smartcity.models.reviews.ops import pending_reviews

    with session_scope() as session:
        holders = pending_reviews(session, utcnow())
    if export:
        return write_export(review_rows(holders), REVIEW_COLUMNS)
    lines = [
        f"#{h['reviewer_id']} {h['reviewer']} ({h['institution']}):"
        + "".join(
            f"\n  {o['region_code']} {o['region']} round {o['round_no']} ({o['version']}) since {o['assigned_local']}"
            f", {o['waiting_days']} d ({o['waiting_working_days']} working d)"
            for o in h["open"]
        )
        for h in holders
    ]
    emit(holders, as_json, "\n".join(lines) or "no review is waiting")


@reviews_app.command("rounds")
def reviews_rounds(code: str, as_json: JsonOpt = False) -> None:
    """Every review round of a region, oldest first."""
    code = region_code(code)
    from smartcity.models.infra.db import session_scope
    from smartcity.models.reviews.ops import rounds_history

    with session_scope() as session:
        rows = rounds_history(session, code.strip())
    lines = []
    for r in rows:
        lines.append(
            f"round {r['round_no']} {r['version']} {r['status']} (submitted {r['submitted_at'][:16]}Z by "
            f"{r['submitted_by']}; {len(r['reviews'])}/{r['quorum']} answered)"
            + (f": {r['summary']}" if r["summary"] else "")
        )
        lines += [
            f"  #{v['reviewer_id']} {v['reviewer']}: {v['decision']} via {v['source']}"
            + (f": {v['comment']}" if v["comment"] else "")
            for v in r["reviews"]
        ]
        lines += [
            f"  #{u['reviewer_id']} {u['reviewer']}: unassigned {u['at'][:16]}Z (does not count)"
            for u in r.get("unassigned", [])
        ]
        if r.get("short"):
            lines.append(f"  SHORT: {len(r['assigned'])} reviewer(s) assigned for a quorum of {r['quorum']}")
    emit(rows, as_json, "\n".join(lines) or f"region {code}: no review rounds yet")


def _publish_quietly() -> bool:
    """Publish queued events when a Prefect API answers (True); otherwise they wait in the outbox."""
    import asyncio

    from smartcity.deployments.runtime.runner import connect

    if not connect().ready:
        typer.echo("note: no Prefect API answers; the event waits in the outbox (`smartcity events flush`)", err=True)
        return False
    from smartcity.tasks.events import publish_outbox

    asyncio.run(publish_outbox())
    return True


def release_waiting_runs(region_code: str, round_no: int) -> int:
    """Wake review-round runs still waiting on a round that just closed, with no form: a paused run (its
    process is waiting) is set Running, a suspended one (no process) is rescheduled for its deployment's
    runner. Either re-reads the round, sees it closed and completes instead of waiting out the window."""
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Running, Scheduled

    async def run() -> int:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["review-round"])),
                flow_run_filter=FlowRunFilter(
                    tags=FlowRunFilterTags(all_=[f"region:{region_code}", f"round:{round_no}"]),
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])),
                ),
            )
            for flow_run in runs:
                wake = Scheduled if flow_run.state and flow_run.state.name == "Suspended" else Running
                await client.set_flow_run_state(flow_run.id, wake(message="round closed from the CLI"), force=True)
            return len(runs)

    return asyncio.run(run())
