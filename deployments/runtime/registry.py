"""The one registry of deployments: flow, name, parameters, schedule or event trigger, tags, description.

`smartcity serve` serves them all; `smartcity deploy --pool NAME` registers them to a work pool so
Prefect workers on other machines (with this package installed) run them. There is no prefect.yaml.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

#: Jinja that pulls our identifiers out of the triggering event's payload.
REGION_FROM_EVENT = {"region_code": "{{ event.payload.region_code }}", "event_id": "{{ event.id | string }}",
                     "at": "{{ event.payload.occurred_at }}"}


@dataclass(frozen=True)
class Spec:
    """One deployment, as data."""

    name: str
    entrypoint: str  # "module:flow_function"
    description: str
    tags: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    timezone: str = "Asia/Jakarta"
    trigger_event: str | None = None
    trigger_parameters: dict[str, str] = field(default_factory=dict)

    def load_flow(self) -> Any:
        """Import the flow object."""
        module, attr = self.entrypoint.split(":")
        return getattr(importlib.import_module(module), attr)


REGISTRY: tuple[Spec, ...] = (
    Spec("advance-stage", "smartcity.flows.advance_stage:advance_stage",
         "Move one region to a stage (coordinators run it from the UI with region_code, to, actor).",
         ("stage-change",)),
    Spec("advance-cohort", "smartcity.flows.advance_cohort:advance_cohort",
         "Move every eligible region of a cohort one stage, in batches.", ("stage-change",)),
    Spec("advance-batch", "smartcity.flows.advance_batch:advance_batch_run",
         "One batch of a cohort (started by advance-cohort with fan_out=True, for work-pool scale-out).",
         ("stage-change",)),
    Spec("drafting-setup", "smartcity.flows.drafting_setup:drafting_setup",
         "On smartcity.region.selected: start drafting (opens its deadline and milestones).",
         ("event-chain",), trigger_event="smartcity.region.selected", trigger_parameters=REGION_FROM_EVENT),
    Spec("select-cohort", "smartcity.flows.select_cohort:select_cohort",
         "Score a cohort's nominees with a selection policy and apply selected / not_selected.",
         ("selection",)),
    Spec("cohort-report", "smartcity.flows.cohort_report:cohort_report",
         "On smartcity.cohort.completed (or on demand): the cohort report (HTML) and its artifacts.",
         ("report",), trigger_event="smartcity.cohort.completed",
         trigger_parameters={"cohort": "{{ event.payload.cohort }}", "as_of": "{{ event.payload.occurred_at }}"}),
    Spec("review-round", "smartcity.flows.review_round:review_round",
         "On smartcity.masterplan.submitted: a review round that waits for each assigned reviewer's form.",
         ("reviews",), trigger_event="smartcity.masterplan.submitted",
         trigger_parameters={"region_code": "{{ event.payload.region_code }}",
                             "round_no": "{{ event.payload.round }}"}),
    Spec("deadline-sweep", "smartcity.flows.deadline_sweep:deadline_sweep",
         "Daily at 08:00 WIB: enqueue the reminder rungs that are due (08:00 in each region's own zone) and send them.",
         ("deadlines",), cron="0 8 * * *", timezone="Asia/Jakarta"),
    Spec("weekly-digest", "smartcity.flows.weekly_digest:weekly_digest",
         "Mondays at 07:00 WIB: one digest per coordinator of what is due, overdue and stuck, per cohort.",
         ("deadlines",), cron="0 7 * * 1", timezone="Asia/Jakarta"),
    Spec("quick-win-tracking", "smartcity.flows.quick_win_tracking:quick_win_tracking",
         "On smartcity.region.masterplan_completed: tell the PIC when the quick win is due, once.",
         ("event-chain",), trigger_event="smartcity.region.masterplan_completed",
         trigger_parameters=REGION_FROM_EVENT),
    Spec("close-region-file", "smartcity.flows.close_region_file:close_region_file",
         "On smartcity.region.quick_win_delivered: close the region's file with its full history.",
         ("event-chain",), trigger_event="smartcity.region.quick_win_delivered",
         trigger_parameters=REGION_FROM_EVENT),
)


def spec(name: str) -> Spec:
    """The spec called `name`."""
    for s in REGISTRY:
        if s.name == name:
            return s
    raise KeyError(name)


def to_runner_deployment(s: Spec, *, module_entrypoint: bool = False) -> Any:
    """A Prefect RunnerDeployment for the spec (module entrypoints for work pools)."""
    from prefect.deployments.runner import EntrypointType
    from prefect.events import DeploymentEventTrigger
    from prefect.schedules import Cron

    kwargs: dict[str, Any] = {
        "name": s.name, "description": s.description, "tags": ["smartcity", *s.tags],
        "parameters": s.parameters or None,
    }
    if s.cron:
        kwargs["schedules"] = [Cron(s.cron, timezone=s.timezone)]
    if s.trigger_event:
        kwargs["triggers"] = [DeploymentEventTrigger(
            name=f"{s.name} on {s.trigger_event}", expect={s.trigger_event},
            match={"prefect.resource.id": "smartcity.*"}, parameters=s.trigger_parameters)]
    if module_entrypoint:
        kwargs["entrypoint_type"] = EntrypointType.MODULE_PATH
    return s.load_flow().to_deployment(**kwargs)


def serve_all(limit: int | None = None) -> None:
    """Serve every deployment from this process until interrupted."""
    from prefect import serve

    serve(*(to_runner_deployment(s) for s in REGISTRY), limit=limit, print_starting_message=True)


def deploy_all(pool: str) -> list[str]:
    """Register every deployment to a process work pool (created if missing); returns their ids."""
    from prefect import deploy, get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        except ObjectAlreadyExists:
            pass
    ids = deploy(*(to_runner_deployment(s, module_entrypoint=True) for s in REGISTRY), work_pool_name=pool,
                 build=False, push=False, print_next_steps_message=False, ignore_warnings=True)
    return [str(i) for i in ids]
