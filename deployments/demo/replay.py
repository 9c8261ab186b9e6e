"""`smartcity demo --replay-record`: Gerakan Menuju 100 Smart City 2017-2019, replayed from the public record.

REAL, from ../shared/data: the regions of each cohort (phase1_2017.csv, phase2_2018.csv, phase3_2019.csv) and
the registry they come from, each cohort's calendar (program_calendar.csv: assessment, result letter, MoU
signing, bimtek window, masterplan evaluation, the June 2019 implementation evaluation), the two regions on
both the 2018 and the 2019 list (Kota Depok and Kabupaten Banyumas: withdrawn from 2018, enrolled in 2019, with
the reason their rows give), and the 24 of 25 masterplans of press release 223/HM/KOMINFO/11/2017.

SIMULATED, and labelled so wherever it shows (actors and version labels say "(simulated)", the reports carry
the simulated banner, evaluation scores are stored as simulated): reviewers and their reviews, bimtek
attendance, the dates of the decrees and masterplan submissions, which 2017 region finished late, the day Depok
and Banyumas left 2018, quick wins, and every implementation evaluation score.

Domain calls only (no Prefect), like the demo's fast path. One simulated clock plays every dated action of the
three cohorts in time order, so each region's history and the audit chain read forwards in time.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from smartcity.models.calendar.ops import CalendarRow, import_calendar, parse_calendar, read_calendar
from smartcity.models.core import audit
from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.errors import BadInput, DomainRefused, SmartCityError
from smartcity.models.core.program import create_cohort, nominate
from smartcity.models.core.regions import parse_regions, read_csv_text, upsert_regions
from smartcity.models.core.tables import Cohort, Enrollment, Region, StageTransition
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.ops import complete_milestone
from smartcity.models.deadlines.tables import Deadline
from smartcity.models.deadlines.workdays import add_working_days, local_at, zone
from smartcity.models.evaluation.ops import evaluation_index, import_scores
from smartcity.models.infra.csvfile import CsvRow, read_rows
from smartcity.models.infra.db import row_id, session_scope
from smartcity.models.programs.definition import Edge, ProgramDefinition
from smartcity.models.programs.loading import shipped
from smartcity.models.quickwins.ops import DEFAULT_CHECKLIST, add_evidence, register_quick_win, verify_quick_win
from smartcity.models.reports.data import build_report
from smartcity.models.reports.render import render
from smartcity.models.reports.words import check_lang
from smartcity.models.reviews.ops import add_reviewer, submit_masterplan, submit_review
from smartcity.models.reviews.tables import ReviewAssignment
from smartcity.models.vocabulary import DeadlineKind, DeadlineStatus, Decision, Dimension

JAKARTA = "Asia/Jakarta"  # national acts (letters, ceremonies, evaluations) are dated on Jakarta time
RECORD = "public record (replay)"  # who does what the record documents, on the date it gives
COORDINATOR = "coordinator (simulated)"
ASSESSOR = "assessor (simulated)"
FACILITATOR = "bimtek facilitator (simulated)"
VERIFIER = "Program coordinator (simulated)"
EVALUATOR = "implementation evaluation panel (simulated)"
CALENDAR, REGISTRY = "program_calendar.csv", "regions_2018.csv"
END = date(2019, 12, 31)  # the replay covers 2017-2019; what would come later is not played
PRESS_RELEASE = "223/HM/KOMINFO/11/2017"
# The 2017 institutions; the reviewers themselves and their home provinces (which drive the conflict-of-interest
# rule, so they must be provinces of the registry) are SIMULATED.
REVIEWERS = (
    ("Universitas Indonesia", "Jawa Barat"),
    ("Institut Teknologi Bandung", "Jawa Barat"),
    ("BPPT", "Banten"),
    ("Universitas Multimedia Nusantara", "Banten"),
    ("Citiasia", "Jawa Tengah"),
)


@dataclass(frozen=True)
class CohortSpec:
    """A cohort of the record: its name (= year), the program it runs, the file of its regions, its quota."""

    name: str
    program: str
    roster: str
    quota: int

    @property
    def year(self) -> int:
        """The cohort's year."""
        return int(self.name)


COHORTS = (
    CohortSpec("2017", "default", "phase1_2017.csv", 25),
    CohortSpec("2018", "smartcity-2018", "phase2_2018.csv", 50),
    CohortSpec("2019", "smartcity-2018", "phase3_2019.csv", 25),
)


