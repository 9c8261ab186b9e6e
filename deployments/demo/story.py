"""`smartcity demo`: phase 1 of Gerakan Menuju 100 Smart City (2017), replayed on a simulated clock.

Real: the 25 phase-1 regions (names, provinces, zones, populations), the dates the press reported
(assessment 2-3 May, selection 26 May, the 15 November 2017 press release) and the working-day calendar.
SIMULATED, and labelled so wherever it shows: indicator values, reviewers and their scores, which region
needs a revision, which region is late, quick-win contents, and every other date.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum
from sqlmodel import col, func, select

from smartcity.deployments.runtime.runner import flow_result, run_operation
from smartcity.models import DATA_DIR
from smartcity.models.core.stages import Stage
from smartcity.models.infra.db import row_id, session_scope
from smartcity.models.infra.settings import get_settings
from smartcity.models.vocabulary import DeadlineKind, DeadlineStatus, Decision, Dimension, NotificationStatus, Role

COHORT = "2017"
ACTOR = "coordinator (simulated)"
START, END = "2017-05-02T08:00", "2018-06-29T17:00"
PRESS_RELEASE = "2017-11-15T17:00"  # 223/HM/KOMINFO/11/2017: 24 masterplans completed, 25.6 million people
# The institutions are the 2017 ones; the reviewers and their home provinces are SIMULATED (the provinces
# must be in the registry the demo loads, and they drive the conflict-of-interest rule).
REVIEWERS = [
    ("Universitas Indonesia", "Jawa Barat"),
    ("Institut Teknologi Bandung", "Jawa Barat"),
    ("BPPT", "Banten"),
    ("Universitas Multimedia Nusantara", "Banten"),
    ("Citiasia", "Jawa Tengah"),
]
DIMENSIONS: tuple[Dimension, ...] = tuple(Dimension)
QUICK_WIN_AFTER = timedelta(days=10)  # a completed masterplan's quick win is registered this long after (SIMULATED)


def wib(text: str) -> datetime:
    """A Jakarta wall time ('2017-05-02T08:00') as a UTC instant."""
    return pendulum.from_format(text, "YYYY-MM-DDTHH:mm", tz="Asia/Jakarta").in_timezone("UTC")


@dataclass
class Story:
    """The simulation: a clock, a queue of dated actions, and the flows or domain calls that do them."""

    receiver_url: str
    flows: bool
    served: bool = False  # the registry is served: chained steps run by their triggers, reviewers use the form
    serve_loop: Any = None  # the serve loop's process (subprocess.Popen), watched while the story waits
    say: Callable[[str], None] = print
    rng: random.Random = field(default_factory=lambda: random.Random(2017))
    now: datetime = field(default_factory=lambda: wib(START))
    queue: list = field(default_factory=list)
    seq: itertools.count = field(default_factory=itertools.count)
    selected: list[str] = field(default_factory=list)
    late: str = ""
    revised: str = ""
    last_flow_sweep: str = ""
    acted: set[str] = field(default_factory=set)  # regions acted on since the last settle ("*": all of them)
    follow_ups: list[tuple[datetime, datetime, Callable[[], None]]] = field(default_factory=list)

    def log(self, text: str) -> None:
        """One line of the story, stamped with the simulated date in WIB."""
        self.say(f"  {pendulum.instance(self.now).in_timezone('Asia/Jakarta'):%Y-%m-%d} WIB  {text}")

    def at(self, when: datetime, action: Callable[[], None], region: str | None = None) -> None:
        """Schedule an action on the simulated clock; `region` is the one region it acts on (None: any)."""
        heapq.heappush(self.queue, (when, next(self.seq), region, action))

    def then(self, follow_up: Callable[[], None], *, within: timedelta) -> None:
        """Run `follow_up`, as of now, once the runs started so far have settled (it reads what they did), and
        before the clock reaches `within` from now (the soonest action it may queue)."""
        self.follow_ups.append((self.now, self.now + within, follow_up))

    def must_settle(self, when: datetime, regions: set[str] | None) -> bool:
        """Whether the runs in flight must settle before the story acts at `when` on `regions` (None: on any
        region): an action on one region, or a reminder sweep on the regions it reminds.

        On the Prefect path the runs that actions trigger run side by side, across simulated days, as long
        as nothing reads what they did: the story settles before a region that acted is acted on again (its
        runs may still be moving it, or closing what a sweep would remind it of), before an action on any
        region, and before the clock reaches a pending follow-up's latest time."""
        return bool(self.acted) and (
            regions is None
            or "*" in self.acted
            or bool(regions & self.acted)
            or any(latest <= when for _, latest, _ in self.follow_ups)
        )

    def run_until(self, end: datetime) -> None:
        """Play queued actions in time order, sending every reminder that falls due on the way (see
        `must_settle` for when the runs in flight are waited for)."""
        while self.queue and self.queue[0][0] <= end:
            when, _, region, action = self.queue[0]
            if self.must_settle(when, None if region is None else {region}):
                self.settle()  # its follow-ups may queue actions: look at the queue again
                continue
            heapq.heappop(self.queue)
            self.remind_until(when)
            self.now = max(self.now, when)
            action()
            self.acted.add(region or "*")
            self.publish()
        self.settle()
        self.remind_until(end)
        self.now = end

    def publish(self) -> None:
        """On the Prefect path: publish the outbox now, so the runs it triggers start while the story goes on."""
        if self.served:
            from smartcity.deployments.demo.settle import publish

            publish()

    def settle(self, final: bool = False) -> None:
        """On the Prefect path: publish the outbox and wait until every run it triggers has settled. Then the
        follow-ups, each as of its own time."""
        if self.served:
            from smartcity.deployments.demo.settle import wait_settled

            wait_settled(final=final, serve_loop=self.serve_loop)
        self.acted.clear()
        latest = self.now
        while self.follow_ups:
            self.now, _, follow_up = self.follow_ups.pop(0)
            follow_up()
        self.now = latest

    def remind_until(self, end: datetime) -> None:
        """Run the deadline sweep at every instant a reminder rung falls due, up to `end`; the runs in flight
        of the regions it reminds settle first, as they may close what falls due."""
        from smartcity.models.core.tables import Enrollment, Region
        from smartcity.models.deadlines.tables import Deadline

        previous = None
        while True:
            with session_scope() as s:
                soonest = select(func.min(Deadline.next_rung_at)).where(Deadline.status == DeadlineStatus.open)
                due = s.exec(soonest).one()
                if due is None or due > end:
                    return
                reminded = select(Region.bps_code).join(Enrollment).join(Deadline)
                reminded = reminded.where(Deadline.status == DeadlineStatus.open, col(Deadline.next_rung_at) <= due)
                regions = set(s.exec(reminded).all()) if self.acted else set()
            if self.must_settle(due, regions):
                self.settle()
                continue
            if due == previous:
                raise RuntimeError(f"the sweep at {due} did not move any deadline on")
            previous, self.now = due, max(self.now, due)
            self.sweep(due)
            # A sweep's events start no chained run (only the coalesced board refresh, which the story does not
            # wait for between moves): published, they leave nothing to settle.
            self.publish()

    def sweep(self, instant: datetime) -> None:
        """One sweep + dispatch; the first sweep of each month runs as a `deadline-sweep` flow run."""
        from smartcity.models.notifications.delivery import sweep_and_dispatch

        month = f"{instant:%Y-%m}"
        as_flow = self.flows and month != self.last_flow_sweep
        self.last_flow_sweep = month if as_flow else self.last_flow_sweep

        async def flow() -> dict:
            from smartcity.flows.deadline_sweep import deadline_sweep

            return await deadline_sweep(instant.isoformat())

        run_operation(flow=flow, in_process=lambda: sweep_and_dispatch(instant), use_prefect=as_flow)


