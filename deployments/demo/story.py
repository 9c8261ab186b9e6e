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

import pendulum
from smartcity.models import DATA_DIR
from smartcity.models.core.stages import Stage
from smartcity.models.infra.db import session_scope
from sqlmodel import func, select

COHORT = "2017"
ACTOR = "coordinator (simulated)"
START, END = "2017-05-02T08:00", "2018-06-29T17:00"
PRESS_RELEASE = "2017-11-15T17:00"  # 223/HM/KOMINFO/11/2017: 24 masterplans completed, 25.6 million people
# The institutions are the 2017 ones; the reviewers and their home provinces are SIMULATED (the provinces
# must be in the registry the demo loads, and they drive the conflict-of-interest rule).
REVIEWERS = [("Universitas Indonesia", "Jawa Barat"), ("Institut Teknologi Bandung", "Jawa Barat"),
             ("BPPT", "Banten"), ("Universitas Multimedia Nusantara", "Banten"), ("Citiasia", "Jawa Tengah")]
DIMENSIONS = ("governance", "branding", "economy", "living", "society", "environment")


def wib(text: str) -> datetime:
    """A Jakarta wall time as a UTC instant."""
    return pendulum.parse(text, tz="Asia/Jakarta").in_timezone("UTC")


@dataclass
class Story:
    """The simulation: a clock, a queue of dated actions, and the flows or domain calls that do them."""

    receiver_url: str
    flows: bool
    say: Callable[[str], None] = print
    rng: random.Random = field(default_factory=lambda: random.Random(2017))
    now: datetime = field(default_factory=lambda: wib(START))
    queue: list = field(default_factory=list)
    seq: itertools.count = field(default_factory=itertools.count)
    selected: list[str] = field(default_factory=list)
    late: str = ""
    revised: str = ""
    last_flow_sweep: str = ""

    def log(self, text: str) -> None:
        """One line of the story, stamped with the simulated date in WIB."""
        self.say(f"  {pendulum.instance(self.now).in_timezone('Asia/Jakarta'):%Y-%m-%d} WIB  {text}")

    def at(self, when: datetime, action: Callable[[], None]) -> None:
        """Schedule an action on the simulated clock."""
        heapq.heappush(self.queue, (when, next(self.seq), action))

    def run_until(self, end: datetime) -> None:
        """Play queued actions in time order, sending every reminder that falls due on the way."""
        while self.queue and self.queue[0][0] <= end:
            when, _, action = heapq.heappop(self.queue)
            self.remind_until(when)
            self.now = max(self.now, when)
            action()
        self.remind_until(end)
        self.now = end

    def remind_until(self, end: datetime) -> None:
        """Run the deadline sweep at every instant a reminder rung falls due, up to `end`."""
        from smartcity.models.deadlines.tables import Deadline

        previous = None
        while True:
            with session_scope() as s:
                due = s.exec(select(func.min(Deadline.next_rung_at)).where(Deadline.status == "open")).one()
            if due is None or due > end:
                return
            if due == previous:
                raise RuntimeError(f"the sweep at {due} did not move any deadline on")
            previous, self.now = due, max(self.now, due)
            self.sweep(due)

    def sweep(self, instant: datetime) -> None:
        """One sweep + dispatch; the first sweep of each month runs as a `deadline-sweep` flow run."""
        from smartcity.models.notifications.delivery import dispatch, enqueue_due

        month = f"{instant:%Y-%m}"
        if self.flows and month != self.last_flow_sweep:
            from smartcity.flows.deadline_sweep import deadline_sweep

            self.last_flow_sweep = month
            asyncio.run(deadline_sweep(instant.isoformat()))
            return
        enqueue_due(instant)
        asyncio.run(dispatch(instant))


