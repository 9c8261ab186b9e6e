"""review-round: collect the reviews of one masterplan round through the Prefect UI.

Triggered by: `smartcity masterplan submit` (a run per submitted round), or a run of the
`review-round` deployment from the UI. The run waits with a form (`ReviewForm`); each reviewer fills
it in the UI (`client.resume_flow_run(id, run_input={...})` does the same). Reviews typed with
`smartcity review submit` land in the same tables; the loop ends when the round closes either way.

A deployment run SUSPENDS while it waits: reviews take weeks, and a suspended run holds no process.
Each form reschedules it; it starts again from the top, reads the round from the database, and gets
the forms it was already given back from Prefect (same keys), so it records each once. A run started
in-process (tests, a script) has no deployment to be rescheduled by, so it pauses instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectNotFound
from prefect.flow_runs import apause_flow_run, asuspend_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field, ValidationError, create_model

from smartcity.models.infra.db import row_id, session_scope
from smartcity.models.reviews.ops import RUBRIC, find_round
from smartcity.models.vocabulary import Decision
from smartcity.tasks.events import publish_events
from smartcity.tasks.reviews import publish_pending_board, read_round, record_ui_review
from smartcity.tasks.runs import tag_region_run

REVIEW_WINDOW_DAYS = 21.0


def _rubric_fields() -> dict[str, Any]:
    """Per dimension of the rubric, a 1-5 score and a comment, in the rubric's order."""
    fields: dict[str, Any] = {
        "reviewer_id": (int, Field(description="your reviewer number (see `smartcity reviewers list`)"))
    }
    for key, name in RUBRIC.items():
        fields[key] = (int, Field(ge=1, le=5, description=f"{name}, 1-5"))
        fields[f"{key}_comment"] = (str, "")
    # When the review was made, if not now (a review given on paper, or a simulated clock): its business time.
    reviewed_at = (datetime | None, Field(None, description="when the review was made, if not now"))
    return fields | {"decision": (Decision, ...), "comment": (str, ""), "reviewed_at": reviewed_at}


#: One reviewer's review, the form the UI shows: built from the rubric, so a dimension is added in one place.
ReviewForm: type[RunInput] = create_model(
    "ReviewForm",
    __base__=RunInput,
    __doc__="One reviewer's review: the six Smart City dimensions scored 1 (weak) to 5 (strong), and a decision.",
    **_rubric_fields(),
)


def run_name() -> str:
    """review-3273-round-2 (region code and round number, or "latest")."""
    params = flow_run.parameters
    return f"review-{params['region_code']}-round-{params.get('round_no') or 'latest'}"


def _form_for(info: dict) -> type[RunInput]:
    waiting = ", ".join(f"#{w['reviewer_id']} {w['reviewer']} ({w['institution']})" for w in info["waiting"])
    return ReviewForm.with_initial_data(
        description=f"**{info['region']}** ({info['region_code']}), masterplan {info['version']}, review round "
        f"{info['round_no']}.\n\nWaiting for: {waiting}.\n\nScore each dimension 1-5 "
        f"({', '.join(RUBRIC.values())}) and approve or ask for a revision."
    )


@flow(name="review-round", flow_run_name=run_name, log_prints=False)
async def review_round(
    region_code: str,
    round_no: int | None = None,
    review_window_days: float = REVIEW_WINDOW_DAYS,
    poll_seconds: int = 10,
) -> dict:
    """Wait for each missing review until the round closes (quorum) or the review window ends."""
    logger = get_run_logger()
    with session_scope() as session:
        round_id = row_id(find_round(session, region_code, round_no))
    info = read_round(round_id)
    await tag_region_run(region_code, stage="drafting", extra=(f"round:{info['round_no']}",))
    await publish_pending_board()
    context = FlowRunContext.get()
    run = context.flow_run if context else None
    if run is None:
        raise RuntimeError("review-round runs only as a flow run")
    suspend = run.deployment_id is not None
    # The window runs from the run's first start, which a rescheduled (suspended) run keeps.
    ends = (run.start_time or datetime.now(UTC)) + timedelta(days=review_window_days)
    tries = 0  # forms refused since the last one recorded: part of the wait key, so a replay asks the same
    while info["status"] == "open" and info["waiting"]:
        remaining = int((ends - datetime.now(UTC)).total_seconds())
        if remaining <= 0:
            raise TimeoutError(
                f"region {region_code} round {info['round_no']}: review window ended with "
                f"{len(info['waiting'])} review(s) missing"
            )
        # Deterministic per (UI reviews recorded, refusals since): a rerun after a suspension meets the same
        # keys in the same order and Prefect hands back the form each one received.
        key = f"round-{round_id}-ui-{info['ui_reviews']}-try-{tries}"
        form = await _wait_for_form(_form_for(info), key, remaining, poll_seconds, suspend)
        tries += 1
        if form is not None:
            outcome = record_ui_review(round_id, form.model_dump())
            if outcome["status"] == "refused":
                logger.warning("review not recorded: %s", outcome["error"])
            else:
                tries = 0
            await publish_events()
        await publish_pending_board()
        info = read_round(round_id)
    logger.info("region %s round %s is %s: %s", region_code, info["round_no"], info["status"], info["summary"])
    return info


async def _wait_for_form(
    form: type[RunInput], key: str, timeout: int, poll_seconds: int, suspend: bool
) -> RunInput | None:
    """The next reviewer's form; None when the run was released without one (the round closed by CLI)."""
    try:
        if suspend:
            return await asuspend_flow_run(wait_for_input=form, timeout=timeout, key=key)
        return await apause_flow_run(wait_for_input=form, timeout=timeout, poll_interval=poll_seconds, key=key)
    except (ValidationError, ObjectNotFound):
        # Resumed with no form: `smartcity review submit` closed the round and released this run.
        return None
