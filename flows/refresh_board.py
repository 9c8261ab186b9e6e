"""refresh-board: republish the artifacts that show where the program stands, so they stay true.

Triggered by: any `smartcity.region.*` event (a stage change), `smartcity.review.submitted` and
`smartcity.masterplan.*` (a round opened or closed), coalesced: the first event of a burst schedules one run
a few seconds later and the events until then start no other, so a cohort of 514 moves is a few refreshes.
Also a coordinator's "Run" in the UI. It publishes `program-board` (every cohort), `cohort-<name>` and
`progress-<name>` for each cohort, and `reviews-pending`, all as of the program's latest change (business
time, so a simulated clock is kept), or of `as_of` when that is later.
"""

from __future__ import annotations

import pendulum
from prefect import flow

from smartcity.tasks.artifacts import board_time, publish_program_artifacts
from smartcity.tasks.reviews import PENDING_ARTIFACT_KEY, publish_pending_board
from smartcity.tasks.runs import add_run_tags, zoned_run_name


@flow(name="refresh-board", log_prints=False)
async def refresh_board(as_of: str | None = None, simulated: bool = False) -> dict:
    """Publish the board, every cohort's table and progress, and the pending reviews, as of `as_of` or later.

    `as_of` (ISO instant) is the triggering event's business time; the program's latest change wins when it
    is later (or when `as_of` is not given). `simulated` labels the artifacts as simulated data."""
    when = board_time(as_of, pendulum.now("UTC"))
    await add_run_tags(["report", "board"], name=zoned_run_name("refresh-board", when, "WIB"))
    keys = publish_program_artifacts(when.isoformat(), simulated)
    await publish_pending_board(when.isoformat())
    return {"as_of": when.isoformat(), "artifacts": [*keys, PENDING_ARTIFACT_KEY]}