class RosterRow(CsvRow):
    """One line of a phase file; `source` and `note` are in the 2018 and 2019 files only."""

    bps_code: str
    name: str
    source: str | None = None
    note: str | None = None


class ReplayRefused(DomainRefused):
    """The engine refused a step the record took: the replay stops and says which, when and why (the CLI
    prints it as one line, exit code 1)."""


def _local_day(instant: datetime, tz: str) -> date:
    return instant.astimezone(zone(tz)).date()


def _span(row: CalendarRow) -> str:
    first, last = row.dates
    return first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"


@dataclass
class Replay:
    """The simulation: the record read from `data_dir`, a clock, and a queue of dated domain calls."""

    data_dir: Path
    url: str | None
    say: Callable[[str], None]
    seed: int
    limits: Mapping[str, int]  # cohort -> the first N regions of its list (all when absent)
    now: datetime = field(default_factory=lambda: local_at(date(2017, 5, 1), JAKARTA, 8))
    queue: list = field(default_factory=list)
    seq: itertools.count = field(default_factory=itertools.count)
    calendar: dict[str, dict[str, CalendarRow]] = field(default_factory=dict)  # cohort -> event -> row
    shared_events: list[CalendarRow] = field(default_factory=list)  # events of several cohorts ("2017+2018")
    rosters: dict[str, list[RosterRow]] = field(default_factory=dict)
    zones: dict[str, str] = field(default_factory=dict)  # bps_code -> IANA zone
    moved: dict[str, tuple[str, str]] = field(default_factory=dict)  # bps_code -> (cohort left, cohort joined)
    late: str = ""  # the 2017 region whose masterplan came after the press release (SIMULATED choice)

    # --- the clock --------------------------------------------------------------------------------------

    def session(self) -> AbstractContextManager[Session]:
        """A session on the replay's database (committed on success)."""
        return session_scope(self.url)

    def rand(self, *parts: str) -> random.Random:
        """A generator per purpose and region, seeded from text: one region's simulated facts do not depend on
        how many other regions the replay holds."""
        return random.Random(":".join([str(self.seed), *parts]))

    def at(self, when: datetime, label: str, action: Callable[[], None]) -> None:
        """Queue an action on the clock (ties keep the order they were queued in)."""
        heapq.heappush(self.queue, (when, next(self.seq), label, action))

    def run(self, end: datetime) -> None:
        """Play the queued actions in time order up to `end`; a refusal by the engine stops the replay."""
        while self.queue and self.queue[0][0] <= end:
            when, _, label, action = heapq.heappop(self.queue)
            self.now = max(self.now, when)
            try:
                action()
            except SmartCityError as exc:
                day = f"{_local_day(self.now, JAKARTA)} WIB"
                raise ReplayRefused(f"{day}, {label}: the engine refused a step of the record: {exc}") from exc
        self.now = max(self.now, end)

    def log(self, text: str) -> None:
        """One line of the replay, stamped with the simulated date in WIB."""
        self.say(f"  {_local_day(self.now, JAKARTA)} WIB  {text}")

    def local(self, day: date, code: str, hour: int) -> datetime:
        """`hour`:00 on `day` in the region's own zone."""
        return local_at(day, self.zones[code], hour)

    # --- the record -------------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the rosters and the calendar; the regions on two lists are the ones that moved."""
        for spec in COHORTS:
            path = self.data_dir / spec.roster
            rows = read_rows(read_csv_text(path), RosterRow, spec.roster)
            self.rosters[spec.name] = rows
        path = self.data_dir / CALENDAR
        for _, row in parse_calendar(read_calendar(path), CALENDAR):
            if len(row.cohort) > 1:
                self.shared_events.append(row)
            for cohort in row.cohort:
                self.calendar.setdefault(cohort, {})[row.event] = row
        names = [spec.name for spec in COHORTS]
        for i, left in enumerate(names):
            for joined in names[i + 1 :]:
                later = {r.bps_code for r in self.rosters[joined]}
                self.moved |= {r.bps_code: (left, joined) for r in self.rosters[left] if r.bps_code in later}
        for name, limit in self.limits.items():  # the first N of a list, and always the regions that moved
            rows = self.rosters[name]
            self.rosters[name] = [r for i, r in enumerate(rows) if i < limit or r.bps_code in self.moved]

    def event(self, cohort: str, name: str) -> CalendarRow:
        """The cohort's calendar event `name`; a clear error when the calendar file lacks it."""
        row = self.calendar.get(cohort, {}).get(name)
        if row is None:
            raise BadInput(f"{CALENDAR}: cohort {cohort} has no event {name}, which the replay needs")
        return row

    def program(self, spec: CohortSpec) -> ProgramDefinition:
        """The definition the cohort runs."""
        return shipped(spec.program)

    def roster_row(self, cohort: str, code: str) -> RosterRow:
        """The region's line in the cohort's list."""
        return next(r for r in self.rosters[cohort] if r.bps_code == code)

    # --- set-up -----------------------------------------------------------------------------------------

    def setup(self) -> None:
        """The registry and the (simulated) reviewers now; each cohort opens on its assessment's first day."""
        path = self.data_dir / REGISTRY
        regions = parse_regions(read_csv_text(path), source=REGISTRY)
        self.zones = {r.bps_code: r.timezone for r in regions}
        with self.session() as s:
            upsert_regions(s, regions, now=self.now)
        with self.session() as s:
            for i, (institution, province) in enumerate(REVIEWERS * 2):
                name = f"Reviewer {i + 1} (simulated)"
                expertise = [d.value for d in Dimension]
                add_reviewer(
                    s, name=name, institution=institution, province=province, expertise=expertise, now=self.now
                )
        codes = sorted(r.bps_code for r in self.rosters["2017"])
        self.late = self.rand("late-2017").choice(codes)
        for spec in COHORTS:
            opening = local_at(self.event(spec.name, "assessment").start, JAKARTA, 8)
            self.at(opening, f"cohort {spec.name} opens", partial(self.open_cohort, spec))
        for row in self.shared_events:
            if row.event == "implementation_evaluation":
                self.at(local_at(row.dates[1], JAKARTA, 14), "implementation evaluation", partial(self.evaluate, row))

    def open_cohort(self, spec: CohortSpec) -> None:
        """The cohort, its calendar and its nominees (the regions of its list); then its dated steps."""
        with self.session() as s:
            create_cohort(
                s, name=spec.name, year=spec.year, quota=spec.quota, now=self.now, actor=RECORD, program=spec.program
            )
        with self.session() as s:
            imported = import_calendar(
                session=s, cohort=spec.name, actor=RECORD, now=self.now, path=self.data_dir / CALENDAR
            )
        codes = [r.bps_code for r in self.rosters[spec.name]]
        with self.session() as s:
            nominate(s, cohort=spec.name, codes=codes, now=self.now, actor=RECORD)
        self.log(
            f"cohort {spec.name} (program {spec.program}, quota {spec.quota}): {len(codes)} regions of {spec.roster} "
            f"nominated; calendar: {', '.join(imported.added)}"
        )
        assessment = self.event(spec.name, "assessment")
        for code in codes:
            done = self.local(assessment.dates[1], code, 16)
            self.at(done, f"{code} assessed", partial(self.assessed, spec, code))
        letter = self.calendar[spec.name].get("selection_letter")
        # 2017 has no public result letter: the selection is recorded when the assessment closed.
        when = local_at(letter.start, JAKARTA, 10) if letter else local_at(assessment.dates[1], JAKARTA, 17)
        self.at(when, f"cohort {spec.name} selection", partial(self.select, spec, letter or assessment))
        evaluation = self.event(spec.name, "masterplan_evaluation")
        check = local_at(evaluation.start, JAKARTA, 23)
        self.at(check, f"cohort {spec.name} masterplan evaluation", partial(self.checkpoint, spec, evaluation))

    def assessed(self, spec: CohortSpec, code: str) -> None:
        """The assessment milestone, done on the assessment's last day (the assessor is SIMULATED)."""
        with self.session() as s:
            complete_milestone(s, code, "assessment", ASSESSOR, self.now, cohort=spec.name)

    def select(self, spec: CohortSpec, basis: CalendarRow) -> None:
        """Every region of the list is selected, as the record lists them; then each one's way to drafting."""
        what = basis.note if basis.event == "selection_letter" else f"assessment of {_span(basis)}"
        reason = f"on the {spec.year} list ({spec.roster}); {what} ({basis.source})"
        codes = [r.bps_code for r in self.rosters[spec.name]]
        for code in codes:
            self.change(spec, code, self.program(spec).selection_stages()[1], reason, RECORD)
        self.log(f"cohort {spec.name}: {len(codes)} regions selected ({what})")
        for code in codes:
            self.plan_to_drafting(spec, code)

    def change(self, spec: CohortSpec, code: str, to: str, reason: str, actor: str) -> None:
        """One stage change, now."""
        with self.session() as s:
            request = StageChange(region_code=code, to=to, actor=actor, reason=reason, cohort=spec.name)
            change_stage(s, request, now=self.now)

    # --- selected -> drafting ---------------------------------------------------------------------------

    def plan_to_drafting(self, spec: CohortSpec, code: str) -> None:
        """Queue the region's steps from selected to the reviewed stage, each on its date. A region that leaves
        the cohort for a later one takes the steps up to the MoU (it is on the list of the MoU signing), then
        withdraws before bimtek I."""
        program = self.program(spec)
        line = program.main_line
        chosen = program.selection_stages()[1]
        steps = line[line.index(chosen) + 1 : line.index(review_edge(program).source) + 1]
        leaving = self.moved.get(code, ("", ""))[0] == spec.name
        if leaving:
            steps = steps[: steps.index("mou_signed") + 1] if "mou_signed" in steps else ()
        prev, when = chosen, self.now
        for stage in steps:
            edge = program.find_edge(prev, stage)
            assert edge is not None  # the main line is made of edges
            when, reason, actor = self.step_time(spec, code, edge, when)
            last = stage == steps[-1] and not leaving
            self.at(when, f"{code} -> {stage} ({spec.name})", self.step(spec, code, stage, reason, actor, last))
            prev = stage
        if leaving:
            self.plan_withdrawal(spec, code)

    def step(self, spec: CohortSpec, code: str, stage: str, reason: str, actor: str, last: bool) -> Callable[[], None]:
        """The move into `stage`; after the last step, the drafting plan."""

        def action() -> None:
            self.change(spec, code, stage, reason, actor)
            if last:
                self.plan_drafting(spec, code)

        return action

    def step_time(self, spec: CohortSpec, code: str, edge: Edge, after: datetime) -> tuple[datetime, str, str]:
        """(when, reason, actor) of a step: on its calendar event when the program guards it with one, on the MoU
        day when the default program starts drafting (2017), else on a SIMULATED working day."""
        calendar = self.calendar[spec.name]
        if edge.guard == "calendar_event_started":
            row = self.event(spec.name, str(edge.params["event"]))
            # A national ceremony is held in Jakarta (or Makassar) once; bimtek I is held in each region.
            when = self.local(row.start, code, 9) if row.place == "regions" else local_at(row.start, JAKARTA, 10)
            return when, f"{row.event} {_span(row)}, {row.place} ({row.source})", RECORD
        if "mou_signed" in calendar and "mou_signed" not in self.program(spec).stage_names:
            mou = calendar["mou_signed"]
            return (
                local_at(mou.start, JAKARTA, 11),
                f"drafting starts with the MoU signed {_span(mou)}, {mou.place} ({mou.source})",
                RECORD,
            )
        day = add_working_days(_local_day(after, self.zones[code]), self.rand("step", edge.target, code).randint(5, 18))
        return self.local(day, code, 10), f"{edge.target}: date SIMULATED (not in the public record)", COORDINATOR

    def plan_withdrawal(self, spec: CohortSpec, code: str) -> None:
        """The region leaves this cohort for a later one, with the reason its line gives (date SIMULATED: the
        working day before bimtek I)."""
        joined = self.moved[code][1]
        row = self.roster_row(spec.name, code)
        day = add_working_days(self.event(spec.name, "bimtek").start, -1)
        reason = (
            f"{row.note or 'on the ' + spec.name + ' list, enrolled in ' + joined}; source: {row.source} "
            f"({spec.roster}); enrolled again in cohort {joined} ({self.roster_row(joined, code).source}); "
            f"the day it left is not public: {day} is SIMULATED"
        )
        self.at(
            local_at(day, JAKARTA, 10), f"{code} withdraws from {spec.name}", partial(self.withdraw, spec, code, reason)
        )

    def withdraw(self, spec: CohortSpec, code: str, reason: str) -> None:
        """The region leaves the cohort (its file closes, so a later cohort may take it)."""
        self.change(spec, code, "withdrawn", reason, RECORD)
        self.log(f"{code} {self.roster_row(spec.name, code).name} withdrawn from cohort {spec.name}: {reason[:90]}...")

    # --- drafting, bimtek, masterplan ---------------------------------------------------------------------

    def plan_drafting(self, spec: CohortSpec, code: str) -> None:
        """Each bimtek milestone confirmed on its due day; the masterplan submitted before the national
        evaluation and approved on its first day (the late 2017 region: after its deadline). All SIMULATED."""
        with self.session() as s:
            enrollment = row_id(find_enrollment(s, code, spec.name))
            open_rows = s.exec(
                select(Deadline).where(Deadline.enrollment_id == enrollment, Deadline.status == DeadlineStatus.open)
            ).all()
        for d in open_rows:
            if d.kind == DeadlineKind.milestone:
                self.at(d.due_at - timedelta(hours=4), f"{code} {d.key}", self.milestone(spec, code, d.key))
        evaluation = self.event(spec.name, "masterplan_evaluation").start
        late = code == self.late
        if late:  # sent after its deadline; its reviewers answer over the next working days
            due = next(d.due_at for d in open_rows if d.kind == DeadlineKind.stage)
            sent = add_working_days(_local_day(due, self.zones[code]), 4)
        else:  # sent before the national evaluation, approved there
            sent = add_working_days(evaluation, -self.rand("submit", code).randint(5, 9))

        def review_at(i: int) -> datetime:
            """When reviewer i of the round answers."""
            if late:
                return self.local(add_working_days(sent, 3 + 2 * i), code, 10)
            return local_at(evaluation, JAKARTA, 9) + timedelta(minutes=20 * i)

        label = "v1 (simulated, late)" if late else "v1 (simulated)"
        self.at(self.local(sent, code, 10), f"{code} submits", self.submit(spec, code, label, review_at))

    def milestone(self, spec: CohortSpec, code: str, key: str) -> Callable[[], None]:
        """A bimtek milestone confirmed by the (simulated) facilitator."""

        def action() -> None:
            with self.session() as s:
                complete_milestone(s, code, key, FACILITATOR, self.now, cohort=spec.name)

        return action

    def submit(
        self, spec: CohortSpec, code: str, label: str, review_at: Callable[[int], datetime]
    ) -> Callable[[], None]:
        """The masterplan sent for review; each assigned reviewer's answer queued."""

        def action() -> None:
            with self.session() as s:
                rnd = submit_masterplan(s, code, label, COORDINATOR, self.now, cohort=spec.name)
                query = select(ReviewAssignment.reviewer_id).where(ReviewAssignment.round_id == rnd.id)
                reviewers, round_id = s.exec(query.order_by(col(ReviewAssignment.id))).all(), row_id(rnd)
            for i, reviewer in enumerate(reviewers):
                self.at(review_at(i), f"{code} reviewed", self.review(spec, code, round_id, reviewer))

        return action

    def review(self, spec: CohortSpec, code: str, round_id: int, reviewer: int) -> Callable[[], None]:
        """One simulated approving review; the last one of the round completes the masterplan."""

        def action() -> None:
            rng = self.rand("review", code, str(reviewer))
            scores = {d.value: {"score": rng.randint(3, 5), "comment": "simulated review"} for d in Dimension}
            submission = {"scores": scores, "decision": Decision.approve, "comment": "simulated review"}
            with self.session() as s:
                outcome = submit_review(
                    s, reviewer_id=reviewer, round_id=round_id, source="cli", now=self.now, submission=submission
                )
            if outcome["closed_now"] and outcome["stage"] == review_edge(self.program(spec)).target:
                self.plan_quick_win(spec, code)

        return action

    def checkpoint(self, spec: CohortSpec, evaluation: CalendarRow) -> None:
        """The national masterplan evaluation: how many masterplans the replay has completed by then."""
        target = review_edge(self.program(spec)).target
        with self.session() as s:
            done = len(_moves_into(s, spec.name, target))
            total = len(s.exec(select(Enrollment.id).join(Cohort).where(Cohort.name == spec.name)).all())
        said = f"; press release {PRESS_RELEASE} reports 24 of 25" if spec.name == "2017" else ""
        self.log(f"cohort {spec.name} masterplan evaluation ({evaluation.place}): {done} of {total} completed{said}")
        if spec.name == "2017" and self.late:
            self.log(
                f"SIMULATED: the replay (seed {self.seed}) picks {self.late} "
                f"{self.roster_row('2017', self.late).name} as the 2017 region that finished after 15 Nov 2017; "
                "which one did not is not public: this is not a claim about any real region"
            )

    # --- quick wins -----------------------------------------------------------------------------------------

    def plan_quick_win(self, spec: CohortSpec, code: str) -> None:
        """A SIMULATED quick win registered a few weeks after the masterplan, delivered within its deadline."""
        rng = self.rand("quick-win", code)
        start = add_working_days(_local_day(self.now, self.zones[code]), rng.randint(8, 20))
        delivered = add_working_days(start, rng.randint(25, 55))
        self.at(self.local(start, code, 10), f"{code} quick win", self.quick_win(spec, code, delivered))

    def quick_win(self, spec: CohortSpec, code: str, delivered: date) -> Callable[[], None]:
        """A simulated quick win registered with its evidence; its delivery queued."""

        def action() -> None:
            rng = self.rand("quick-win-content", code)
            dimension = rng.choice(list(Dimension))
            data = {
                "title": f"Simulated quick win ({dimension})",
                "dimension": dimension,
                "description": "SIMULATED by the record replay; not the region's real program",
                "budget_idr": rng.randint(2, 40) * 50_000_000,
                "start_date": _local_day(self.now, self.zones[code]),
                "kpis": [
                    {
                        "name": "residents served (simulated)",
                        "unit": "people",
                        "target": 10_000,
                        "actual": rng.randint(8_000, 15_000),
                    }
                ],
            }
            with self.session() as s:
                qw = register_quick_win(s, code, data, COORDINATOR, self.now, cohort=spec.name)
                url = f"https://evidence.example/simulated/{spec.name}/{code}"
                add_evidence(s, row_id(qw), actor=COORDINATOR, now=self.now, url=url)
                qw_id = row_id(qw)
            self.at(self.local(delivered, code, 14), f"{code} quick win delivered", self.deliver(spec, code, qw_id))

        return action

    def deliver(self, spec: CohortSpec, code: str, qw_id: int) -> Callable[[], None]:
        """The coordinator (simulated) verifies the quick win and the region is delivered."""

        def action() -> None:
            with self.session() as s:
                verify_quick_win(s, qw_id, VERIFIER, dict.fromkeys(DEFAULT_CHECKLIST, True), self.now)
            target = self.program(spec).guarded_by("quick_win_verified")
            assert target is not None  # a quick win was registered, so the program has the edge
            self.change(spec, code, target.target, "quick win verified (simulated)", COORDINATOR)

        return action

    # --- the implementation evaluation ------------------------------------------------------------------------

    def evaluate(self, row: CalendarRow) -> None:
        """The monev of the cohorts the event names, on its last day: SIMULATED scores imported as simulated;
        then the regions whose program has an evaluated stage move there."""
        cohorts = [c for c in COHORTS if c.name in row.cohort]
        with self.session() as s:
            rows = [r for spec in cohorts for r in self.monev_scores(s, spec, row.start.year)]
            summary = import_scores(session=s, rows=rows, actor=EVALUATOR, now=self.now, simulated=True)
        self.log(f"implementation evaluation {_span(row)}, {row.place}: {summary['added']} SIMULATED scores imported")
        for spec in cohorts:
            edge = self.program(spec).guarded_by("evaluation_scored")
            if edge is not None:
                later = self.now + timedelta(hours=1)
                self.at(later, f"cohort {spec.name} evaluated", partial(self.evaluated, spec, edge, row))

    def monev_scores(self, s: Session, spec: CohortSpec, year: int) -> list[dict[str, Any]]:
        """A score (seeded, SIMULATED) in every dimension of the cohort's evaluation policy, for each region
        still in the program; on the 0-4 scale, around the reported 2.98-3.48."""
        policy = self.program(spec).evaluation
        if policy is None:
            raise BadInput(f"program {spec.program} has no evaluation policy; cohort {spec.name} cannot be evaluated")
        source = f"SIMULATED (record replay, seed {self.seed}): no per-region scores are public"
        rows = []
        for code in _open_or_completed(s, spec, self.program(spec)):
            rng = self.rand("monev", spec.name, code)
            for dimension in policy.weights:
                score = round(rng.uniform(2.4, 3.9), 2)
                rows.append(
                    {"year": year, "cohort": spec.name, "bps_code": code, "dimension": dimension, "score": score}
                    | {"source": source}
                )
        return rows

    def evaluated(self, spec: CohortSpec, edge: Edge, row: CalendarRow) -> None:
        """Regions at the edge's source (their quick win delivered) move to the evaluated stage."""
        with self.session() as s:
            index = {
                r.bps_code: r
                for g in evaluation_index(session=s, year=row.start.year, cohort=spec.name)
                for r in g.rows
            }
            ready = [
                code for code in _open_or_completed(s, spec, self.program(spec)) if _stage(s, spec, code) == edge.source
            ]
        for code in ready:
            reason = (
                f"implementation evaluation {_span(row)}, {row.place}: index {index[code].index} (SIMULATED scores)"
            )
            self.change(spec, code, edge.target, reason, COORDINATOR)
        self.log(f"cohort {spec.name}: {len(ready)} regions {edge.source} -> {edge.target}")