def setup(story: Story, registry: Path | None) -> list[str]:
    """Regions, cohort, simulated contacts and reviewers, illustrative indicators; returns the nominees."""
    from smartcity.models.core.program import create_cohort, nominate
    from smartcity.models.core.regions import parse_regions, read_csv_text, upsert_regions
    from smartcity.models.notifications.outbox import add_contact
    from smartcity.models.reviews.ops import add_reviewer
    from smartcity.models.selection.indicators import known_region_codes, parse_indicators, upsert_indicators
    from smartcity.models.selection.scoring import ILLUSTRATIVE_INDICATORS_PATH

    phase1 = DATA_DIR / "phase1_2017.csv"
    source = registry or phase1
    regions = parse_regions(read_csv_text(source), source=str(source))
    phase1_codes = [r.bps_code for r in parse_regions(read_csv_text(phase1), source=str(phase1))]
    with session_scope() as s:
        upsert_regions(s, regions, now=story.now)
        create_cohort(s, name=COHORT, year=2017, quota=25, now=story.now)
    with session_scope() as s:
        known = known_region_codes(s)
        rows = [r for r in parse_indicators(read_csv_text(ILLUSTRATIVE_INDICATORS_PATH), "illustrative",
                                            known | _codes_in(ILLUSTRATIVE_INDICATORS_PATH)) if r.bps_code in known]
        upsert_indicators(s, rows, now=story.now)
        add_contact(s, role="coordinator", region_code=None, name="Program coordinator (simulated)",
                    url=f"{story.receiver_url}/coordinator", language="id", now=story.now)
        for code in phase1_codes:
            for role in ("pic", "escalation"):
                add_contact(s, role=role, region_code=code, name=f"{role} {code} (simulated)",
                            url=f"{story.receiver_url}/{role}/{code}", language="id", now=story.now)
        for i, (institution, province) in enumerate(REVIEWERS * 2):
            inbox = add_contact(s, role="reviewer", region_code=None, name=f"Reviewer {i + 1} (simulated)",
                                url=f"{story.receiver_url}/reviewer/{i + 1}", language="id", now=story.now)
            add_reviewer(s, name=f"Reviewer {i + 1} (simulated)", institution=institution, province=province,
                         expertise=list(DIMENSIONS), now=story.now, contact_id=inbox.id)
    nominees = [r.bps_code for r in regions]
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

    if story.flows:
        from smartcity.flows.select_cohort import select_cohort

        asyncio.run(select_cohort(COHORT, ACTOR, at=story.now.isoformat()))
    else:
        with session_scope() as s:
            plan = plan_selection(s, COHORT, SelectionPolicy.from_toml(DEFAULT_POLICY_PATH))
            apply_selection(s, plan, ACTOR, now=story.now)
    with session_scope() as s:
        from smartcity.models.core.program import status_rows

        story.selected = [r["bps_code"] for r in status_rows(s, COHORT) if r["stage"] == Stage.selected.value]
    story.log(f"{len(story.selected)} regions selected (weights and indicator values ILLUSTRATIVE)")


def start_drafting(story: Story) -> None:
    """29 May 2017: the selected regions start drafting; each gets its masterplan deadline and 4 bimtek."""
    from smartcity.models.deadlines.tables import Deadline

    if story.flows:
        from smartcity.flows.advance_cohort import advance_cohort

        asyncio.run(advance_cohort(COHORT, Stage.drafting.value, ACTOR, at=story.now.isoformat()))
    else:
        from smartcity.models.core.program import plan_advance
        from smartcity.models.core.transitions import advance_many

        with session_scope() as s:
            items, _ = plan_advance(s, COHORT, Stage.drafting)
            advance_many(s, cohort=COHORT, items=items, to=Stage.drafting, actor=ACTOR, reason=None, now=story.now)
    with session_scope() as s:
        milestones = s.exec(select(Deadline).where(Deadline.status == "open", Deadline.kind == "milestone")).all()
        for d in milestones:  # each workshop is held, and confirmed, on its due day
            story.at(d.due_at - timedelta(hours=4), _bimtek_done(story, d.id))
        due = s.exec(select(func.max(Deadline.due_at)).where(Deadline.key == "masterplan")).one()
    story.log(f"drafting started; masterplans due {pendulum.instance(due).in_timezone('Asia/Jakarta'):%d %b %Y} "
              f"(120 working days, Idul Fitri and cuti bersama skipped); {len(milestones)} bimtek milestones")
    plan_masterplans(story, due)


def _bimtek_done(story: Story, deadline_id: int) -> Callable[[], None]:
    def action() -> None:
        from smartcity.models.core.tables import Enrollment, Region
        from smartcity.models.deadlines.ops import complete_milestone
        from smartcity.models.deadlines.tables import Deadline

        with session_scope() as s:
            d = s.get(Deadline, deadline_id)
            code = s.get(Region, s.get(Enrollment, d.enrollment_id).region_id).bps_code
            if d.status == "open":
                complete_milestone(s, code, d.key, "bimtek facilitator (simulated)", story.now, cohort=COHORT)
    return action


