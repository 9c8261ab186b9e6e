"""The deployment registry: every entry imports and builds, every trigger listens for an event the code
really emits, schedules carry an IANA time zone, and a sweep fires at 08:00 in every zone regions live in."""

from __future__ import annotations

import asyncio
import csv
import re
import zoneinfo
from datetime import timedelta

import pendulum
import pytest
from prefect.server.schemas.schedules import CronSchedule
from prefect.utilities.callables import parameter_schema

from smartcity.deployments.runtime.registry import REGISTRY, spec, to_runner_deployment
from smartcity.models.core.stages import Stage
from smartcity.tasks.runs import ZONE_TZ
from tests.helpers import REGISTRY as REGIONS_CSV
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
    if spec.trigger_event and not spec.follow_up:
        assert spec.trigger_event in emitted_events(), f"{spec.name} waits for an event nobody emits"
        (trigger,) = deployment.triggers
        assert trigger.expect == {spec.trigger_event}
        assert all("event." in v for v in trigger.parameters.values())
    if spec.follow_up:
        # A follow-up is chosen by the region resource's label, which the program definition sets.
        (trigger,) = deployment.triggers
        assert trigger.expect == {"smartcity.region.*"}
        assert trigger.match.model_dump().get("smartcity.follow-up") == spec.follow_up
    assert [(d.schedule.cron, d.schedule.timezone) for d in deployment.schedules] == list(spec.schedules)
    for _, tz in spec.schedules:
        zoneinfo.ZoneInfo(tz)


def test_only_the_board_refresh_coalesces_and_its_window_is_a_setting(monkeypatch):
    from tests.conftest import reset_caches

    def windows() -> dict[str, tuple[timedelta, timedelta]]:
        built = {s.name: to_runner_deployment(s) for s in REGISTRY}
        return {n: (t.within, t.schedule_after) for n, d in built.items() for t in d.triggers or [] if t.within}

    assert windows() == {"refresh-board": (timedelta(seconds=10), timedelta(seconds=10))}
    monkeypatch.setenv("SMARTCITY_REFRESH_WINDOW_S", "3")
    reset_caches()
    assert windows() == {"refresh-board": (timedelta(seconds=3), timedelta(seconds=3))}
    monkeypatch.delenv("SMARTCITY_REFRESH_WINDOW_S")
    reset_caches()


def test_event_graph_has_no_dead_ends():
    """Each stage event of the main line past selection starts the next piece of work: in the default program,
    the follow-up label of the stage entered names a deployment that waits for it."""
    from smartcity.models.programs.loading import shipped

    triggers = {s.trigger_event for s in REGISTRY if s.trigger_event and not s.follow_up}
    for event in ("smartcity.masterplan.submitted", "smartcity.cohort.completed"):
        assert event in triggers, f"{event} starts nothing"
    assert triggers <= emitted_events()
    followers = {s.follow_up for s in REGISTRY if s.follow_up}
    default = shipped()
    labels = {stage: default.follow_up(stage) for stage in default.stage_names}
    assert {k: v for k, v in labels.items() if v} == {
        "selected": "drafting-setup",
        "masterplan_completed": "quick-win-tracking",
        "quick_win_delivered": "close-region-file",
    }
    assert {v for v in labels.values() if v} == followers


SAMPLE_WEEK = [pendulum.date(2017, 9, 18).add(days=i) for i in range(7)]  # Monday to Sunday
LATE_BY_AT_MOST = timedelta(minutes=5)


def region_zones() -> set[str]:
    """Every IANA zone the region registry uses (Asia/Pontianak included)."""
    with REGIONS_CSV.open(encoding="utf-8") as f:
        return {row["timezone"] for row in csv.DictReader(f)}


def fire_times(name: str, start: pendulum.DateTime, end: pendulum.DateTime) -> list[pendulum.DateTime]:
    """When the deployment's schedules fire in [start, end], computed by the Prefect server's own schedule."""
    dates: list[pendulum.DateTime] = []
    for d in to_runner_deployment(spec(name)).schedules:
        server_schedule = CronSchedule(cron=d.schedule.cron, timezone=d.schedule.timezone, day_or=d.schedule.day_or)
        dates += asyncio.run(server_schedule.get_dates(start=start, end=end))
    return dates


def test_a_sweep_fires_at_0800_in_every_region_zone_every_day():
    zones = region_zones()
    assert {"Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"} <= zones
    start = pendulum.datetime(2017, 9, 17, tz="UTC")
    fires = fire_times("deadline-sweep", start, start.add(days=9).subtract(seconds=1))
    late = []
    for tz in sorted(zones):
        for day in SAMPLE_WEEK:
            eight = pendulum.datetime(day.year, day.month, day.day, 8, tz=tz)
            if not any(eight <= f <= eight + LATE_BY_AT_MOST for f in fires):
                later = min((f for f in fires if f >= eight), default=None)
                late.append(f"{tz} {day}: next sweep at {later and later.in_timezone(tz).format('HH:mm')} local")
    assert not late, late
    assert len(fires) == 3 * 9, "three sweeps a day, not one an hour"


@pytest.mark.parametrize("spec", [s for s in REGISTRY if s.schedules], ids=lambda s: s.name)
def test_each_schedule_gives_its_runs_the_zone_it_serves(spec):
    deployment = to_runner_deployment(spec)
    assert len({d.slug for d in deployment.schedules}) == len(deployment.schedules)
    assert "zone" in parameter_schema(spec.load_flow()).properties, f"{spec.name} takes no zone"
    for d in deployment.schedules:
        monday = pendulum.datetime(2017, 9, 18, tz=d.schedule.timezone)
        assert monday.in_timezone(ZONE_TZ[d.parameters["zone"]]).utcoffset() == monday.utcoffset()
