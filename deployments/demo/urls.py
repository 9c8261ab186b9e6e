"""What a coordinator opens in the Prefect UI after the demo, as (label, URL) pairs (the UI's own routes)."""

from __future__ import annotations


def ui_links(api: str, region_code: str, cohort: str) -> list[tuple[str, str]]:
    """The closing links: runs (and the tags to filter them by), deployments, artifacts, automations, events."""
    ui = api.removesuffix("/").removesuffix("/api")
    return [
        (f"Runs: filter by tag cohort:{cohort}, region:{region_code}, stage:...", f"{ui}/runs"),
        ("Deployments (Run buttons, triggers, schedules)", f"{ui}/deployments"),
        ("Program board (artifact)", f"{ui}/artifacts/key/program-board"),
        (f"Progress of cohort {cohort} (artifact)", f"{ui}/artifacts/key/progress-{cohort}"),
        ("All artifacts", f"{ui}/artifacts"),
        ("Automations (the deployment triggers)", f"{ui}/automations"),
        ("Event Feed (smartcity.region.* events)", f"{ui}/events"),
    ]
