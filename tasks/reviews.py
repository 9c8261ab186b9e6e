"""Tasks of the review flow: record a review from the Prefect UI, publish the 'who is holding what' board."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from smartcity.models.core.errors import SmartCityError
from smartcity.models.infra.db import session_scope
from smartcity.models.reviews.ops import (
    pending_markdown,
    pending_reviews,
    round_status,
    submission_from_form,
    submit_review,
)
from smartcity.tasks.stage import instant

PENDING_ARTIFACT_KEY = "reviews-pending"


@task(name="record-review", cache_policy=NO_CACHE, persist_result=False)
def record_ui_review(round_id: int, form: dict) -> dict:
    """Validate and store one review typed into the UI form; a refusal is returned, not raised."""
    try:
        reviewer_id, submission = submission_from_form(form)
        with session_scope() as session:
            return {
                "status": "recorded",
                **submit_review(
                    session,
                    round_id=round_id,
                    reviewer_id=reviewer_id,
                    submission=submission,
                    source="ui",
                    now=instant(form.get("reviewed_at")),
                ),
            }
    except SmartCityError as exc:
        return {"status": "refused", "error": str(exc), "exit_code": exc.exit_code}


def read_round(round_id: int) -> dict:
    """The round's status and who has not answered yet (a read, so no task run)."""
    with session_scope() as session:
        return round_status(session, round_id)


@task(name="publish-pending-reviews", cache_policy=NO_CACHE, persist_result=False)
async def publish_pending_board(as_of: str | None = None) -> str:
    """Refresh the `reviews-pending` markdown artifact as of `as_of` (ISO; default now): open reviews per
    reviewer, longest wait first. A reviewer who submitted is gone from it (they hold nothing any more)."""
    now = instant(as_of)
    with session_scope() as session:
        markdown = pending_markdown(pending_reviews(session, now), now)
    await acreate_markdown_artifact(
        markdown=markdown, key=PENDING_ARTIFACT_KEY, description="Masterplan reviews waiting, per reviewer"
    )
    return markdown
