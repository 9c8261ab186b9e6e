"""Helpers that label the current flow run so coordinators can filter the Prefect UI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import pendulum
from prefect import get_client
from prefect.runtime import flow_run
from sqlmodel import col, select

from smartcity.models.core.events import slug
from smartcity.models.core.tables import Cohort, Enrollment, Region
from smartcity.models.infra.db import session_scope
from smartcity.models.programs.store import closed_stages

#: The zone whose morning a scheduled sweep or digest serves: a dropdown in the run form, the end of the run's name.
Zone = Literal["WIB", "WITA", "WIT"]
ZONE_TZ: dict[str, str] = {"WIB": "Asia/Jakarta", "WITA": "Asia/Makassar", "WIT": "Asia/Jayapura"}
# Indonesia's zones have had fixed offsets since 1988, so an instant's offset names its zone.
_ZONE_OF_OFFSET = {timedelta(hours=7): "WIB", timedelta(hours=8): "WITA", timedelta(hours=9): "WIT"}


def current_flow_run_id() -> str | None:
    """The id of the flow run we are in, if any."""
    run_id = flow_run.id
    return str(run_id) if run_id else None


async def add_run_tags(tags: list[str], name: str | None = None) -> None:
    """Add tags to the current flow run and, when given, rename it: one PATCH, none when nothing changes.

    Tags are known only once the flow has looked its region up, so every run (CLI, UI, trigger, schedule)
    learns them here.
    """
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    run = ctx.flow_run if ctx else None
    if run is None:
        return
    current = set(run.tags or [])
    rename = name is not None and name != run.name
    if set(tags) <= current and not rename:
        return
    merged = sorted(current | set(tags))
    async with get_client() as client:  # the run's own client when there is one: no new connection
        await client.update_flow_run(run.id, tags=merged, name=name if rename else None)
    run.tags = merged
    if rename and name is not None:
        run.name = name


def scheduled_time() -> datetime:
    """When the current run was due, in UTC: its schedule's time for a scheduled run, its creation otherwise."""
    due = flow_run.scheduled_start_time
    return datetime.combine(due.date(), due.timetz()).astimezone(UTC)  # a plain datetime, not Prefect's subclass


def run_zone(now: str | None, zone: str | None) -> str:
    """The zone a run is named by: the one given, else the one whose offset `now` carries, else WIB."""
    if zone:
        return zone
    offset = datetime.fromisoformat(now.strip()).utcoffset() if now else None
    return _ZONE_OF_OFFSET.get(offset, "WIB") if offset is not None else "WIB"


def zoned_run_name(flow_name: str, instant: datetime, zone: str) -> str:
    """`<flow>-YYYY-MM-DD-HHmm-<zone>` with the as-of time in that zone, e.g. deadline-sweep-2017-09-18-0800-wit."""
    local = pendulum.instance(instant).in_timezone(ZONE_TZ[zone])
    return f"{flow_name}-{local.format('YYYY-MM-DD-HHmm')}-{zone.lower()}"


async def name_zoned_run(flow_name: str, instant: datetime, zone: str, tag: str) -> None:
    """Name the current run by its as-of time and zone, and tag it `tag` and `zone:<zone>`."""
    await add_run_tags([tag, f"zone:{zone.lower()}"], name=zoned_run_name(flow_name, instant, zone))


@dataclass(frozen=True)
class RegionFacts:
    """What a region's run is named and tagged by: its name, province and cohort (None if not enrolled)."""

    name: str
    province: str
    cohort: str | None


def region_facts(region_code: str, cohort: str | None = None) -> RegionFacts | None:
    """The region's name, province and cohort in one query; None for a code not in the registry.

    The cohort is the one given, else the region's open enrollment, else its latest (a delivered region's
    file is closed in the cohort it finished)."""
    query = (
        select(Region.name, Region.province, Cohort.name, Enrollment.stage)
        .select_from(Region)
        .outerjoin(Enrollment, col(Enrollment.region_id) == Region.id)
        .outerjoin(Cohort, col(Enrollment.cohort_id) == Cohort.id)
        .where(Region.bps_code == region_code)
        .order_by(col(Cohort.year).desc(), col(Enrollment.id).desc())
    )
    with session_scope() as session:
        rows = session.exec(query).all()
        closed = set(closed_stages(session))
    if not rows:
        return None
    enrolled = [r for r in rows if r[2] is not None]
    if cohort is not None:
        found = cohort if any(r[2] == cohort for r in enrolled) else None
    else:
        open_ = [r for r in enrolled if r[3] not in closed]
        found = (open_ or enrolled)[0][2] if enrolled else None
    return RegionFacts(rows[0][0], rows[0][1], found)


def region_tags(region_code: str, facts: RegionFacts | None, stage: str | None = None) -> list[str]:
    """`region:`, `stage:`, `province:` and `cohort:` tags of a per-region run (those that are known)."""
    tags = [f"region:{region_code}"] + ([f"stage:{stage}"] if stage else [])
    if facts is not None:
        tags.append(f"province:{slug(facts.province)}")
        if facts.cohort:
            tags.append(f"cohort:{facts.cohort}")
    return tags


async def tag_region_run(
    region_code: str, *, stage: str | None = None, cohort: str | None = None, extra: tuple[str, ...] = ()
) -> RegionFacts | None:
    """Tag the current run with its region, stage, province and cohort (one lookup, one PATCH)."""
    facts = region_facts(region_code, cohort)
    await add_run_tags([*region_tags(region_code, facts, stage), *extra])
    return facts
