"""Commands for deadlines, reminders, contacts and the notification outbox.

Declared on the shared app (deployments/cli/common.py): `remind`, `outbox`, and the groups `contacts`,
`deadline`, `deadlines`, `milestone`. Read commands import neither Prefect nor the flows. Apprise URLs are
never printed in clear.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from smartcity.deployments.cli.common import JsonOpt, UserActorOpt, actor_or_user, app, emit, group, region_code
from smartcity.deployments.cli.exports import DEADLINE_COLUMNS, FormatOpt, export_format, write_export
from smartcity.models.infra.db import row_id

contacts_app = group("contacts", "Who gets reminders: PICs, coordinators, escalation.")
deadline_app = group("deadline", "One deadline: extend it (with a reason).")
deadlines_app = group("deadlines", "Deadlines in local time (WIB/WITA/WIT).")
milestone_app = group("milestone", "Milestones (bimtek, assessment): record them done, or undo that.")
CohortOpt = Annotated[str | None, typer.Option(help="the cohort, when the region is open in several")]


def _now() -> datetime:
    return datetime.now(UTC)


@app.command("remind")
def remind(
    now: Annotated[
        str | None, typer.Option("--now", help="ISO instant with offset, e.g. 2017-09-01T08:00+07:00 (default: now)")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would be sent; change nothing")] = False,
    simulate: Annotated[
        bool,
        typer.Option(
            "--simulate", help="accept a --now in the future: reminders due by then are sent now (demos, rehearsals)"
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run one reminder sweep as of an instant: enqueue what is due, then deliver it."""
    from smartcity.models.deadlines.ops import check_sweep_instant, parse_instant

    instant = parse_instant(now) if now else _now()
    if dry_run:  # sends nothing, so any instant may be looked at
        _remind_dry_run(instant, as_json)
        return
    warning = check_sweep_instant(instant, _now(), simulate)
    if warning:
        typer.echo(warning, err=True)
    summary = _run_sweep(instant, now)
    emit(
        summary,
        as_json,
        f"as of {instant:%Y-%m-%d %H:%M} UTC: {summary['enqueued']} reminder(s) enqueued, "
        f"{summary['sent']} sent, {summary['failed']} failed",
    )
    unaddressed = summary["outbox"].get("unaddressed", 0)
    if unaddressed:
        typer.echo(
            f"warning: {unaddressed} reminder(s) have no recipient (no contact for their role): see "
            "`smartcity outbox --failed`; `smartcity contacts add` (a reviewer: `smartcity reviewers "
            "contact`) addresses them",
            err=True,
        )
    if summary["failed"]:
        typer.echo(f"{summary['failed']} message(s) failed and stay pending: see `smartcity outbox --failed`", err=True)
        raise typer.Exit(1)


def _remind_dry_run(instant: datetime, as_json: bool) -> None:
    from sqlmodel import col, select

    from smartcity.models.core.tables import Contact
    from smartcity.models.deadlines.ops import plan_sweep
    from smartcity.models.deadlines.tables import Notification
    from smartcity.models.infra.db import session_scope
    from smartcity.models.notifications.outbox import claimable_ids

    with session_scope() as session:
        planned = plan_sweep(session, instant)
        waiting_ids = claimable_ids(session, instant, _now())
        waiting = session.exec(select(Notification).where(col(Notification.id).in_(waiting_ids))).all()
        names = {c.id: f"{c.name} ({c.role})" for c in session.exec(select(Contact)).all()}
        # Read every row before the rollback: it expires them, and the session closes right after.
        old = [
            {"to": names.get(n.contact_id), "rung": n.rung, "subject": n.subject, "attempts": n.attempts}
            for n in waiting
        ]
        session.rollback()  # a dry run writes nothing
    new = [
        {
            "to": names.get(r["contact_id"]) or f"nobody: no {r['role']} contact",
            "rung": r["rung"],
            "subject": r["subject"],
            "send_after": r["send_after"].isoformat(),
            "sent_now": r["send_after"] <= instant,
        }
        for r in planned
    ]
    lines = [f"would enqueue {len(new)} reminder(s):"] + [
        f"  {p['rung']:<5} {p['to']}: {p['subject']}" + ("" if p["sent_now"] else f" (sent at {p['send_after']})")
        for p in new
    ]
    lines += [f"would retry/send {len(old)} waiting message(s):"] + [
        f"  {o['rung']:<5} {o['to']}: {o['subject']} (tried {o['attempts']}x)" for o in old
    ]
    emit({"as_of": instant.isoformat(), "would_enqueue": new, "would_send_waiting": old}, as_json, "\n".join(lines))