def review_edge(program: ProgramDefinition) -> Edge:
    """The edge a masterplan review decides."""
    edge = program.guarded_by("review_quorum_approved")
    if edge is None:
        raise BadInput(f"program {program.name} has no reviewed masterplan; the replay needs one")
    return edge


def _stage(s: Session, spec: CohortSpec, code: str) -> str:
    """The region's stage in the cohort."""
    return find_enrollment(s, code, spec.name).stage


def _open_or_completed(s: Session, spec: CohortSpec, program: ProgramDefinition) -> list[str]:
    """The cohort's regions still in the program: not withdrawn or declined (a completed file counts)."""
    left = program.closed - {program.completed}
    rows = s.exec(
        select(Region.bps_code, Enrollment.stage).join(Enrollment).join(Cohort).where(Cohort.name == spec.name)
    ).all()
    return sorted(code for code, stage in rows if stage not in left)


def _moves_into(s: Session, cohort: str, stage: str) -> list[tuple[str, str, date, StageTransition]]:
    """(code, name, local date, row) of every move of the cohort's regions into `stage`."""
    rows = s.exec(
        select(StageTransition, Region)
        .join(Enrollment, col(StageTransition.enrollment_id) == Enrollment.id)
        .join(Cohort, col(Enrollment.cohort_id) == Cohort.id)
        .join(Region, col(Enrollment.region_id) == Region.id)
        .where(Cohort.name == cohort, StageTransition.to_stage == stage)
        .order_by(col(StageTransition.occurred_at))
    ).all()
    return [(r.bps_code, r.name, _local_day(t.occurred_at, r.timezone), t) for t, r in rows]


