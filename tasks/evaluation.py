"""A task that publishes a year's implementation evaluation as a Prefect Markdown artifact, `evaluation-<year>`.

The artifact holds only scores, indexes and region facts (the evaluation never reads contacts, so no secret can
reach it): a table per cohort, ranked, with the weights stated and simulated scores marked as simulated.
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from smartcity.models.evaluation.ops import evaluation_index
from smartcity.models.evaluation.render import evaluation_markdown
from smartcity.models.infra.db import session_scope


def evaluation_key(year: int) -> str:
    """The artifact key of one year's evaluation."""
    return f"evaluation-{year}"


@task(name="publish-evaluation", cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=2)
def publish_evaluation(year: int, cohort: str | None = None) -> str:
    """Publish the year's ranked index (every cohort, or one) as the `evaluation-<year>` artifact; its key."""
    with session_scope() as session:
        groups = evaluation_index(session=session, year=year, cohort=cohort)
    simulated = any(g.simulated for g in groups)
    create_markdown_artifact(
        markdown=evaluation_markdown(year, groups),
        key=evaluation_key(year),
        description=f"Implementation evaluation {year}: weighted index and rank per cohort"
        + (" (SIMULATED DATA)" if simulated else ""),
    )
    return evaluation_key(year)
