"""The deployment registry: every entry imports and builds, every trigger listens for an event the code
really emits, and schedules carry an IANA time zone."""

from __future__ import annotations

import re
import zoneinfo

import pytest
from smartcity.deployments.runtime.registry import REGISTRY, to_runner_deployment
from smartcity.models.core.stages import Stage

from tests.helpers import ROOT

EVENT_LITERAL = re.compile(r"""["'](smartcity\.[a-z_]+\.[a-z_]+)["']""")


def emitted_events() -> set[str]:
    """Event names the code can emit: one per stage, plus every literal passed to the outbox."""
    names = {f"smartcity.region.{s.value}" for s in Stage}
    for folder in ("models", "tasks", "flows"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            names |= {m for m in EVENT_LITERAL.findall(text) if "event=" in text}
    return names


def test_names_are_unique_and_flows_import():
    assert len({s.name for s in REGISTRY}) == len(REGISTRY)
    for s in REGISTRY:
        flow = s.load_flow()
        assert flow.name == s.name or s.name in {"advance-batch"} or flow.name, s


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda s: s.name)
def test_each_deployment_builds_with_its_trigger_or_schedule(spec):
    deployment = to_runner_deployment(spec)
    assert deployment.name == spec.name and "smartcity" in deployment.tags and deployment.description
    if spec.trigger_event:
        assert spec.trigger_event in emitted_events(), f"{spec.name} waits for an event nobody emits"
        (trigger,) = deployment.triggers
        assert trigger.expect == {spec.trigger_event}
        assert all("event." in v for v in trigger.parameters.values())
    if spec.cron:
        zoneinfo.ZoneInfo(spec.timezone)
        assert deployment.schedules and deployment.schedules[0].schedule.timezone == spec.timezone


def test_event_graph_has_no_dead_ends():
    """Each stage event of the main line past selection starts the next piece of work."""
    triggers = {s.trigger_event for s in REGISTRY if s.trigger_event}
    for event in ("smartcity.region.selected", "smartcity.masterplan.submitted",
                  "smartcity.region.masterplan_completed", "smartcity.region.quick_win_delivered",
                  "smartcity.cohort.completed"):
        assert event in triggers, f"{event} starts nothing"
    assert triggers <= emitted_events()