def setup(story: Story, registry: Path | None, limit: int | None = None) -> list[str]:
    """Regions, cohort, simulated contacts and reviewers, illustrative indicators; returns the phase-1 codes.

    `limit` keeps the first N regions of the phase-1 list (a shorter demo)."""
    from smartcity.models.core.program import create_cohort, nominate
    from smartcity.models.core.regions import parse_regions, read_csv_text, upsert_regions
    from smartcity.models.notifications.outbox import add_contact
    from smartcity.models.reviews.ops import add_reviewer
    from smartcity.models.selection.indicators import known_region_codes, parse_indicators, upsert_indicators
    from smartcity.models.selection.scoring import ILLUSTRATIVE_INDICATORS_PATH

    phase1 = DATA_DIR / "phase1_2017.csv"
    source = registry or phase1
    regions = parse_regions(read_csv_text(source), source=str(source))
    # All 25 are registered (the simulated reviewers' provinces must be known); `limit` only nominates fewer.
    phase1_codes = [r.bps_code for r in parse_regions(read_csv_text(phase1), source=str(phase1))][:limit]
    with session_scope() as s:
        upsert_regions(s, regions, now=story.now)
        create_cohort(s, name=COHORT, year=2017, quota=25, now=story.now)
    with session_scope() as s:
        known = known_region_codes(s)
        rows = [
            r
            for r in parse_indicators(
                read_csv_text(ILLUSTRATIVE_INDICATORS_PATH),
                "illustrative",
                known | _codes_in(ILLUSTRATIVE_INDICATORS_PATH),
            )
            if r.bps_code in known
        ]
        upsert_indicators(s, rows, now=story.now)
        add_contact(
            s,
            role=Role.coordinator,
            region_code=None,
            name="Program coordinator (simulated)",
            url=f"{story.receiver_url}/coordinator",
            language="id",
            now=story.now,
        )
        for code in phase1_codes:
            for role in (Role.pic, Role.escalation):
                add_contact(
                    s,
                    role=role,
                    region_code=code,
                    name=f"{role} {code} (simulated)",
                    url=f"{story.receiver_url}/{role}/{code}",
                    language="id",
                    now=story.now,
                )
        for i, (institution, province) in enumerate(REVIEWERS * 2):
            inbox = add_contact(
                s,
                role=Role.reviewer,
                region_code=None,
                name=f"Reviewer {i + 1} (simulated)",
                url=f"{story.receiver_url}/reviewer/{i + 1}",
                language="id",
                now=story.now,
            )
            add_reviewer(
                s,
                name=f"Reviewer {i + 1} (simulated)",
                institution=institution,
                province=province,
                expertise=list(DIMENSIONS),
                now=story.now,
                contact_id=inbox.id,
            )
    nominees = phase1_codes if registry is None else [r.bps_code for r in regions]
    with session_scope() as s:
        nominate(s, cohort=COHORT, codes=nominees, now=story.now)
    story.log(f"cohort {COHORT} created (quota 25); {len(nominees)} regions nominated from {source.name}")
    return phase1_codes


