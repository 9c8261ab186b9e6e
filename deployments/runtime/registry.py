"""The one registry of deployments: flow, name, parameters, schedule or event trigger, tags, description.

`smartcity serve` serves them all; `smartcity deploy --pool NAME` registers them to a work pool so
Prefect workers on other machines (with this package installed) run them. There is no prefect.yaml.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast
from uuid import UUID

#: Jinja that pulls our identifiers out of the triggering event's payload.
REGION_FROM_EVENT = {
    "region_code": "{{ event.payload.region_code }}",
    "event_id": "{{ event.id | string }}",
    "at": "{{ event.payload.occurred_at }}",
}
#: Any stage change: which follow-up it calls for is a label of the region resource, set from the cohort's
#: program definition (`ProgramDefinition.follow_up`), so the registry needs no list of any program's stages.
STAGE_ENTERED = "smartcity.region.*"

#: 08:00 in WIB, WITA and WIT: reminder rungs fall due at 08:00 in their region's zone, and three crons hit
#: each zone's 08:00 exactly with 3 runs a day (an hourly cron would need 24), each named by the zone it serves.
EVERY_ZONE_AT_0800: tuple[tuple[str, str], ...] = tuple(
    ("0 8 * * *", tz) for tz in ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")
)


@dataclass(frozen=True)
class Spec:
    """One deployment, as data."""

    name: str
    entrypoint: str  # "module:flow_function"
    description: str
    tags: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: tuple[tuple[str, str], ...] = ()  # (cron, IANA zone): each fires at its cron's time in that zone
    trigger_event: str | None = None
    trigger_parameters: dict[str, str] = field(default_factory=dict)
    # Several events (trailing wildcards allowed) for one trigger, when `trigger_event` is not enough.
    trigger_events: tuple[str, ...] = ()
    # The follow-up this deployment is (FollowUp value): its trigger matches region events whose resource
    # carries `smartcity.follow-up: <name>`.
    follow_up: str | None = None
    # One run per burst: the first event schedules a run one window later (SMARTCITY_REFRESH_WINDOW_S); the
    # events until then start no other run (Prefect's reactive `within` window), and that run reads them all.
    coalesce: bool = False

    def load_flow(self) -> Any:
        """Import the flow object."""
        module, attr = self.entrypoint.split(":")
        return getattr(importlib.import_module(module), attr)


REGISTRY: tuple[Spec, ...] = (
    Spec(
        "advance-stage",
        "smartcity.flows.advance_stage:advance_stage",
        "Move one region to a stage (coordinators run it from the UI with region_code, to, actor).",
        ("stage-change",),
    ),
    Spec(
        "advance-cohort",
        "smartcity.flows.advance_cohort:advance_cohort",
        "Move every eligible region of a cohort one stage, in batches.",
        ("stage-change",),
    ),
    Spec(
        "advance-batch",
        "smartcity.flows.advance_batch:advance_batch_run",
        "One batch of a cohort (started by advance-cohort with fan_out=True, for work-pool scale-out).",
        ("stage-change",),
    ),
    Spec(
        "drafting-setup",
        "smartcity.flows.drafting_setup:drafting_setup",
        "When a region enters a stage its program leaves by an automatic edge (default: selected): take that "
        "edge (selected -> drafting opens the masterplan deadline and the bimtek milestones).",
        ("event-chain",),
        trigger_event=STAGE_ENTERED,
        trigger_parameters={**REGION_FROM_EVENT, "entered": "{{ event.payload.to }}"},
        follow_up="drafting-setup",
    ),
    Spec(
        "select-cohort",
        "smartcity.flows.select_cohort:select_cohort",
        "Score a cohort's nominees with a selection policy and apply selected / not_selected.",
        ("selection",),
    ),
    Spec(
        "cohort-report",
        "smartcity.flows.cohort_report:cohort_report",
        "On smartcity.cohort.completed (or on demand): the cohort report (HTML) and its artifacts.",
        ("report",),
        trigger_event="smartcity.cohort.completed",
        trigger_parameters={"cohort": "{{ event.payload.cohort }}", "as_of": "{{ event.payload.occurred_at }}"},
    ),
    Spec(
        "review-round",
        "smartcity.flows.review_round:review_round",
        "On smartcity.masterplan.submitted: a review round that waits for each assigned reviewer's form.",
        ("reviews",),
        trigger_event="smartcity.masterplan.submitted",
        trigger_parameters={"region_code": "{{ event.payload.region_code }}", "round_no": "{{ event.payload.round }}"},
    ),
    Spec(
        "deadline-sweep",
        "smartcity.flows.deadline_sweep:deadline_sweep",
        "Daily at 08:00 WIB, 08:00 WITA and 08:00 WIT: enqueue the reminder rungs that are due (08:00 in each "
        "region's own zone) and send them.",
        ("deadlines",),
        schedules=EVERY_ZONE_AT_0800,
    ),
    Spec(
        "weekly-digest",
        "smartcity.flows.weekly_digest:weekly_digest",
        "Mondays at 07:00 WIB: one digest per coordinator of what is due, overdue and stuck, per cohort.",
        ("deadlines",),
        schedules=(("0 7 * * 1", "Asia/Jakarta"),),
    ),
    Spec(
        "quick-win-tracking",
        "smartcity.flows.quick_win_tracking:quick_win_tracking",
        "When a region enters its program's quick-win stage (default: masterplan_completed): tell the PIC when "
        "the quick win is due, once.",
        ("event-chain",),
        trigger_event=STAGE_ENTERED,
        trigger_parameters={**REGION_FROM_EVENT, "entered": "{{ event.payload.to }}"},
        follow_up="quick-win-tracking",
    ),
    Spec(
        "close-region-file",
        "smartcity.flows.close_region_file:close_region_file",
        "When a region reaches the end of its program's main line (default: quick_win_delivered): close the "
        "region's file with its full history.",
        ("event-chain",),
        trigger_event=STAGE_ENTERED,
        trigger_parameters=REGION_FROM_EVENT,
        follow_up="close-region-file",
    ),
    Spec(
        "refresh-board",
        "smartcity.flows.refresh_board:refresh_board",
        "On any stage change, review or review round (bursts coalesced, one run per window, 10 s by default): "
        "republish the program board, each cohort's table and progress, and the pending reviews.",
        ("report",),
        trigger_events=("smartcity.region.*", "smartcity.review.submitted", "smartcity.masterplan.*"),
        trigger_parameters={"as_of": "{{ event.payload.occurred_at }}"},
        coalesce=True,
    ),
)


def spec(name: str) -> Spec:
    """The spec called `name`."""
    for s in REGISTRY:
        if s.name == name:
            return s
    raise KeyError(name)


def to_runner_deployment(s: Spec, *, module_entrypoint: bool = False) -> Any:
    """A Prefect RunnerDeployment for the spec (module entrypoints for work pools); a coalescing trigger's
    window is the `refresh_window_s` setting."""
    from prefect.deployments.runner import EntrypointType
    from prefect.events import DeploymentEventTrigger

    from smartcity.models.infra.settings import get_settings

    window = timedelta(seconds=get_settings().refresh_window_s if s.coalesce else 0)

    kwargs: dict[str, Any] = {
        "name": s.name,
        "description": s.description,
        "tags": ["smartcity", *s.tags],
        "parameters": s.parameters or None,
    }
    if s.schedules:
        kwargs["schedules"] = [zoned_cron(s.name, cron, tz) for cron, tz in s.schedules]
    expect = {s.trigger_event} if s.trigger_event else set(s.trigger_events)
    if expect:
        kwargs["triggers"] = [
            DeploymentEventTrigger(
                name=f"{s.name} on {', '.join(sorted(expect))}",
                expect=expect,
                match={
                    "prefect.resource.id": "smartcity.*",
                    **({"smartcity.follow-up": s.follow_up} if s.follow_up else {}),
                },
                parameters=s.trigger_parameters,
                within=window,
                schedule_after=window,
            )
        ]
    if module_entrypoint:
        kwargs["entrypoint_type"] = EntrypointType.MODULE_PATH
    return s.load_flow().to_deployment(**kwargs)


def zoned_cron(name: str, cron: str, tz: str) -> Any:
    """A Prefect cron schedule in `tz` whose runs get `zone` (WIB/WITA/WIT), which names them."""
    from prefect.schedules import Cron

    from smartcity.models.deadlines.workdays import zone_abbrev

    zone = zone_abbrev(tz)
    return Cron(cron, timezone=tz, parameters={"zone": zone}, slug=f"{name}-{zone.lower()}")


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
    # Called from sync code, Prefect's sync-compatible `deploy` returns the ids, not a coroutine.
    ids = cast(
        "list[UUID]",
        deploy(
            *(to_runner_deployment(s, module_entrypoint=True) for s in REGISTRY),
            work_pool_name=pool,
            build=False,
            push=False,
            print_next_steps_message=False,
            ignore_warnings=True,
        ),
    )
    return [str(i) for i in ids]
