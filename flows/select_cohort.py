"""select-cohort: score a cohort's nominees with a selection policy and record the decision.

Triggered by: `smartcity cohort select NAME` (without --dry-run), or a run of the `select-cohort`
deployment from the UI. Each nominee moves to `selected` or `not_selected` through the core's single
stage-change path, with one idempotency key per region, so a re-run records nothing new. The ranking
and the "why" are published as artifacts `selection-<cohort>` and `selection-why-<cohort>`.
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.states import Cancelled, State

from smartcity.models.core.errors import BadInput
from smartcity.models.core.events import slug
from smartcity.models.infra.db import session_scope
from smartcity.models.programs.store import selection_policy
from smartcity.models.selection.indicators import ILLUSTRATIVE_LABEL, SelectionPlan, plan_selection
from smartcity.tasks.events import publish_events
from smartcity.tasks.runs import add_run_tags, current_flow_run_id
from smartcity.tasks.stage import apply_stage_change


def artifact_keys(cohort: str) -> tuple[str, str]:
    """(ranking key, why key): lowercase letters, digits and dashes, as Prefect requires."""
    name = slug(cohort)
    return f"selection-{name}", f"selection-why-{name}"


async def publish_artifacts(plan: SelectionPlan) -> dict[str, str]:
    """The ranking table and the why-markdown, labelled plainly when the values are illustrative."""
    table_key, why_key = artifact_keys(plan.cohort)
    label = f"{ILLUSTRATIVE_LABEL}: not official data. " if plan.pool.illustrative else ""
    selected = len(plan.result.selected_codes)
    await acreate_table_artifact(
        table=plan.ranking_rows(),
        key=table_key,
        description=(
            f"{label}Cohort {plan.cohort}: ranking of {len(plan.result.regions)} nominees under policy "
            f"{plan.result.policy_name}, {selected} selected. {plan.pool.provenance()}."
        ),
    )
    await acreate_markdown_artifact(
        markdown=plan.why_markdown(),
        key=why_key,
        description=f"{label}Why cohort {plan.cohort} selected these {selected} regions.",
    )
    return {"ranking": table_key, "why": why_key}


@flow(name="select-cohort", flow_run_name="select-cohort-{cohort}")
async def select_cohort(
    cohort: str,
    actor: str,
    policy_path: str | None = None,
    year: int | None = None,
    source: str | None = None,
    at: str | None = None,
) -> dict | State:
    """Score with the policy (default: the cohort's program's), apply each decision, publish events and artifacts.

    `at` is the business time of the decisions (ISO instant; default now), for simulated clocks."""
    try:
        with session_scope() as session:
            policy = selection_policy(session, cohort, policy_path)
            plan = plan_selection(session, cohort, policy, year=year, source=source)
    except BadInput as exc:  # a typo in the UI form (unknown cohort, bad policy): nothing done, not a red run
        return Cancelled(message=str(exc))
    await add_run_tags([f"cohort:{cohort}", "selection"] + (["illustrative"] if plan.pool.illustrative else []))
    outcomes = [await apply_stage_change(change, at) for change in plan.changes(actor, current_flow_run_id())]
    await publish_events()
    summary = plan.summary(outcomes)
    summary["artifacts"] = await publish_artifacts(plan)
    return summary