def _codes_in(path: Path) -> set[str]:
    import csv

    with path.open(encoding="utf-8") as fh:
        return {row["bps_code"] for row in csv.DictReader(fh)}


def assess(story: Story, nominees: int) -> None:
    """Assessors scored the nominees on 2-3 May 2017 (the assessment milestone)."""
    from smartcity.models.core.program import cohort_plan
    from smartcity.models.deadlines.ops import complete_milestone

    with session_scope() as s:
        codes = [code for code, _, _ in cohort_plan(s, COHORT)]
    for code in codes:
        with session_scope() as s:
            complete_milestone(s, code, "assessment", "assessor (simulated)", story.now, cohort=COHORT)
    story.log(f"assessment of {len(codes)} nominees recorded (milestone 'assessment')")


def select_regions(story: Story) -> None:
    """26 May 2017: the 25 are selected, by the default policy over ILLUSTRATIVE indicator values."""
    from smartcity.models.selection.indicators import apply_selection, plan_selection
    from smartcity.models.selection.scoring import DEFAULT_POLICY_PATH, SelectionPolicy

    async def flow() -> dict:
        from smartcity.flows.select_cohort import select_cohort

        return flow_result(await select_cohort(COHORT, ACTOR, at=story.now.isoformat()))

    def in_process() -> dict:
        with session_scope() as s:
            plan = plan_selection(s, COHORT, SelectionPolicy.from_toml(DEFAULT_POLICY_PATH))
            return apply_selection(s, plan, ACTOR, now=story.now)

    run_operation(flow=flow, in_process=in_process, use_prefect=story.flows)
    with session_scope() as s:
        from smartcity.models.core.program import status_rows

        story.selected = [r["bps_code"] for r in status_rows(s, COHORT) if r["stage"] == Stage.selected]
    story.log(f"{len(story.selected)} regions selected (weights and indicator values ILLUSTRATIVE)")
    if story.served:  # each selection event starts a drafting-setup run: wait for them, then plan the drafting
        story.settle()
        with session_scope() as s:
            drafting = [r["bps_code"] for r in status_rows(s, COHORT) if r["stage"] == Stage.drafting]
        if sorted(drafting) != sorted(story.selected):
            raise RuntimeError(f"drafting-setup moved {len(drafting)} of {len(story.selected)} selected regions")
        story.selected = drafting
        plan_drafting(story, "drafting started by a drafting-setup run per selected region (event trigger)")


