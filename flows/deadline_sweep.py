"""deadline-sweep: enqueue the reminders due now, then deliver the outbox through Apprise.

Triggered by: the `deadline-sweep` deployment's schedule (hourly is enough: every rung is due at
08:00 local time, and WIT, WITA and WIB reach 08:00 an hour apart), `smartcity remind`, or a manual
run from the UI with `now` set to simulate another instant. Re-running it sends nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from smartcity.models.deadlines.ops import parse_instant
from smartcity.models.notifications.delivery import outbox_counts
from smartcity.tasks.notify import dispatch_notifications, enqueue_reminders

ARTIFACT_KEY = "deadline-sweep"


@flow(name="deadline-sweep")
async def deadline_sweep(now: str | None = None) -> dict:
    """Sweep as of `now` (ISO instant with offset; default: the real clock), dispatch, and report."""
    instant = parse_instant(now) if now else datetime.now(UTC)
    enqueued = enqueue_reminders(instant.isoformat())
    delivery = await dispatch_notifications(instant.isoformat())
    summary = {"as_of": instant.isoformat(), "enqueued": enqueued, **delivery, "outbox": outbox_counts()}
    if summary["outbox"].get("unaddressed"):
        get_run_logger().warning("%s reminder(s) have no recipient: no contact for their role",
                                 summary["outbox"]["unaddressed"])
    await acreate_markdown_artifact(key=ARTIFACT_KEY, markdown=summary_markdown("Deadline sweep", summary),
                                    description="Reminders enqueued and delivered by the last sweep")
    return summary


def summary_markdown(title: str, summary: dict) -> str:
    """A short markdown table of counts (no contact URLs, no message bodies)."""
    rows = [("as of (UTC)", summary["as_of"]), ("enqueued", summary["enqueued"]), ("sent", summary["sent"]),
            ("failed, will retry", summary["failed"]), ("skipped (held by another dispatch)", summary["skipped"])]
    rows += [(f"outbox: {status}", n) for status, n in sorted(summary["outbox"].items())]
    lines = [f"# {title}", "", "| what | count |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    if summary["failed"]:
        lines += ["", "Failed messages stay pending: see `smartcity outbox --failed`."]
    if summary["outbox"].get("unaddressed"):
        lines += ["", f"**{summary['outbox']['unaddressed']} reminder(s) have no recipient**: no contact for their "
                  "role (`smartcity outbox --failed` lists them). `smartcity contacts add` addresses them."]
    return "\n".join(lines)
