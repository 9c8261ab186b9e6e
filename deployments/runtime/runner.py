"""Run an operation as a Prefect flow against the coordinator's server, or in this process when none answers.

Every command that changes something goes through `run_operation`: with an API it runs the flow (a run in
the UI, events published); without one the same domain operation commits here and its events wait in the
outbox (`smartcity events flush` publishes them), unless SMARTCITY_REQUIRE_PREFECT is set, in which case
the command refuses before writing anything.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.errors import DomainRefused, SmartCityError
from smartcity.models.core.program import advance_cohort_in_batches
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.infra.db import session_scope
from smartcity.models.infra.settings import get_settings

T = TypeVar("T")
EVENTS_WAIT = (
    "committed without a flow run; the event waits in the outbox (`smartcity up`, then `smartcity events flush`)."
)


@dataclass(frozen=True)
class Api:
    """Where the coordinator's Prefect API is, and why it does not answer (None when it does)."""

    url: str
    problem: str | None

    @property
    def ready(self) -> bool:
        """True when the API answered."""
        return self.problem is None


def connect(*, timeout: float | None = None) -> Api:
    """Find the API (environment, profile, or the local `smartcity up` server) and point this process at it,
    waiting `timeout` seconds for an answer (default: the `prefect_probe_timeout_s` setting)."""
    quiet_prefect_console()
    from smartcity.deployments.runtime import prefect_link

    url = prefect_link.api_url()
    problem = prefect_link.health(url, timeout=timeout or get_settings().prefect_probe_timeout_s)
    if problem is None:
        prefect_link.use_api(url)
    elif "credentials" in problem:
        raise DomainRefused(f"Prefect API at {url} {problem}")
    return Api(url, problem)


def quiet_prefect_console() -> None:
    """Keep Prefect's log records off the terminal (they still reach the API and the UI): our lines only.

    Prefect reads PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL once, when its logging is first set up. A process that
    set Prefect up before this call (it imported a flow, a test harness, the demo) keeps a console handler at
    INFO, so setting the variable alone does nothing there: apply the level to the configured handlers too.
    """
    level = os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    handlers = sys.modules.get("prefect.logging.handlers")  # never import Prefect just for this
    if handlers is None:
        return
    # The console handler's level only (what setting the variable does at set-up): re-running Prefect's whole
    # logging set-up for it cost about 0.15 s of CPU a call (it renders every Prefect setting).
    for handler in {h for lg in all_loggers() for h in lg.handlers}:
        if isinstance(handler, handlers.PrefectConsoleHandler):
            handler.setLevel(level)


def all_loggers() -> list[logging.Logger]:
    """The root logger and every logger created so far (placeholders left out)."""
    return [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]


def require_api(hint: str) -> None:
    """Refuse (exit 1) unless a Prefect API answers; `hint` says what to do about it."""
    api = connect()
    if not api.ready:
        raise SmartCityError(f"no Prefect API answers at {api.url}: {hint}")


def run_operation(
    *,
    flow: Callable[[], Awaitable[T]],
    in_process: Callable[[], T],
    fallback: str = EVENTS_WAIT,
    use_prefect: bool = True,
    say_fallback: Callable[[T], bool] = lambda _: True,
) -> T:
    """`flow()` as a flow run when an API answers; else `in_process()` and one line saying `fallback`.

    `use_prefect=False` (the demo's --no-prefect) skips the probe and the note. `say_fallback(result)` decides
    whether the fallback is worth a line (a cohort advance that moved nothing left no event waiting)."""
    api = connect() if use_prefect else None
    if api is not None and api.ready:
        return asyncio.run(_awaited(flow))
    if api is not None and get_settings().require_prefect:
        raise DomainRefused(
            f"Prefect API at {api.url} is {api.problem}; nothing was changed. Start one with `smartcity up`."
        )
    result = in_process()
    if api is not None and say_fallback(result):
        print(f"note: Prefect API at {api.url} is {api.problem}: {fallback}", file=sys.stderr)
    return result


async def _awaited(flow: Callable[[], Awaitable[T]]) -> T:
    return await flow()


def flow_result(result: object) -> dict[str, Any]:
    """A flow's summary; a flow that ended in a state of its own (cancelled or failed) says so in one line."""
    if not isinstance(result, dict):
        raise SmartCityError(f"flow run ended without a result: {result}")
    return result


def _now() -> datetime:
    return datetime.now(UTC)


def advance_region(change: StageChange) -> dict[str, Any]:
    """One region, through the advance-stage flow (or in this process). Unknown regions and cohorts are refused
    first (exit 2), so a typo creates no run."""
    from smartcity.models.core.program import get_cohort

    with session_scope() as session:
        if change.cohort is not None:
            get_cohort(session, change.cohort)  # a typo is bad input, not "not enrolled" (a rule)
        version = find_enrollment(session, change.region_code, change.cohort).version
    change = StageChange(**{**change.as_dict(), "expected_version": version})

    def in_process() -> dict[str, Any]:
        with session_scope() as session:
            return change_stage(session, change, now=_now()).as_dict()

    async def as_flow() -> dict[str, Any]:
        from smartcity.flows.advance_stage import advance_stage

        state = await advance_stage(**change.flow_parameters(), return_state=True)
        result = await state.aresult(raise_on_failure=False)
        if not isinstance(result, dict):
            raise SmartCityError(f"flow run failed: {result}")
        return result

    result = run_operation(flow=as_flow, in_process=in_process)
    if result.get("status") == "refused":
        error = SmartCityError(result["error"])
        error.exit_code = result["exit_code"]
        raise error
    return result


def advance_cohort(*, cohort: str, to: str, actor: str, reason: str | None) -> dict[str, Any]:
    """A whole cohort, as one advance-cohort flow run (or in this process, batch by batch)."""
    from smartcity.models.core.program import get_cohort

    with session_scope() as session:
        get_cohort(session, cohort)

    async def as_flow() -> dict[str, Any]:
        from smartcity.flows.advance_cohort import advance_cohort as flow

        return flow_result(await flow(cohort=cohort, to=to, actor=actor, reason=reason))

    def in_process() -> dict[str, Any]:
        return asyncio.run(
            advance_cohort_in_batches(
                cohort=cohort, to=to, actor=actor, reason=reason, now=_now(), batch_size=get_settings().batch_size
            )
        )

    return run_operation(flow=as_flow, in_process=in_process, say_fallback=lambda summary: summary["applied"] > 0)


def flush_events() -> int:
    """Publish the outbox now."""
    if not connect().ready:
        raise DomainRefused("cannot publish: no Prefect API answers")
    from smartcity.tasks.events import publish_outbox

    return asyncio.run(publish_outbox())