# --- after the replay: summary, reports, audit ------------------------------------------------------------


def _labelled(t: StageTransition) -> bool:
    """Whether a move says it is simulated (its actor, or its reason: a simulated date or review)."""
    return "simulated" in f"{t.actor} {t.reason or ''}".lower()


def cohort_summary(s: Session, replay: Replay, spec: CohortSpec) -> dict[str, Any]:
    """Per stage of the cohort's program: how many regions entered it and when (local dates), whether it was
    simulated; the masterplans completed by the national evaluation; the evaluation index and ranks."""
    program = replay.program(spec)
    withdraw = sorted({e.target for e in program.edge_list if e.kind == "withdraw"})
    stages: dict[str, dict[str, Any]] = {}
    for stage in (*program.main_line[1:], *withdraw):
        moves = _moves_into(s, spec.name, stage)
        if moves:
            days = [d for _, _, d, _ in moves]
            stages[stage] = {
                "count": len(moves),
                "first": min(days).isoformat(),
                "last": max(days).isoformat(),
                "simulated": any(_labelled(t) for *_, t in moves),
                "regions": [f"{code} {name}" for code, name, _, _ in moves] if stage in withdraw else [],
            }
    evaluation_day = replay.event(spec.name, "masterplan_evaluation").start
    completed = _moves_into(s, spec.name, review_edge(program).target)
    return {
        "program": spec.program,
        "regions": len(replay.rosters[spec.name]),
        "stages": stages,
        "masterplan_evaluation": evaluation_day.isoformat(),
        "masterplans_by_evaluation": sum(1 for _, _, d, _ in completed if d <= evaluation_day),
        "evaluation": [
            {
                "year": g.year,
                "simulated": g.simulated,
                "rows": [r.model_dump(include={"bps_code", "region", "index", "rank"}) for r in g.rows],
            }
            for year in sorted({row.start.year for row in replay.shared_events})
            for g in evaluation_index(session=s, year=year, cohort=spec.name)
        ],
    }


