"""cohort-report: build the report of a cohort (or the whole program), write its HTML page to the data
directory, and publish its numbers as Prefect artifacts (program board, cohort table, progress bar).

Triggered by: a coordinator's "Run" of the `cohort-report` deployment in the Prefect UI, its schedule,
or a stage event; `smartcity report` writes the same report without Prefect.
"""

from __future__ import annotations

import pendulum
from prefect import flow
from prefect.runtime import flow_run
from smartcity.models.core.events import slug
from smartcity.tasks.artifacts import load_report, publish_report_artifacts, report_path, write_report_file


def run_name() -> str:
    """cohort-report-2017, or cohort-report-program for every cohort."""
    cohort = flow_run.parameters.get("cohort")
    return f"cohort-report-{slug(cohort) if cohort else 'program'}"


@flow(name="cohort-report", flow_run_name=run_name, log_prints=False)
async def cohort_report(cohort: str | None = None, simulated: bool = False, as_of: str | None = None) -> dict:
    """Build the report as of `as_of` (ISO, default now), write the HTML file, publish the artifacts."""
    now = pendulum.parse(as_of) if as_of else pendulum.now("UTC")
    report = load_report(cohort, now.in_timezone("UTC").isoformat(), simulated)
    path = write_report_file(report, str(report_path(cohort)))
    keys = publish_report_artifacts(report)
    return {"cohort": cohort, "path": path, "artifacts": keys, "regions": len(report["regions"]),
            "simulated": simulated}