def start_drafting(story: Story) -> None:
    """29 May 2017: the selected regions start drafting; each gets its masterplan deadline and 4 bimtek."""
    from smartcity.models.core.program import advance_cohort_in_batches

    async def flow() -> dict:
        from smartcity.flows.advance_cohort import advance_cohort

        return flow_result(await advance_cohort(COHORT, Stage.drafting, ACTOR, at=story.now))

    def in_process() -> dict:
        return asyncio.run(
            advance_cohort_in_batches(
                cohort=COHORT,
                to=Stage.drafting,
                actor=ACTOR,
                reason=None,
                now=story.now,
                batch_size=get_settings().batch_size,
            )
        )

    run_operation(flow=flow, in_process=in_process, use_prefect=story.flows)
    plan_drafting(story, "drafting started")


def plan_drafting(story: Story, started: str) -> None:
    """Schedule each bimtek workshop's confirmation and the masterplan submissions, from the open deadlines."""
    from smartcity.models.core.tables import Enrollment, Region
    from smartcity.models.deadlines.tables import Deadline

    with session_scope() as s:
        milestones = s.exec(
            select(Deadline).where(Deadline.status == DeadlineStatus.open, Deadline.kind == DeadlineKind.milestone)
        ).all()
        codes = dict(s.exec(select(Enrollment.id, Region.bps_code).join(Region)).all())
        for d in milestones:  # each workshop is held, and confirmed, on its due day
            story.at(d.due_at - timedelta(hours=4), _bimtek_done(story, row_id(d)), region=codes[d.enrollment_id])
        due = s.exec(select(func.max(Deadline.due_at)).where(Deadline.key == "masterplan")).one()
    story.log(
        f"{started}; masterplans due {pendulum.instance(due).in_timezone('Asia/Jakarta'):%d %b %Y} "
        f"(120 working days, Idul Fitri and cuti bersama skipped); {len(milestones)} bimtek milestones"
    )
    plan_masterplans(story, due)


def _bimtek_done(story: Story, deadline_id: int) -> Callable[[], None]:
    def action() -> None:
        from smartcity.models.core.tables import Enrollment, Region
        from smartcity.models.deadlines.ops import complete_milestone
        from smartcity.models.deadlines.tables import Deadline

        with session_scope() as s:
            d = s.get_one(Deadline, deadline_id)
            code = s.get_one(Region, s.get_one(Enrollment, d.enrollment_id).region_id).bps_code
            if d.status == DeadlineStatus.open:
                complete_milestone(s, code, d.key, "bimtek facilitator (simulated)", story.now, cohort=COHORT)

    return action


