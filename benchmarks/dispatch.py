"""Figure 4: dispatching 1,000 reminders through Apprise to a local HTTP receiver, against plain httpx POSTs."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from benchmarks.common import Workspace, enroll, figure, log, not_measured, ratio, registry_codes
from smartcity.deployments.demo.receiver import Receiver

NOW = datetime(2017, 9, 4, 3, 0, tzinfo=UTC)
REF = re.compile(r"Ref: (\S+)")


def refs_of(messages: list[dict]) -> list[str]:
    """The `Ref: <key>` of every received message (Apprise's json:// puts the body in "message")."""
    out = []
    for message in messages:
        m = REF.search(str(message.get("message") or message.get("raw") or ""))
        out.append(m.group(1) if m else "<no ref>")
    return out


def _prepare(ws: Workspace, url: str, total: int) -> None:
    """A fresh database with `total` pending reminders, due by NOW, to PIC contacts that post to `url`."""
    from sqlalchemy import insert
    from sqlmodel import select

    from smartcity.models.core.tables import Contact, Region
    from smartcity.models.deadlines.tables import Notification
    from smartcity.models.infra.db import session_scope

    ws.fresh_db(f"dispatch-{total}")
    enroll(registry_codes(), "bench")
    with session_scope() as session:
        region_ids = list(session.exec(select(Region.id).order_by(Region.id)).all())
        session.execute(
            insert(Contact),
            [
                dict(role="pic", name=f"PIC {r}", region_id=r, apprise_url=url, language="id", created_at=NOW)
                for r in region_ids
            ],
        )
        contacts = list(session.exec(select(Contact.id).order_by(Contact.id)).all())
        session.execute(
            insert(Notification),
            [
                dict(
                    dedupe_key=f"bench:{i}",
                    rung="T-7",
                    contact_id=contacts[i % len(contacts)],
                    language="id",
                    subject=f"Pengingat {i}",
                    body=f"Masterplan jatuh tempo dalam 7 hari kerja.\nRef: bench:{i}",
                    status="pending",
                    attempts=0,
                    created_at=NOW,
                    send_after=NOW - timedelta(hours=1),
                )
                for i in range(total)
            ],
        )


def _payload(i: int) -> dict:
    return {
        "version": "1.0",
        "title": f"Pengingat {i}",
        "type": "info",
        "attachments": [],
        "message": f"Masterplan jatuh tempo dalam 7 hari kerja.\nRef: bench:{i}",
    }


def httpx_sequential(url: str, total: int) -> float:
    """Baseline: the same POSTs one after the other with one httpx client."""
    import httpx

    start = time.perf_counter()
    with httpx.Client(timeout=10) as client:
        for i in range(total):
            client.post(url, json=_payload(i)).raise_for_status()
    return time.perf_counter() - start


async def httpx_concurrent(url: str, total: int, concurrency: int) -> float:
    """Baseline: the same POSTs, `concurrency` at a time, with one async httpx client."""
    import httpx

    gate = asyncio.Semaphore(concurrency)
    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=10) as client:

        async def one(i: int) -> None:
            async with gate:
                (await client.post(url, json=_payload(i))).raise_for_status()

        await asyncio.gather(*(one(i) for i in range(total)))
    return time.perf_counter() - start


def _measure_dispatch(total: int) -> tuple[dict, float]:
    from smartcity.models.notifications.delivery import dispatch

    start = time.perf_counter()
    counts = asyncio.run(dispatch(NOW, limit=total))
    return counts, time.perf_counter() - start


def run(ws: Workspace, total: int = 1_000) -> dict:
    """Figure 4: throughput and duplicates of smartcity.tasks.notify.dispatch, and the httpx baselines."""
    target = f"0 duplicates and {total}/{total} delivered (no throughput target; ratio to httpx reported)"
    try:
        from smartcity.models.notifications.delivery import AppriseSender, dispatch  # noqa: F401 - is the API there at all?
    except ImportError as exc:
        return not_measured(target, f"smartcity.tasks.notify.dispatch not importable ({exc})")
    from smartcity.models.infra.settings import get_settings

    with Receiver() as rx:
        url, plain = f"{rx.url}/", rx.url.replace("json://", "http://", 1) + "/"
        AppriseSender().send(url, "warm-up", "Ref: warm-up")  # loads Apprise's plugins before timing
        rx.take()
        _prepare(ws, url, total)
        concurrency = get_settings().notify_concurrency
        counts, dispatch_s = _measure_dispatch(total)
        refs = refs_of(rx.take())
        seq_s = httpx_sequential(plain, total)
        seq_n = len(rx.take())
        conc_s = asyncio.run(httpx_concurrent(plain, total, concurrency))
        conc_n = len(rx.take())
    duplicates = sum(n - 1 for n in Counter(refs).values() if n > 1)
    missing = total - len(set(refs) & {f"bench:{i}" for i in range(total)})
    rate = round(total / dispatch_s, 1)
    log(f"dispatch: {total} in {dispatch_s:.2f}s ({rate}/s), duplicates {duplicates}, missing {missing}")
    return figure(
        duplicates,
        "duplicate deliveries",
        target,
        duplicates == 0 and missing == 0 and counts["sent"] == total,
        messages=total,
        concurrency=concurrency,
        dispatch_s=round(dispatch_s, 3),
        messages_per_s=rate,
        outcome=counts,
        received_posts=len(refs),
        missing=missing,
        baseline={
            "httpx_sequential_s": round(seq_s, 3),
            "httpx_sequential_per_s": round(seq_n / seq_s, 1),
            f"httpx_concurrency_{concurrency}_s": round(conc_s, 3),
            f"httpx_concurrency_{concurrency}_per_s": round(conc_n / conc_s, 1),
        },
        ratio_vs_httpx_same_concurrency=ratio(dispatch_s, conc_s),
        ratio_vs_httpx_sequential=ratio(dispatch_s, seq_s),
        note="dispatch = smartcity.models.notifications.delivery.dispatch (claim with a lease, a fresh Apprise "
        "object per message, mark sent), "
        "called without a flow; the receiver speaks HTTP/1.0, so every POST opens a new connection in all "
        "three variants; Apprise plugins are loaded once before timing",
    )