def plan_masterplans(story: Story, due: datetime) -> None:
    """Schedule submissions: most in Sep-Oct, one revision round, one region late (all SIMULATED)."""
    regions = sorted(story.selected)
    story.late, story.revised = story.rng.sample(regions, 2)
    for code in regions:
        if code == story.late:
            story.at(due + timedelta(days=10), submit(story, code, "v1", approve=True))
        elif code == story.revised:
            story.at(wib("2017-09-13T10:00"), submit(story, code, "v1", approve=False))
            story.at(wib("2017-10-16T10:00"), submit(story, code, "v2", approve=True))
        else:
            story.at(wib("2017-09-11T10:00") + timedelta(days=story.rng.randint(0, 38)),
                     submit(story, code, "v1", approve=True))
    story.log("SIMULATED: the simulation (seed 2017) picks one region to need a revision round and one to "
              "miss its deadline; this is not a claim about any real region")


def submit(story: Story, code: str, version: str, approve: bool) -> Callable[[], None]:
    """A masterplan version goes to review; the assigned (simulated) reviewers answer days later."""
    def action() -> None:
        from smartcity.models.reviews.ops import submit_masterplan
        from smartcity.models.reviews.tables import ReviewAssignment

        with session_scope() as s:
            rnd = submit_masterplan(s, code, version, ACTOR, story.now, cohort=COHORT)
            reviewers = s.exec(select(ReviewAssignment.reviewer_id).where(ReviewAssignment.round_id == rnd.id)).all()
            round_id = rnd.id
        for i, reviewer in enumerate(reviewers):
            story.at(story.now + timedelta(days=5 + 2 * i), review(story, round_id, reviewer, code, approve))
    return action


def review(story: Story, round_id: int, reviewer_id: int, code: str, approve: bool) -> Callable[[], None]:
    """One simulated review; the last one of a round closes it (and may complete the masterplan)."""
    def action() -> None:
        from smartcity.models.core.transitions import find_enrollment
        from smartcity.models.reviews.ops import submit_review

        scores = {d: {"score": story.rng.randint(3, 5) if approve else 2, "comment": "simulated review"}
                  for d in DIMENSIONS}
        decision = "approve" if approve else "revise"
        with session_scope() as s:
            submit_review(s, reviewer_id=reviewer_id, round_id=round_id, source="cli", now=story.now,
                          submission={"scores": scores, "decision": decision, "comment": "simulated"})
        with session_scope() as s:
            done = find_enrollment(s, code, COHORT).stage == Stage.masterplan_completed.value
        if done:
            story.log(f"{code}: masterplan approved by its reviewers -> masterplan_completed")
            plan_quick_win(story, code)
        elif not approve:
            story.log(f"{code}: reviewer asked for a revision (SIMULATED); the region keeps drafting")
    return action


def plan_quick_win(story: Story, code: str) -> None:
    """Register a (simulated) quick win soon after the masterplan, verify it, deliver it."""
    start = story.now
    story.at(start + timedelta(days=10), _quick_win(story, code))


def _quick_win(story: Story, code: str) -> Callable[[], None]:
    def action() -> None:
        from smartcity.models.quickwins.ops import DEFAULT_CHECKLIST, add_evidence, register_quick_win

        dimension = story.rng.choice(DIMENSIONS)
        with session_scope() as s:
            qw = register_quick_win(s, code, {
                "title": f"Simulated quick win ({dimension})", "dimension": dimension,
                "description": "SIMULATED for the demo; not the region's real program",
                "budget_idr": story.rng.randint(2, 40) * 50_000_000, "start_date": story.now.date(),
                "kpis": [{"name": "residents served (simulated)", "unit": "people", "target": 10_000,
                          "actual": story.rng.randint(8_000, 15_000)}]}, ACTOR, story.now, cohort=COHORT)
            add_evidence(s, qw.id, actor=ACTOR, now=story.now, url=f"https://evidence.example/simulated/{code}")
            qw_id = qw.id
        checklist = dict.fromkeys(DEFAULT_CHECKLIST, True)
        story.at(story.now + timedelta(days=story.rng.randint(40, 80)), _deliver(story, code, qw_id, checklist))
    return action