def plan_masterplans(story: Story, due: datetime) -> None:
    """Schedule submissions: most in Sep-Oct, one revision round, one region late (all SIMULATED)."""
    regions = sorted(story.selected)
    story.late, story.revised = story.rng.sample(regions, 2)
    for code in regions:
        if code == story.late:
            story.at(due + timedelta(days=10), submit(story, code, "v1", approve=True), region=code)
        elif code == story.revised:
            story.at(wib("2017-09-13T10:00"), submit(story, code, "v1", approve=False), region=code)
            story.at(wib("2017-10-16T10:00"), submit(story, code, "v2", approve=True), region=code)
        else:
            story.at(
                wib("2017-09-11T10:00") + timedelta(days=story.rng.randint(0, 38)),
                submit(story, code, "v1", approve=True),
                region=code,
            )
    story.log(
        "SIMULATED: the simulation (seed 2017) picks one region to need a revision round and one to "
        "miss its deadline; this is not a claim about any real region"
    )


def submit(story: Story, code: str, version: str, approve: bool) -> Callable[[], None]:
    """A masterplan version goes to review; the assigned (simulated) reviewers answer days later."""

    def action() -> None:
        from smartcity.models.reviews.ops import submit_masterplan
        from smartcity.models.reviews.tables import ReviewAssignment

        with session_scope() as s:
            rnd = submit_masterplan(s, code, version, ACTOR, story.now, cohort=COHORT)
            reviewers = s.exec(select(ReviewAssignment.reviewer_id).where(ReviewAssignment.round_id == rnd.id)).all()
            round_id, round_no = row_id(rnd), rnd.round_no
        # On the Prefect path the submission event starts the round's review-round run (published on settling).
        for i, reviewer in enumerate(reviewers):
            answer = (
                review_by_form(story, round_no, reviewer, code, approve)
                if story.served
                else review(story, round_id, reviewer, code, approve)
            )
            story.at(story.now + timedelta(days=5 + 2 * i), answer, region=code)

    return action


def _scores(story: Story, approve: bool) -> dict[Dimension, int]:
    """A simulated reviewer's 1-5 score per dimension (2 everywhere when asking for a revision)."""
    return {d: story.rng.randint(3, 5) if approve else 2 for d in DIMENSIONS}


def review_by_form(story: Story, round_no: int, reviewer_id: int, code: str, approve: bool) -> Callable[[], None]:
    """One simulated reviewer fills the review-round run's form, through the API the UI's form uses."""

    def action() -> None:
        from smartcity.deployments.demo.chain import answer_review_form, review_form

        decision = Decision.approve if approve else Decision.revise
        form = review_form(reviewer_id, {str(d): n for d, n in _scores(story, approve).items()}, decision, story.now)
        asyncio.run(answer_review_form(code, round_no, form))
        # once the run has recorded the form, and before the quick win it may plan
        story.then(lambda: _after_review(story, code, approve), within=QUICK_WIN_AFTER)

    return action


def _after_review(story: Story, code: str, approve: bool) -> None:
    """Say what the review did; a completed masterplan gets its quick win planned."""
    from smartcity.models.core.enrollments import find_enrollment

    with session_scope() as s:
        done = find_enrollment(s, code, COHORT).stage == Stage.masterplan_completed
    if done:
        story.log(f"{code}: masterplan approved by its reviewers -> masterplan_completed")
        plan_quick_win(story, code)
    elif not approve:
        story.log(f"{code}: reviewer asked for a revision (SIMULATED); the region keeps drafting")


def review(story: Story, round_id: int, reviewer_id: int, code: str, approve: bool) -> Callable[[], None]:
    """One simulated review; the last one of a round closes it (and may complete the masterplan)."""

    def action() -> None:
        from smartcity.models.reviews.ops import submit_review

        scores = {d: {"score": n, "comment": "simulated review"} for d, n in _scores(story, approve).items()}
        decision = Decision.approve if approve else Decision.revise
        with session_scope() as s:
            submit_review(
                s,
                reviewer_id=reviewer_id,
                round_id=round_id,
                source="cli",
                now=story.now,
                submission={"scores": scores, "decision": decision, "comment": "simulated"},
            )
        _after_review(story, code, approve)

    return action


