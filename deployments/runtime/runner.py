"""Run stage changes as Prefect flows against the coordinator's server.

When no Prefect API answers, the change still commits through the same domain function and its
event waits in the outbox (`smartcity events flush` publishes it) unless SMARTCITY_REQUIRE_PREFECT
is set, in which case the command refuses before writing anything.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC

from smartcity.models.core.errors import DomainRefused, SmartCityError
from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage, find_enrollment
from smartcity.models.infra.db import session_scope
from smartcity.models.infra.settings import get_settings


def prefect_ready() -> bool:
    """Point Prefect at the coordinator's server; False when it does not answer (see _fallback_note)."""
    # Flow-run logs still reach the API (and the UI); the terminal gets our one-line messages only.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    from smartcity.deployments.runtime import prefect_link

    url = prefect_link.api_url()
    problem = prefect_link.health(url)
    if problem is None:
        prefect_link.use_api(url)
        return True
    if "credentials" in problem:
        raise DomainRefused(f"Prefect API at {url} {problem}")
    if get_settings().require_prefect:
        raise DomainRefused(f"Prefect API at {url} is {problem}; nothing was changed. "
                            "Start one with `smartcity up`.")
    _NOTE.append(f"note: Prefect API at {url} is {problem}: committed without a flow run; the event "
                 "waits in the outbox (`smartcity up`, then `smartcity events flush`).")
    return False


_NOTE: list[str] = []


def _fallback_note() -> None:
    """Say, after a fallback change committed, how its event will reach Prefect."""
    if _NOTE:
        print(_NOTE.pop(), file=sys.stderr)


def advance_region(code: str, to: str, actor: str, reason: str | None, cohort: str | None,
                   idempotency_key: str | None, force: bool = False) -> dict:
    """One region, through the advance-stage flow (or the documented fallback)."""
    with session_scope() as session:
        version = find_enrollment(session, code, cohort).version
    if not prefect_ready():
        request = StageChange(code, Stage(to), actor, reason, cohort, version, idempotency_key, force=force)
        from datetime import datetime

        with session_scope() as session:
            result = change_stage(session, request, now=datetime.now(UTC)).as_dict()
        _fallback_note()
        return result
    from smartcity.flows.advance_stage import advance_stage

    async def run() -> dict:
        state = await advance_stage(code, to, actor, reason, cohort, version, idempotency_key, force,
                                    return_state=True)
        result = await state.aresult(raise_on_failure=False)
        if isinstance(result, BaseException):
            raise SmartCityError(f"flow run failed: {result}")
        return result

    result = asyncio.run(run())
    if result.get("status") == "refused":
        error = SmartCityError(result["error"])
        error.exit_code = result["exit_code"]
        raise error
    return result


def advance_cohort(cohort: str, to: str, actor: str, reason: str | None) -> dict:
    """A whole cohort, as one advance-cohort flow run (or the fallback, batch by batch)."""
    with session_scope() as session:
        from smartcity.models.core.program import get_cohort

        get_cohort(session, cohort)
    if not prefect_ready():
        return _advance_cohort_direct(cohort, to, actor, reason)
    from smartcity.flows.advance_cohort import advance_cohort as flow

    return asyncio.run(flow(cohort, to, actor, reason))


def _advance_cohort_direct(cohort: str, to: str, actor: str, reason: str | None) -> dict:
    from datetime import datetime

    from smartcity.models.core.program import plan_advance
    from smartcity.models.core.transitions import advance_many

    with session_scope() as session:
        items, summary = plan_advance(session, cohort, Stage(to))
        outcome = advance_many(session, cohort=cohort, items=items, to=Stage(to), actor=actor,
                               reason=reason, now=datetime.now(UTC))
    summary.update(applied=len(outcome["applied"]), unchanged=len(outcome["unchanged"]),
                   refused=outcome["refused"])
    if outcome["applied"]:
        _fallback_note()
    return summary


def flush_events() -> int:
    """Publish the outbox now."""
    if not prefect_ready():
        raise DomainRefused("cannot publish: no Prefect API answers")
    from smartcity.tasks.events import publish_outbox

    return asyncio.run(publish_outbox())
