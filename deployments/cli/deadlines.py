"""Commands for deadlines, reminders, contacts and the notification outbox.

Register with `register(app)` (adds `remind`, `outbox`, and the groups `contacts`, `deadline`,
`deadlines`, `milestone`). Read commands import neither Prefect nor the flows. Apprise URLs are
never printed in clear. `python -m smartcity.deployments.cli.deadlines ...` runs the CLI with these registered.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer
from smartcity.models.core.errors import DomainRefused

contacts_app = typer.Typer(no_args_is_help=True, help="Who gets reminders: PICs, coordinators, escalation.")
deadline_app = typer.Typer(no_args_is_help=True, help="One deadline: extend it (with a reason).")
deadlines_app = typer.Typer(no_args_is_help=True, help="Deadlines in local time (WIB/WITA/WIT).")
milestone_app = typer.Typer(no_args_is_help=True, help="Milestones (bimtek, assessment): record them done.")

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
CohortOpt = Annotated[str | None, typer.Option(help="the cohort, when the region is open in several")]


def _emit(data: object, as_json: bool, text: str) -> None:
    from smartcity.deployments.cli.app import emit

    emit(data, as_json, text)


def _now() -> datetime:
    return datetime.now(UTC)


def remind(now: Annotated[str | None, typer.Option("--now", help="ISO instant with offset, e.g. "
                                                   "2017-09-01T08:00+07:00 (default: now)")] = None,
           dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would be sent; change "
                                                 "nothing")] = False,
           as_json: JsonOpt = False) -> None:
    """Run one reminder sweep as of an instant: enqueue what is due, then deliver it."""
    from smartcity.models.deadlines.ops import parse_instant

    instant = parse_instant(now) if now else _now()
    if dry_run:
        _remind_dry_run(instant, as_json)
        return
    summary = _run_sweep(instant)
    _emit(summary, as_json, f"as of {instant:%Y-%m-%d %H:%M} UTC: {summary['enqueued']} reminder(s) enqueued, "
          f"{summary['sent']} sent, {summary['failed']} failed")
    unaddressed = summary["outbox"].get("unaddressed", 0)
    if unaddressed:
        typer.echo(f"warning: {unaddressed} reminder(s) have no recipient (no contact for their role): see "
                   "`smartcity outbox --failed`; `smartcity contacts add` addresses them", err=True)
    if summary["failed"]:
        typer.echo(f"{summary['failed']} message(s) failed and stay pending: see `smartcity outbox --failed`",
                   err=True)
        raise typer.Exit(1)


def _remind_dry_run(instant: datetime, as_json: bool) -> None:
    from smartcity.models.core.tables import Contact
    from smartcity.models.deadlines.ops import plan_sweep
    from smartcity.models.deadlines.tables import Notification
    from smartcity.models.infra.db import session_scope
    from smartcity.models.notifications.outbox import claimable_ids
    from sqlmodel import select

    with session_scope() as session:
        planned = plan_sweep(session, instant)
        waiting_ids = claimable_ids(session, instant, _now())
        waiting = session.exec(select(Notification).where(Notification.id.in_(waiting_ids))).all()  # type: ignore
        names = {c.id: f"{c.name} ({c.role})" for c in session.exec(select(Contact)).all()}
        session.rollback()  # a dry run writes nothing
    new = [{"to": names.get(r["contact_id"]) or f"nobody: no {r['role']} contact", "rung": r["rung"],
            "subject": r["subject"], "send_after": r["send_after"].isoformat(),
            "sent_now": r["send_after"] <= instant} for r in planned]
    old = [{"to": names.get(n.contact_id), "rung": n.rung, "subject": n.subject, "attempts": n.attempts}
           for n in waiting]
    lines = [f"would enqueue {len(new)} reminder(s):"] + [
        f"  {p['rung']:<5} {p['to']}: {p['subject']}" + ("" if p["sent_now"] else f" (sent at {p['send_after']})")
        for p in new]
    lines += [f"would retry/send {len(old)} waiting message(s):"] + [
        f"  {o['rung']:<5} {o['to']}: {o['subject']} (tried {o['attempts']}x)" for o in old]
    _emit({"as_of": instant.isoformat(), "would_enqueue": new, "would_send_waiting": old}, as_json,
          "\n".join(lines))


def _run_sweep(instant: datetime) -> dict:
    """Through the deadline-sweep flow when a Prefect API answers; else the same steps in this process."""
    from smartcity.deployments.runtime import prefect_link
    from smartcity.models.infra.settings import get_settings

    url = prefect_link.api_url()
    problem = prefect_link.health(url)
    if problem is None:
        prefect_link.use_api(url)
        from smartcity.flows.deadline_sweep import deadline_sweep

        return asyncio.run(deadline_sweep(now=instant.isoformat()))
    if get_settings().require_prefect:
        raise DomainRefused(f"Prefect API at {url} is {problem}; nothing was sent.")
    from smartcity.models.notifications.delivery import dispatch, enqueue_due, outbox_counts

    enqueued = enqueue_due(instant)
    delivery = asyncio.run(dispatch(instant))
    typer.echo(f"note: Prefect API at {url} is {problem}: swept and dispatched in this process "
               "(no flow run, no artifact).", err=True)
    return {"as_of": instant.isoformat(), "enqueued": enqueued, **delivery, "outbox": outbox_counts()}


def outbox(failed: Annotated[bool, typer.Option("--failed", help="only messages that need a person: "
                                                "failed and waiting for a retry, or with no contact")] = False,
           as_json: JsonOpt = False) -> None:
    """The notification outbox, newest first (no URLs, errors sanitized)."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.notifications.outbox import outbox_rows

    with session_scope() as session:
        rows = outbox_rows(session, failed_only=failed)
    lines = [f"{r['id']:>5} {r['status']:<11} {r['rung']:<16} {r['contact'][:30]:<30} tries={r['attempts']} "
             f"{r['subject'][:70]}" + (f"\n        last error: {r['last_error']}" if r["last_error"] else "")
             for r in rows]
    _emit(rows, as_json, "\n".join(lines) or ("no failed messages" if failed else "the outbox is empty"))


