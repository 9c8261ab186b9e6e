"""cohort-report: build the report of a cohort (or the whole program), write its HTML page to the data
directory, and publish its numbers as Prefect artifacts (program board, cohort table, progress bar, and the
implementation evaluation of each scored year, `evaluation-<year>`).

Triggered by: a coordinator's "Run" of the `cohort-report` deployment in the Prefect UI, its schedule,
or a stage event; `smartcity report` writes the same report without Prefect.
"""

from __future__ import annotations

from datetime import UTC

from prefect import flow
from prefect.runtime import flow_run

from smartcity.models.core.events import slug
from smartcity.models.evaluation.ops import scored_years
from smartcity.models.infra.db import session_scope
from smartcity.tasks.artifacts import (
    load_report,
    publish_program_artifacts,
    publish_report_artifacts,
    report_path,
    write_report_file,
)
from smartcity.tasks.evaluation import publish_evaluation
from smartcity.tasks.runs import add_run_tags
from smartcity.tasks.stage import instant


def run_name() -> str:
    """cohort-report-2017, or cohort-report-program for every cohort."""
    cohort = flow_run.parameters.get("cohort")
    return f"cohort-report-{slug(cohort) if cohort else 'program'}"


@flow(name="cohort-report", flow_run_name=run_name, log_prints=False)
async def cohort_report(cohort: str | None = None, simulated: bool = False, as_of: str | None = None) -> dict:
    """Build the report as of `as_of` (ISO, default now), write the HTML file, publish the artifacts."""
    when = instant(as_of).astimezone(UTC).isoformat()
    report = load_report(cohort, when, simulated)
    path = write_report_file(report, str(report_path(cohort)))
    await add_run_tags(["report", f"cohort:{cohort}" if cohort else "program"])
    # The artifacts come from the whole program's report: the board shows every cohort, whichever was asked.
    keys = publish_program_artifacts(when, simulated) if cohort else publish_report_artifacts(report)
    with session_scope() as session:
        years = scored_years(session, cohort)
    keys = [*keys, *(publish_evaluation(year, cohort) for year in years)]  # `evaluation-<year>`, when scored
    return {
        "cohort": cohort,
        "path": path,
        "artifacts": keys,
        "regions": len(report["regions"]),
        "simulated": simulated,
    }