def plan_quick_win(story: Story, code: str) -> None:
    """Register a (simulated) quick win soon after the masterplan, verify it, deliver it."""
    story.at(story.now + QUICK_WIN_AFTER, _quick_win(story, code), region=code)


def _quick_win(story: Story, code: str) -> Callable[[], None]:
    def action() -> None:
        from smartcity.models.quickwins.ops import DEFAULT_CHECKLIST, add_evidence, register_quick_win

        dimension = story.rng.choice(DIMENSIONS)
        with session_scope() as s:
            qw = register_quick_win(
                s,
                code,
                {
                    "title": f"Simulated quick win ({dimension})",
                    "dimension": dimension,
                    "description": "SIMULATED for the demo; not the region's real program",
                    "budget_idr": story.rng.randint(2, 40) * 50_000_000,
                    "start_date": story.now.date(),
                    "kpis": [
                        {
                            "name": "residents served (simulated)",
                            "unit": "people",
                            "target": 10_000,
                            "actual": story.rng.randint(8_000, 15_000),
                        }
                    ],
                },
                ACTOR,
                story.now,
                cohort=COHORT,
            )
            qw_id = row_id(qw)
            add_evidence(s, qw_id, actor=ACTOR, now=story.now, url=f"https://evidence.example/simulated/{code}")
        checklist = dict.fromkeys(DEFAULT_CHECKLIST, True)
        story.at(
            story.now + timedelta(days=story.rng.randint(40, 80)), _deliver(story, code, qw_id, checklist), region=code
        )

    return action


def _deliver(story: Story, code: str, qw_id: int, checklist: dict) -> Callable[[], None]:
    """The coordinator verifies the quick win and the region is delivered (a verify-quick-win run with Prefect)."""

    def action() -> None:
        if story.served:
            from smartcity.deployments.demo.chain import verify_quick_win_run

            result = asyncio.run(
                verify_quick_win_run(
                    code, qw_id, "Program coordinator (simulated)", checklist, ACTOR, COHORT, story.now
                )
            )
            if result.get("status") == "refused":
                raise RuntimeError(f"{code}: quick win delivery refused: {result['error']}")
            return
        from smartcity.models.core.transitions import StageChange, change_stage
        from smartcity.models.quickwins.ops import verify_quick_win

        with session_scope() as s:
            verify_quick_win(s, qw_id, "Program coordinator (simulated)", checklist, story.now)
        with session_scope() as s:
            change_stage(
                s,
                StageChange(
                    region_code=code,
                    to=Stage.quick_win_delivered,
                    actor=ACTOR,
                    reason="quick win verified",
                    cohort=COHORT,
                ),
                now=story.now,
            )

    return action


def checkpoint(story: Story) -> dict:
    """15 November 2017: what the press release reported, next to what the simulation has."""
    from smartcity.models.core.program import status_rows

    with session_scope() as s:
        rows = status_rows(s, COHORT)
        from smartcity.models.core.tables import Region

        population = {r.bps_code: r.population or 0 for r in s.exec(select(Region)).all()}
    done = [r["bps_code"] for r in rows if r["stage"] in (Stage.masterplan_completed, Stage.quick_win_delivered)]
    people = sum(population[c] for c in done)
    story.log(
        f"press release 223/HM/KOMINFO/11/2017 reports 24 of 25 masterplans completed and 25.6 million "
        f"people (2017); the simulation has {len(done)} completed, covering {people:,} people by the "
        f"2025 Dukcapil count (Kepmendagri 300.2.2-2138/2025), the population our data holds"
    )
    return {"completed_by_2017_11_15": len(done), "population_2025_of_completed": people}


