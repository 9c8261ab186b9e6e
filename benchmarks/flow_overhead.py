"""Figure 2: one advance-stage flow run against one empty async flow run, on the same server."""

from __future__ import annotations

import asyncio
import statistics
import time

from prefect import flow

from benchmarks.common import Workspace, enroll, figure, log, profile_top, ratio, registry_codes, stats

TARGET_RATIO = 1.5


@flow(name="bench-empty", log_prints=False)
async def empty_flow() -> None:
    """The baseline: an async flow run that does nothing."""
    return None


async def warm_up(runs: int = 2) -> float:
    """The first flow runs of a process pay for client and engine set-up; run them before measuring."""
    start = time.perf_counter()
    for _ in range(runs):
        await empty_flow()
    return time.perf_counter() - start


async def _interleaved(codes: list[str]) -> tuple[list[float], list[float]]:
    """Alternate empty and advance-stage runs, so machine noise lands on both alike."""
    from smartcity.flows.advance_stage import advance_stage

    empty, stage = [], []
    for code in codes:
        start = time.perf_counter()
        await empty_flow()
        empty.append(time.perf_counter() - start)
        start = time.perf_counter()
        result = await advance_stage(code, "selected", "bench", cohort="bench")
        stage.append(time.perf_counter() - start)
        if not isinstance(result, dict) or result.get("status") != "applied":
            raise RuntimeError(f"advance-stage {code} did not apply: {result}")
    return empty, stage


def run(ws: Workspace, runs: int = 30) -> dict:
    """Figure 2: median advance-stage run / median empty run, `runs` of each."""
    codes = registry_codes()[:runs]
    ws.fresh_db("flow-overhead")
    enroll(codes, "bench", quota=runs)
    empty, stage = asyncio.run(_interleaved(codes))
    value = ratio(statistics.median(stage), statistics.median(empty))
    log(
        f"flow overhead: empty {statistics.median(empty):.3f}s, advance-stage {statistics.median(stage):.3f}s "
        f"median over {runs}"
    )
    met = value is not None and value <= TARGET_RATIO
    extra = {} if met else {"profile": _profile(ws, min(runs, 10))}
    return figure(
        value,
        "ratio of medians",
        f"<= {TARGET_RATIO}",
        met,
        **extra,
        runs_each=runs,
        advance_stage=stats(stage),
        empty_async_flow=stats(empty),
        ratio_of_totals=ratio(sum(stage), sum(empty)),
        extra_per_run_ms=round((statistics.median(stage) - statistics.median(empty)) * 1000, 1),
        note="runs alternate empty / advance-stage; each advance-stage run moves one region nominated -> selected "
        "(one change-stage task run, one PATCH naming and tagging the run, one events POST)",
    )


def _profile(ws: Workspace, runs: int) -> dict:
    """cProfile of `runs` advance-stage runs and `runs` empty runs in this process (the server's side shows as
    socket waits); `watched` counts new TLS contexts, which every new Prefect HTTP client builds."""
    from smartcity.flows.advance_stage import advance_stage

    codes = registry_codes()[:runs]
    ws.fresh_db("flow-overhead-profile")
    enroll(codes, "bench", quota=runs)

    async def stage_runs() -> None:
        for code in codes:
            await advance_stage(code, "selected", "bench", cohort="bench")

    async def empty_runs() -> None:
        for _ in codes:
            await empty_flow()

    watch = ("create_default_context", "apply_stage_change", "publish_outbox", "add_run_tags", "run_labels")
    stage = profile_top(lambda: asyncio.run(stage_runs()), watch=watch)
    empty = profile_top(lambda: asyncio.run(empty_runs()), watch=watch[:1])
    return {
        "runs_each": runs,
        "advance_stage": stage,
        "empty_async_flow": {"watched": empty["watched"], "top_own_time": empty["top_own_time"][:5]},
    }