def print_summary(say: Callable[[str], None], cohorts: dict[str, dict[str, Any]]) -> None:
    """The summary: per cohort, each stage with its count and dates, and the evaluation's best three."""
    say(f"\nSummary as of {END} (local dates in each region's zone; SIMULATED where marked):")
    for name, c in cohorts.items():
        say(f"  cohort {name}, program {c['program']}, {c['regions']} regions")
        for stage, f in c["stages"].items():
            dates = f["first"] if f["first"] == f["last"] else f"{f['first']}..{f['last']}"
            mark = "  (SIMULATED)" if f["simulated"] else ""
            say(f"    {stage:<22}{f['count']:>4}  {dates}{mark}")
            if f["regions"]:
                say(f"      {', '.join(f['regions'])}")
        by_then = c["masterplans_by_evaluation"]
        say(f"    masterplans completed by the evaluation of {c['masterplan_evaluation']}: {by_then}")
        for g in c["evaluation"]:
            best = ", ".join(f"{r['rank']}. {r['region']} {r['index']:.2f}" for r in g["rows"][:3])
            label = " (SIMULATED scores)" if g["simulated"] else ""
            say(f"    evaluation {g['year']}{label}: {len(g['rows'])} ranked; {best}")


def write_reports(replay: Replay, out: Path, lang: str) -> list[str]:
    """Each cohort's HTML report (labelled simulated) as of the end of the replay, in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in COHORTS:
        with replay.session() as s:
            report = build_report(s, now=replay.now, cohort=spec.name, simulated=True)
        path = out / f"report-{spec.name}.html"
        path.write_text(render(report, "html", lang=lang), encoding="utf-8")
        paths.append(str(path))
    return paths


def replay_record(
    *,
    data_dir: Path,
    out: Path,
    lang: str = "en",
    database_url: str | None = None,
    say: Callable[[str], None] = print,
    regions_per_cohort: int | Mapping[str, int] | None = None,
    seed: int = 2017,
) -> dict[str, Any]:
    """Replay 2017-2019 from the record in `data_dir` into a migrated, empty database (`database_url`, default
    the configured one); print the replay and a summary, write the cohort reports (in `lang`) into `out`.

    `regions_per_cohort` keeps the first N regions of each list, or of the cohorts a mapping names ({"2018": 6}),
    and always the regions that moved: a shorter run. Returns the summary: per cohort its stages with counts
    and dates, the 2017 region the simulation made late, the regions that moved, the report paths, the audit
    rows checked and the seconds. ReplayRefused names the step, the date and the engine's reason when the
    engine refuses a step the record took."""
    started = time.perf_counter()
    check_lang(lang)  # before anything is written, not after the replay
    limits = _limits(regions_per_cohort)
    replay = Replay(data_dir=data_dir, url=database_url, say=say, seed=seed, limits=limits)
    say("Gerakan Menuju 100 Smart City 2017-2019, replayed from the public record on its calendar dates.")
    say("REAL: the regions, the cohorts' dated events, who moved from 2018 to 2019. SIMULATED, and labelled so:")
    say("reviews, bimtek attendance, decree and submission dates, quick wins and evaluation scores.\n")
    replay.load()
    replay.setup()
    replay.run(local_at(END, JAKARTA, 23))
    with replay.session() as s:
        cohorts = {spec.name: cohort_summary(s, replay, spec) for spec in COHORTS}
        checked, problem = audit.verify(s)
    if problem is not None:
        raise ReplayRefused(f"audit verify failed after the replay: {problem}")
    print_summary(say, cohorts)
    reports = write_reports(replay, out, lang)
    seconds = round(time.perf_counter() - started, 1)
    say(f"\nAudit chain verified ({checked} rows). Reports (simulated data): {', '.join(reports)}")
    say(f"Replayed in {seconds} s.")
    return {
        "cohorts": cohorts,
        "late_2017": replay.late,
        "moved": {code: list(way) for code, way in replay.moved.items()},
        "reports": reports,
        "audit_rows": checked,
        "seconds": seconds,
    }


def _limits(regions_per_cohort: int | Mapping[str, int] | None) -> dict[str, int]:
    """Per cohort, how many regions of its list the replay keeps; BadInput for an unknown cohort or under 2."""
    names = [spec.name for spec in COHORTS]
    if regions_per_cohort is None:
        return {}
    limits = (
        dict.fromkeys(names, regions_per_cohort) if isinstance(regions_per_cohort, int) else dict(regions_per_cohort)
    )
    for name, n in limits.items():
        if name not in names or n < 2:
            raise BadInput(f"regions_per_cohort: {name}={n}: give at least 2 regions of a cohort of {', '.join(names)}")
    return limits