def final_board(story: Story, received: int) -> dict:
    """Print the board and the counts; return them for tests and the CLI's --json."""
    from smartcity.models.core.program import stage_counts, status_rows
    from smartcity.models.notifications.outbox import status_counts

    with session_scope() as s:
        rows = status_rows(s, COHORT)
        counts = stage_counts(s).get(COHORT, {})
        outbox = status_counts(s)
    story.say("\nFinal board, cohort 2017 (SIMULATED progress of the real phase-1 regions):")
    for r in rows:
        if r["stage"] != Stage.not_selected:
            story.say(f"  {r['bps_code']}  {r['name']:<30} {r['province']:<20} {r['stage']}")
    story.say("  stage counts: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    story.say(
        f"  reminders: {outbox.get('sent', 0)} sent through Apprise to the demo's local receiver, which "
        f"got {received}; outbox {dict(sorted(outbox.items()))}"
    )
    return {"stages": counts, "outbox": outbox, "received": received}


def write_report(story: Story, home: Path) -> str:
    """The HTML report (labelled simulated): on the Prefect path the one the cohort-report run wrote when
    the smartcity.cohort.completed event triggered it; else written here."""
    if story.served:
        from smartcity.tasks.artifacts import report_path

        story.settle(final=True)
        path = report_path(COHORT)
        if not path.exists():
            raise RuntimeError(f"no cohort report at {path}: the cohort-report trigger did not run")
        return str(path)

    async def flow() -> str:
        from smartcity.flows.cohort_report import cohort_report

        return (await cohort_report(COHORT, simulated=True, as_of=story.now.isoformat()))["path"]

    return run_operation(flow=flow, in_process=lambda: _report_file(story, home), use_prefect=story.flows)


def _report_file(story: Story, home: Path) -> str:
    """The HTML report written here, without a flow run."""
    from smartcity.models.reports.data import build_report
    from smartcity.models.reports.render import render

    with session_scope() as s:
        report = build_report(s, now=story.now, cohort=COHORT, simulated=True)
    path = home / "report-2017.html"
    path.write_text(render(report, "html", lang="en"), encoding="utf-8")  # the demo tells its story in English
    return str(path)


def _outcomes(story: Story) -> tuple[int, list[str]]:
    """From the database: the revised region's rounds, and the overdue rungs sent for the late region."""
    from smartcity.models.core.enrollments import find_enrollment
    from smartcity.models.deadlines.tables import Deadline, Notification
    from smartcity.models.reviews.tables import MasterplanRound

    with session_scope() as s:
        rounds = len(
            s.exec(
                select(MasterplanRound).where(
                    MasterplanRound.enrollment_id == find_enrollment(s, story.revised, COHORT).id
                )
            ).all()
        )
        late_id = find_enrollment(s, story.late, COHORT).id
        rungs = s.exec(
            select(Notification.rung)
            .join(Deadline, col(Notification.deadline_id) == Deadline.id)
            .where(
                Deadline.enrollment_id == late_id,
                Deadline.key == "masterplan",
                Notification.status == NotificationStatus.sent,
                col(Notification.rung).in_(["+1", "+5"]),
            )
        ).all()
    return rounds, sorted(set(rungs))


def play(story: Story, registry: Path | None, home: Path, limit: int | None = None) -> dict:
    """The whole story, from nomination to the final board."""
    story.say("Gerakan Menuju 100 Smart City, phase 1 (2017), replayed on a SIMULATED clock.\n")
    setup(story, registry, limit)
    story.at(wib("2017-05-03T17:00"), lambda: assess(story, 0))
    story.at(wib("2017-05-26T10:00"), lambda: select_regions(story))
    if not story.served:  # with the registry served the drafting-setup trigger starts drafting right after selection
        story.at(wib("2017-05-29T08:00"), lambda: start_drafting(story))
    result: dict = {}
    story.at(wib(PRESS_RELEASE), lambda: result.update(checkpoint(story)))
    story.run_until(wib(END))
    rounds, escalated = _outcomes(story)
    story.log(
        f"SIMULATED outcomes: region {story.revised} needed {rounds} review rounds; region {story.late} "
        f"missed its masterplan deadline, reminders {', '.join(escalated) or 'none'} went out, the last to "
        "its escalation contact"
    )
    result["report"] = write_report(story, home)
    result.update(late=story.late, revised=story.revised)
    return result
