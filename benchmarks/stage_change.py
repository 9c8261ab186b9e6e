"""Figure 1: advancing N regions nominated -> selected, (a) domain only, (b) cohort flow, (c) a flow per region."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from benchmarks.common import Workspace, enroll, figure, log, profile_top, ratio, registry_codes

ACTOR = "bench"
TO = "selected"
TARGET_RATIO = 3.0


def domain_direct(n: int) -> float:
    """(a) plan + advance_many in one process, no Prefect; events stay queued in the outbox."""
    from smartcity.models.core.program import plan_advance
    from smartcity.models.core.stages import Stage
    from smartcity.models.core.transitions import advance_many
    from smartcity.models.infra.db import session_scope

    start = time.perf_counter()
    with session_scope() as session:
        items, _ = plan_advance(session, "bench", Stage.selected)
        outcome = advance_many(
            session, cohort="bench", items=items, to=Stage.selected, actor=ACTOR, reason=None, now=datetime.now(UTC)
        )
    elapsed = time.perf_counter() - start
    _check(len(outcome["applied"]), n, "domain")
    return elapsed


async def publish_queued(n: int) -> float:
    """Publishing the events (a) left in the outbox, to the same server, timed on its own."""
    from smartcity.tasks.events import publish_outbox

    start = time.perf_counter()
    published = await publish_outbox()
    elapsed = time.perf_counter() - start
    _check(published, n, "publish")
    return elapsed


async def cohort_flow(n: int) -> float:
    """(b) one advance-cohort flow run (tasks per batch of 50, events published after each batch)."""
    from smartcity.flows.advance_cohort import advance_cohort

    start = time.perf_counter()
    summary = await advance_cohort("bench", TO, ACTOR)
    elapsed = time.perf_counter() - start
    _check(summary["applied"], n, "cohort flow")
    return elapsed


async def flow_per_region(codes: list[str]) -> float:
    """(c) one advance-stage flow run per region, one after the other; total seconds for `codes`."""
    from smartcity.flows.advance_stage import advance_stage

    start = time.perf_counter()
    for code in codes:
        result = await advance_stage(code, TO, ACTOR, cohort="bench")
        if not isinstance(result, dict) or result.get("status") != "applied":
            raise RuntimeError(f"advance-stage {code} did not apply: {result}")
    return time.perf_counter() - start


def _check(got: int, expected: int, what: str) -> None:
    if got != expected:
        raise RuntimeError(f"{what}: {got} of {expected} regions moved")


def measure_n(ws: Workspace, n: int, sample: int, full_up_to: int) -> dict:
    """All three variants for N regions, each on its own fresh database."""
    codes = registry_codes()[:n]
    ws.fresh_db(f"stage-a-{n}")
    enroll(codes, "bench", quota=n)
    a = domain_direct(n)
    a_pub = asyncio.run(publish_queued(n))
    ws.fresh_db(f"stage-b-{n}")
    enroll(codes, "bench", quota=n)
    b = asyncio.run(cohort_flow(n))
    ws.fresh_db(f"stage-c-{n}")
    enroll(codes, "bench", quota=n)
    runs = n if n <= full_up_to else min(n, sample)
    c_sample = asyncio.run(flow_per_region(codes[:runs]))
    c = c_sample / runs * n
    row = {
        "a_domain_s": round(a, 4),
        "a_publish_events_s": round(a_pub, 4),
        "a_plus_publish_s": round(a + a_pub, 4),
        "b_cohort_flow_s": round(b, 4),
        "c_flow_per_region_s": round(c, 4),
        "c_runs_measured": runs,
        "c_extrapolated": runs < n,
        "per_region_ms": {"a": _ms(a, n), "a_plus_publish": _ms(a + a_pub, n), "b": _ms(b, n), "c": _ms(c, n)},
        "ratio_b_over_a": ratio(b, a),
        "ratio_c_over_a": ratio(c, a),
        "ratio_b_over_a_plus_publish": ratio(b, a + a_pub),
        "ratio_c_over_b": ratio(c, b),
    }
    extrapolated = f" (extrapolated from {runs} runs)" if runs < n else ""
    log(f"stage change N={n}: a={a:.2f}s (+publish {a_pub:.2f}s) b={b:.2f}s c={c:.2f}s{extrapolated}")
    return row


def _ms(seconds: float, n: int) -> float:
    return round(seconds / n * 1000, 3)


def run(ws: Workspace, sizes: tuple[int, ...] = (25, 100, 514), sample: int = 50, full_up_to: int = 100) -> dict:
    """Figure 1 for each N (c runs every region up to `full_up_to`, else `sample` of them); headline b/a at max N."""
    by_n = {str(n): measure_n(ws, n, sample, full_up_to) for n in sizes}
    top = by_n[str(max(sizes))]
    value = top["ratio_b_over_a"]
    met = value is not None and value <= TARGET_RATIO
    extra = {} if met else {"profile": _profile(ws, min(100, max(sizes)))}
    return figure(
        value,
        "ratio b/a",
        f"<= {TARGET_RATIO} at N={max(sizes)}",
        met,
        by_n=by_n,
        **extra,
        variants={
            "a": "smartcity.models.core.transitions.advance_many in-process (plus plan_advance); queues events in "
            "the outbox "
            "in the same transaction but publishes nothing",
            "a_plus_publish": "a, then smartcity.tasks.events.publish_outbox() of those N events to the same server",
            "b": "smartcity.flows.advance_cohort.advance_cohort called in-process against the server: tasks per batch "
            "of 50, events published after each batch, report artifacts at the end",
            "c": "smartcity.flows.advance_stage.advance_stage called in-process once per region, sequentially; "
            f"when N > "
            f"{full_up_to} only the first {sample} regions run and the total is extrapolated linearly "
            "(c_extrapolated: true)",
        },
        note="every variant starts from its own fresh SQLite copy; the Prefect server is SQLite-backed",
    )


def _profile(ws: Workspace, n: int) -> dict:
    """Where (b) spends its time in this process (cProfile of one cohort flow run of N regions; the server's
    own work is in another process and shows here as waiting on sockets)."""
    ws.fresh_db(f"stage-profile-{n}")
    enroll(registry_codes()[:n], "bench", quota=n)
    return {"regions": n, "variant": "b", **profile_top(lambda: asyncio.run(cohort_flow(n)))}