@contacts_app.command("add")
def contacts_add(role: Annotated[str, typer.Option(help="pic | coordinator | reviewer | escalation")],
                 name: Annotated[str, typer.Option()],
                 url: Annotated[str, typer.Option(help="Apprise URL (kept secret, never printed)")],
                 region: Annotated[str | None, typer.Option(help="BPS code (pic, escalation)")] = None,
                 language: Annotated[str, typer.Option(help="id | en")] = "id") -> None:
    """Add a contact; the Apprise URL is checked by parsing it with Apprise."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.notifications.outbox import add_contact, mask_url, waiting_for

    with session_scope() as session:
        contact = add_contact(session, role=role, region_code=region, name=name, url=url, language=language,
                              now=_now())
        took = waiting_for(session, contact.id)
    where = f" for region {region}" if region else ""
    typer.echo(f"contact {contact.id} added: {contact.role} {contact.name}{where} via {mask_url(contact.apprise_url)}")
    if took:
        typer.echo(f"{took} reminder(s) that had no {contact.role} contact now go to it "
                   "(`smartcity remind` or the next sweep sends them)")


@contacts_app.command("list")
def contacts_list(as_json: JsonOpt = False) -> None:
    """Contacts, with their URLs masked."""
    from smartcity.models.infra.db import session_scope
    from smartcity.models.notifications.outbox import list_contacts

    with session_scope() as session:
        rows = list_contacts(session)
    lines = [f"{r['id']:>4} {r['role']:<12} {r['region'] or '-':<5} {r['language']} {r['name']:<28} {r['url']}"
             for r in rows]
    _emit(rows, as_json, "\n".join(lines) or "no contacts (add one with `smartcity contacts add`)")


@deadline_app.command("extend")
def deadline_extend(code: str, key: Annotated[str, typer.Option(help="masterplan, quick-win, bimtek-2, ...")],
                    days: Annotated[int, typer.Option(help="working days to add")],
                    reason: Annotated[str, typer.Option()], actor: Annotated[str, typer.Option()],
                    cohort: CohortOpt = None, as_json: JsonOpt = False) -> None:
    """Extend a region's open deadline by working days; the reason and actor are recorded."""
    from smartcity.models.deadlines.ops import extend_deadline, find_deadline, list_deadlines
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        d = find_deadline(session, code, key, cohort)
        old = next(r for r in list_deadlines(session, code) if r["id"] == d.id)["due_local"]
        extend_deadline(session, d.id, days, reason, actor, _now())
        row = next(r for r in list_deadlines(session, code) if r["id"] == d.id)
    _emit(row, as_json, f"region {code}: {key} now due {row['due_local']} (was {old}, +{days} working days)")


@deadlines_app.command("list")
def deadlines_list(code: Annotated[str | None, typer.Argument(help="BPS code (default: all)")] = None,
                   open_only: Annotated[bool, typer.Option("--open", help="only open deadlines")] = False,
                   as_json: JsonOpt = False) -> None:
    """Deadlines and milestones with due times in the region's local time."""
    from smartcity.models.deadlines.ops import list_deadlines
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        rows = list_deadlines(session, code, include_closed=not open_only)
    lines = [f"{r['bps_code']} {r['region'][:24]:<24} {r['key']:<11} {r['status']:<9} due {r['due_local']}"
             + (" (extended)" if r["extended"] else "")
             + (f" done {r['done_local']} by {r['done_by']}" if r["done_local"] else "") for r in rows]
    _emit(rows, as_json, "\n".join(lines) or "no deadlines")


@milestone_app.command("done")
def milestone_done(code: str, key: Annotated[str, typer.Option(help="e.g. bimtek-1")],
                   actor: Annotated[str, typer.Option()],
                   at: Annotated[str | None, typer.Option(help="ISO instant with offset (default: now)")] = None,
                   cohort: CohortOpt = None, as_json: JsonOpt = False) -> None:
    """Record a milestone done."""
    from smartcity.models.deadlines.ops import complete_milestone, list_deadlines, parse_instant
    from smartcity.models.infra.db import session_scope

    when = parse_instant(at, "--at") if at else _now()
    with session_scope() as session:
        d, changed = complete_milestone(session, code, key, actor, when, cohort)
        row = next(r for r in list_deadlines(session, code) if r["id"] == d.id)
    word = "recorded done" if changed else "was already done"
    _emit(row, as_json, f"region {code}: {key} {word} {row['done_local']} by {row['done_by']}")


def register(app: typer.Typer) -> None:
    """Add these commands to the main `smartcity` app (once)."""
    if any(g.name == "contacts" for g in app.registered_groups):
        return
    app.command("remind")(remind)
    app.command("outbox")(outbox)
    app.add_typer(contacts_app, name="contacts")
    app.add_typer(deadline_app, name="deadline")
    app.add_typer(deadlines_app, name="deadlines")
    app.add_typer(milestone_app, name="milestone")