def _deliver(story: Story, code: str, qw_id: int, checklist: dict) -> Callable[[], None]:
    def action() -> None:
        from smartcity.models.core.transitions import StageChange, change_stage
        from smartcity.models.quickwins.ops import verify_quick_win

        with session_scope() as s:
            verify_quick_win(s, qw_id, "Program coordinator (simulated)", checklist, story.now)
        with session_scope() as s:
            change_stage(s, StageChange(code, Stage.quick_win_delivered, ACTOR, "quick win verified", COHORT),
                         now=story.now)
    return action


def checkpoint(story: Story) -> dict:
    """15 November 2017: what the press release reported, next to what the simulation has."""
    from smartcity.models.core.program import status_rows

    with session_scope() as s:
        rows = status_rows(s, COHORT)
        from smartcity.models.core.tables import Region

        population = {r.bps_code: r.population or 0 for r in s.exec(select(Region)).all()}
    done = [r["bps_code"] for r in rows if r["stage"] in (Stage.masterplan_completed.value,
                                                           Stage.quick_win_delivered.value)]
    people = sum(population[c] for c in done)
    story.log(f"press release 223/HM/KOMINFO/11/2017 reports 24 of 25 masterplans completed and 25.6 million "
              f"people (2017); the simulation has {len(done)} completed, covering {people:,} people by the "
              f"2025 Dukcapil count (Kepmendagri 300.2.2-2138/2025), the population our data holds")
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
        if r["stage"] != Stage.not_selected.value:
            story.say(f"  {r['bps_code']}  {r['name']:<30} {r['province']:<20} {r['stage']}")
    story.say("  stage counts: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    story.say(f"  reminders: {outbox.get('sent', 0)} sent through Apprise to the demo's local receiver, which "
              f"got {received}; outbox {dict(sorted(outbox.items()))}")
    return {"stages": counts, "outbox": outbox, "received": received}


def write_report(story: Story, home: Path) -> str:
    """The HTML report (labelled simulated), by the cohort-report flow or directly."""
    as_of = story.now.isoformat()
    if story.flows:
        from smartcity.flows.cohort_report import cohort_report

        return asyncio.run(cohort_report(COHORT, simulated=True, as_of=as_of))["path"]
    from smartcity.models.reports.data import build_report
    from smartcity.models.reports.render import render

    with session_scope() as s:
        report = build_report(s, now=story.now, cohort=COHORT, simulated=True)
    path = home / "report-2017.html"
    path.write_text(render(report, "html"), encoding="utf-8")
    return str(path)


def _outcomes(story: Story) -> tuple[int, list[str]]:
    """From the database: the revised region's rounds, and the overdue rungs sent for the late region."""
    from smartcity.models.core.transitions import find_enrollment
    from smartcity.models.deadlines.tables import Deadline, Notification
    from smartcity.models.reviews.tables import MasterplanRound

    with session_scope() as s:
        rounds = len(s.exec(select(MasterplanRound).where(
            MasterplanRound.enrollment_id == find_enrollment(s, story.revised, COHORT).id)).all())
        late_id = find_enrollment(s, story.late, COHORT).id
        rungs = s.exec(select(Notification.rung).join(Deadline, Notification.deadline_id == Deadline.id).where(
            Deadline.enrollment_id == late_id, Deadline.key == "masterplan", Notification.status == "sent",
            Notification.rung.in_(["+1", "+5"]))).all()
    return rounds, sorted(set(rungs))


def play(story: Story, registry: Path | None, home: Path) -> dict:
    """The whole story, from nomination to the final board."""
    story.say("Gerakan Menuju 100 Smart City, phase 1 (2017), replayed on a SIMULATED clock.\n")
    setup(story, registry)
    story.at(wib("2017-05-03T17:00"), lambda: assess(story, 0))
    story.at(wib("2017-05-26T10:00"), lambda: select_regions(story))
    story.at(wib("2017-05-29T08:00"), lambda: start_drafting(story))
    result: dict = {}
    story.at(wib(PRESS_RELEASE), lambda: result.update(checkpoint(story)))
    story.run_until(wib(END))
    rounds, escalated = _outcomes(story)
    story.log(f"SIMULATED outcomes: region {story.revised} needed {rounds} review rounds; region {story.late} "
              f"missed its masterplan deadline, reminders {', '.join(escalated) or 'none'} went out, the last to "
              "its escalation contact")
    result["report"] = write_report(story, home)
    result.update(late=story.late, revised=story.revised)
    return result