def _run_sweep(instant: datetime, typed: str | None = None) -> dict:
    """Through the deadline-sweep flow when a Prefect API answers; else the same steps in this process.

    The flow gets the instant as typed, so its run is named in the zone the coordinator's offset names."""
    from smartcity.deployments.runtime.runner import run_operation

    async def as_flow() -> dict:
        from smartcity.flows.deadline_sweep import deadline_sweep

        return await deadline_sweep(now=(typed or instant.isoformat()).strip())

    def in_process() -> dict:
        from smartcity.models.notifications.delivery import sweep_and_dispatch

        return sweep_and_dispatch(instant)

    return run_operation(
        flow=as_flow, in_process=in_process, fallback="swept and dispatched in this process (no flow run, no artifact)."
    )


@app.command("outbox")
def outbox(
    failed: Annotated[
        bool,
        typer.Option(
            "--failed", help="only messages that need a person: failed and waiting for a retry, or with no contact"
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The notification outbox, newest first (no URLs, errors sanitized)."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.notifications.outbox import outbox_rows

    with session_scope() as session:
        rows = outbox_rows(session, failed_only=failed)
    lines = [
        f"{r['id']:>5} {r['status']:<11} {r['rung']:<16} {r['contact'][:30]:<30} tries={r['attempts']} "
        f"{r['subject'][:70]}"
        + (f"\n        last error: {r['last_error']}" if r["last_error"] else "")
        + (f"\n        waiting: {r['contact']}" if r["status"] == "unaddressed" else "")  # the hint, uncut
        for r in rows
    ]
    emit(rows, as_json, "\n".join(lines) or ("no failed messages" if failed else "the outbox is empty"))


@contacts_app.command("add")
def contacts_add(
    role: Annotated[str, typer.Option(help="pic | coordinator | reviewer | escalation")],
    name: Annotated[str, typer.Option()],
    url: Annotated[str, typer.Option(help="Apprise URL (kept secret, never printed)")],
    region: Annotated[str | None, typer.Option(help="BPS code (pic, escalation)")] = None,
    language: Annotated[str, typer.Option(help="id | en")] = "id",
    actor: UserActorOpt = None,
) -> None:
    """Add a contact (audited, URL masked); the Apprise URL is checked by parsing it with Apprise."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.notifications.outbox import add_contact, mask_url, waiting_for

    region = region_code(region) if region is not None else None
    who = actor_or_user(actor)
    with session_scope() as session:
        contact = add_contact(
            session, role=role, region_code=region, name=name, url=url, language=language, now=_now(), actor=who
        )
        took = waiting_for(session, row_id(contact))
    where = f" for region {region}" if region else ""
    typer.echo(f"contact {contact.id} added: {contact.role} {contact.name}{where} via {mask_url(contact.apprise_url)}")
    if took:
        typer.echo(
            f"{took} reminder(s) that had no {contact.role} contact now go to it "
            "(`smartcity remind` or the next sweep sends them)"
        )


@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(help="CSV with columns role,region,name,url[,language]")],
    actor: UserActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add contacts from a CSV, all or nothing: every bad line is named; URLs are checked and never printed."""
    from smartcity.models.infra.csvfile import read_csv_text
    from smartcity.models.infra.db import session_scope
    from smartcity.models.notifications.outbox import import_contacts

    text, who = read_csv_text(file), actor_or_user(actor)
    with session_scope() as session:
        added, skipped = import_contacts(session, text, str(file), now=_now(), actor=who)
    lines = [f"imported {len(added)} contact(s), {skipped} already present"] + [
        f"  contact {c['id']}: {c['role']} {c['name']} ({c['region'] or 'national'}) via {c['url']}" for c in added
    ]
    emit({"added": added, "already_present": skipped}, as_json, "\n".join(lines))


@contacts_app.command("list")
def contacts_list(as_json: JsonOpt = False) -> None:
    """Contacts, with their URLs masked."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.notifications.outbox import list_contacts

    with session_scope() as session:
        rows = list_contacts(session)
    lines = [
        f"{r['id']:>4} {r['role']:<12} {r['region'] or '-':<5} {r['language']} {r['name']:<28} {r['url']}"
        + ("" if r["active"] else " (removed)")
        for r in rows
    ]
    emit(rows, as_json, "\n".join(lines) or "no contacts (add one with `smartcity contacts add`)")


ReasonOpt = Annotated[str, typer.Option(help="why (recorded in the audit trail)")]
ActorOpt = Annotated[str, typer.Option(help="who makes the correction")]


@contacts_app.command("edit")
def contacts_edit(
    contact_id: int,
    reason: ReasonOpt,
    actor: ActorOpt,
    name: Annotated[str | None, typer.Option()] = None,
    url: Annotated[str | None, typer.Option(help="corrected Apprise URL (never printed)")] = None,
    language: Annotated[str | None, typer.Option(help="id | en")] = None,
) -> None:
    """Correct a contact's name, URL or language in place (audited); waiting messages use the new values."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.notifications.outbox import edit_contact, mask_url

    with session_scope() as session:
        c, waiting = edit_contact(
            session, contact_id, name=name, url=url, language=language, reason=reason, actor=actor, now=_now()
        )
        shown = f"contact {c.id} corrected: {c.role} {c.name} ({c.language}) via {mask_url(c.apprise_url)}"
    typer.echo(shown + (f"; {waiting} waiting message(s) go there now" if waiting else ""))


@contacts_app.command("replace")
def contacts_replace(
    contact_id: int,
    url: Annotated[str, typer.Option(help="the new Apprise URL (never printed)")],
    reason: ReasonOpt,
    actor: ActorOpt,
    name: Annotated[str | None, typer.Option(help="the new person (default: same name)")] = None,
    language: Annotated[str | None, typer.Option(help="id | en (default: same)")] = None,
) -> None:
    """A new person or address for the same role and region: the old contact is kept but deactivated, and the
    new one takes over its waiting and failing messages (audited)."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.notifications.outbox import mask_url, replace_contact

    with session_scope() as session:
        new, moved = replace_contact(
            session, contact_id, name=name, url=url, language=language, reason=reason, actor=actor, now=_now()
        )
        shown = (
            f"contact {contact_id} replaced by contact {new.id}: {new.role} {new.name} via {mask_url(new.apprise_url)}"
        )
    typer.echo(shown + (f"; {moved} waiting or failing message(s) re-addressed to it" if moved else ""))


@contacts_app.command("remove")
def contacts_remove(contact_id: int, reason: ReasonOpt, actor: ActorOpt) -> None:
    """Deactivate a contact: it gets nothing more and stays listed for the audit trail (audited)."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.notifications.outbox import remove_contact

    with session_scope() as session:
        c, withdrawn = remove_contact(session, contact_id, reason=reason, actor=actor, now=_now())
        shown = f"contact {c.id} ({c.role} {c.name}) removed"
    typer.echo(
        shown
        + (
            f"; {withdrawn} waiting message(s) withdrawn from it (reminders wait for a new contact "
            "of the role: `smartcity contacts add`)"
            if withdrawn
            else ""
        )
    )


@deadline_app.command("extend")
def deadline_extend(
    code: str,
    key: Annotated[str, typer.Option(help="masterplan, quick-win, bimtek-2, ...")],
    days: Annotated[int, typer.Option(help="working days to add (negative: take back part of an extension)")],
    reason: Annotated[str, typer.Option()],
    actor: Annotated[str, typer.Option()],
    cohort: CohortOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Extend a region's open deadline by working days; the reason and actor are recorded."""
    from smartcity.models.deadlines.ops import extend_deadline, find_deadline, list_deadlines
    from smartcity.models.infra.db import session_scope

    code = region_code(code)
    with session_scope() as session:
        d = find_deadline(session, code, key, cohort)
        old = next(r for r in list_deadlines(session, code) if r["id"] == d.id)["due_local"]
        extend_deadline(session, row_id(d), days, reason, actor, _now())
        row = next(r for r in list_deadlines(session, code) if r["id"] == d.id)
    emit(row, as_json, f"region {code}: {key} now due {row['due_local']} (was {old}, {days:+d} working days)")


@deadlines_app.command("list")
def deadlines_list(
    code: Annotated[str | None, typer.Argument(help="BPS code (default: all)")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="only open deadlines")] = False,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
) -> None:
    """Deadlines and milestones with due times in the region's local time."""
    export = export_format(fmt, as_json)
    from smartcity.models.deadlines.ops import list_deadlines
    from smartcity.models.infra.db import session_scope

    code = region_code(code) if code is not None else None
    with session_scope() as session:
        rows = list_deadlines(session, code, include_closed=not open_only)
    if export:
        return write_export(rows, DEADLINE_COLUMNS)
    lines = [
        f"{r['bps_code']} {r['region'][:24]:<24} {r['key']:<11} {r['status']:<9} due {r['due_local']}"
        + (" (extended)" if r["extended"] else "")
        + (f" done {r['done_local']} by {r['done_by']}" if r["done_local"] else "")
        for r in rows
    ]
    emit(rows, as_json, "\n".join(lines) or "no deadlines")


@milestone_app.command("done")
def milestone_done(
    code: str,
    key: Annotated[str, typer.Option(help="e.g. bimtek-1")],
    actor: Annotated[str, typer.Option()],
    at: Annotated[str | None, typer.Option(help="ISO instant with offset (default: now)")] = None,
    cohort: CohortOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a milestone done."""
    from smartcity.models.deadlines.ops import complete_milestone, list_deadlines, parse_instant
    from smartcity.models.infra.db import session_scope

    when, code = (parse_instant(at, "--at") if at else _now()), region_code(code)
    with session_scope() as session:
        d, changed = complete_milestone(session, code, key, actor, when, cohort, now=_now())
        row = next(r for r in list_deadlines(session, code) if r["id"] == d.id)
    word = "recorded done" if changed else "was already done"
    emit(row, as_json, f"region {code}: {key} {word} {row['done_local']} by {row['done_by']}")


@milestone_app.command("done-all")
def milestone_done_all(
    cohort: str,
    key: Annotated[str, typer.Argument(help="e.g. bimtek-2")],
    actor: Annotated[str, typer.Option(help="who records the milestone")],
    at: Annotated[str | None, typer.Option(help="ISO instant with offset (default: now)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a milestone done for every region of a cohort that has it open: all or nothing, one audit
    record per region."""
    from smartcity.models.deadlines.ops import complete_milestone_for_cohort, parse_instant
    from smartcity.models.infra.db import session_scope

    when = parse_instant(at, "--at") if at else _now()
    with session_scope() as session:
        outcome = complete_milestone_for_cohort(session, cohort, key, actor, when, now=_now())
    closed = f", {len(outcome['closed'])} closed (left the stage)" if outcome["closed"] else ""
    emit(
        outcome,
        as_json,
        f"cohort {cohort}: {key} recorded done for {len(outcome['done'])} region(s), "
        f"{len(outcome['already'])} already done{closed}",
    )


@milestone_app.command("undo")
def milestone_undo(
    code: str,
    key: str,
    reason: Annotated[str, typer.Option()],
    actor: Annotated[str, typer.Option()],
    cohort: CohortOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reopen a milestone recorded done by mistake (audited); its reminders restart."""
    from smartcity.models.deadlines.ops import list_deadlines, undo_milestone
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        d = undo_milestone(session, code, key, reason, actor, _now(), cohort)
        row = next(r for r in list_deadlines(session, code) if r["id"] == d.id)
    emit(row, as_json, f"region {code}: {key} is open again, due {row['due_local']}")
