"""Tasks that build the program report, write it to a file, and publish its numbers as Prefect artifacts.

The board (`program-board`) is always the whole program, every cohort: only a whole-program report publishes
it, and `publish_program_artifacts` rebuilds that report for flows that changed one region or one cohort.

Artifacts hold only the report's numbers and region facts: the report never reads contacts, so no
Apprise URL (or any other secret) can reach an artifact. Keys are lowercase letters, digits and dashes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from smartcity.models.core.events import slug
from smartcity.models.infra.db import session_scope
from smartcity.models.infra.settings import get_settings
from smartcity.models.reports.data import Report, build_report, latest_activity
from smartcity.models.reports.render import (
    cohort_progress_percent,
    cohort_table,
    program_board_markdown,
    render,
)
from smartcity.tasks.stage import instant


def report_path(cohort: str | None, fmt: str = "html") -> Path:
    """Where the report of a cohort (or of the whole program) is written in the data directory."""
    return get_settings().data_dir / "reports" / f"report-{slug(cohort) if cohort else 'program'}.{fmt}"


def artifact_keys(cohort: str) -> dict[str, str]:
    """The artifact keys of one cohort."""
    return {"table": f"cohort-{slug(cohort)}", "progress": f"progress-{slug(cohort)}"}


@task(name="build-report", cache_policy=NO_CACHE, persist_result=False)
def load_report(cohort: str | None, as_of: str, simulated: bool = False) -> dict:
    """Read the database and return the report as plain JSON-able data."""
    with session_scope() as session:
        report = build_report(session, now=datetime.fromisoformat(as_of), cohort=cohort, simulated=simulated)
    return report.model_dump(mode="json")


@task(name="write-report-file", cache_policy=NO_CACHE, persist_result=False)
def write_report_file(report: dict, path: str, fmt: str = "html") -> str:
    """Render the report and write it to `path` (atomically: a reader never sees half a file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(render(Report.model_validate(report), fmt), encoding="utf-8")
    tmp.replace(target)
    return str(target)


BOARD_KEY = "program-board"


def board_time(as_of: str | None, now: datetime) -> datetime:
    """The instant a board refresh shows: the later of `as_of` (ISO; the triggering event's business time) and
    the program's latest change, so a coalesced refresh covers its whole burst and a simulated clock is kept;
    `now` when neither is known."""
    given = instant(as_of) if as_of else None
    with session_scope() as session:
        latest = latest_activity(session)
    known = [t for t in (given, latest) if t is not None]
    return max(known) if known else now


def publish_artifacts(report: Report) -> list[str]:
    """Publish a table and a progress bar per cohort, and, from a whole-program report only, the program
    board; returns the keys."""
    keys = []
    if report.cohort is None:
        create_markdown_artifact(
            markdown=program_board_markdown(report),
            key=BOARD_KEY,
            description="Program board, every cohort: region x stage, with deadlines in "
            "local time" + (" (SIMULATED DATA)" if report.simulated else ""),
        )
        keys.append(BOARD_KEY)
    for cohort in report.cohorts:
        names = artifact_keys(cohort)
        percent, sentence = cohort_progress_percent(report, cohort)
        create_table_artifact(
            table=cohort_table(report, cohort),
            key=names["table"],
            description=f"Cohort {cohort}: stage and next deadline of each region"
            + (" (SIMULATED DATA)" if report.simulated else ""),
        )
        create_progress_artifact(progress=round(percent, 1), key=names["progress"], description=sentence)
        keys += [names["table"], names["progress"]]
    return keys


@task(name="publish-report-artifacts", cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=2)
def publish_report_artifacts(report: dict) -> list[str]:
    """Publish the report's numbers as artifacts (re-publishing adds a new version under each key)."""
    return publish_artifacts(Report.model_validate(report))


@task(name="publish-program-artifacts", cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=2)
def publish_program_artifacts(as_of: str, simulated: bool = False) -> list[str]:
    """Rebuild the whole program's report as of `as_of` and publish the board and every cohort's artifacts."""
    with session_scope() as session:
        report = build_report(session, now=datetime.fromisoformat(as_of), cohort=None, simulated=simulated)
    return publish_artifacts(report)
