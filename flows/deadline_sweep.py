"""deadline-sweep: enqueue the reminders due now, then deliver the outbox.

Triggered by: the `deadline-sweep` deployment's three schedules, daily at 08:00 WIB, 08:00 WITA and 08:00 WIT
(every rung is due at 08:00 in its region's zone, so each zone gets a sweep at its own 08:00),
`smartcity remind`, or a manual run from the UI with `now` set to simulate another instant.
Each run is named by its as-of time and zone (deadline-sweep-2017-09-18-0800-wit) and tagged
`zone:wit`. Re-running it sends nothing twice.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact

from smartcity.models.deadlines.ops import parse_instant
from smartcity.models.infra.markdown import md_table
from smartcity.models.notifications.delivery import outbox_counts
from smartcity.tasks.audit import publish_audit_anchor
from smartcity.tasks.notify import dispatch_notifications, enqueue_reminders
from smartcity.tasks.reconcile import reconcile_stalled
from smartcity.tasks.runs import Zone, name_zoned_run, run_zone, scheduled_time

ARTIFACT_KEY = "deadline-sweep"


@flow(name="deadline-sweep")
async def deadline_sweep(now: str | None = None, zone: Zone | None = None) -> dict:
    """Sweep as of `now` (ISO instant with offset; default: the run's scheduled time), dispatch, and report.

    `zone` only names the run (its schedule sets it); by default it is the zone of `now`'s offset, else WIB.
    """
    instant = parse_instant(now) if now else scheduled_time()
    await name_zoned_run("deadline-sweep", instant, run_zone(now, zone), "deadlines")
    await reconcile_stalled(instant.isoformat())  # first: repaired drafting deadlines and notices go out below
    enqueued = enqueue_reminders(instant.isoformat())
    delivery = await dispatch_notifications(instant.isoformat())
    summary: dict[str, Any] = {
        "as_of": instant.isoformat(),
        "enqueued": enqueued,
        **delivery,
        "outbox": outbox_counts(),
    }
    if summary["outbox"].get("unaddressed"):
        get_run_logger().warning(
            "%s reminder(s) have no recipient: no contact for their role", summary["outbox"]["unaddressed"]
        )
    await acreate_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=summary_markdown("Deadline sweep", summary),
        description="Reminders enqueued and delivered by the last sweep",
    )
    await publish_audit_anchor()  # last: reminders go out even when the audit chain is found broken
    return summary


def summary_markdown(title: str, summary: dict) -> str:
    """A short markdown table of counts (no contact URLs, no message bodies)."""
    rows = [
        ("as of (UTC)", summary["as_of"]),
        ("enqueued", summary["enqueued"]),
        ("sent", summary["sent"]),
        ("failed, will retry", summary["failed"]),
        ("skipped (held by another dispatch)", summary["skipped"]),
    ]
    rows += [(f"outbox: {status}", n) for status, n in sorted(summary["outbox"].items())]
    lines = [f"# {title}", "", md_table(["what", "count"], [list(r) for r in rows])]
    if summary["failed"]:
        lines += ["", "Failed messages stay pending: see `smartcity outbox --failed`."]
    if summary["outbox"].get("unaddressed"):
        lines += [
            "",
            f"**{summary['outbox']['unaddressed']} reminder(s) have no recipient**: no contact for their "
            "role (`smartcity outbox --failed` lists them). `smartcity contacts add` addresses them.",
        ]
    return "\n".join(lines)
