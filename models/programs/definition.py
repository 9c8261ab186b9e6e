"""A staged program as data: stages, edges with named guards, deadlines, selection and evaluation policies.

One TOML file declares a whole program (`smartcity.models.programs.loading` reads it). Like
python-statemachine at class creation, a definition is checked when it is built, and a bad one is refused
before anything runs: an unknown guard or guard parameter, an edge out of a final stage, a stage the first
stage cannot reach, a stage with no path to a final one, and references to stages that do not exist.

The engine reads what each built-in operation means from the guards on the edges, so a program with other
stage names needs no code: selection takes the edge guarded by `within_cohort_quota` (and the decline edge
from the same stage), a review round runs in the source stage of the edge guarded by `review_quorum_approved`
and its approval takes that edge, a quick win is tracked in the source stage of the edge guarded by
`quick_win_verified`, and so on. Pure: no database, no Prefect.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smartcity.models.core.errors import BadInput
from smartcity.models.core.stages import EdgeKind
from smartcity.models.deadlines.policy import DeadlinePolicy
from smartcity.models.selection.scoring import SelectionPolicy

_NAME = r"^[a-z][a-z0-9_]*$"
_SLUG = r"^[a-z][a-z0-9-]*$"


class FollowUp(StrEnum):
    """The event-triggered deployments that follow a region into a stage (named as in the registry)."""

    drafting_setup = "drafting-setup"  # takes the automatic edge out of the stage (selected -> drafting)
    quick_win_tracking = "quick-win-tracking"  # tells the PIC when the quick win is due
    close_region_file = "close-region-file"  # closes the file at the end of the main line


class UnknownStage(BadInput, ValueError):
    """A stage name the program does not have (a coordinator's typo): one line listing the stages."""


#: The deadline rule named "review" is the reviewer's deadline, not a stage's.
REVIEW_RULE = "review"


class _Frozen(BaseModel):
    # Frozen + extra=forbid: a typo in the file is an error, and a loaded definition is immutable.
    model_config = ConfigDict(frozen=True, extra="forbid")


class Label(_Frozen):
    """A name in Bahasa Indonesia (`id`) and English (`en`)."""

    id: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        """The label in `lang` ("id" or "en"; anything else reads Bahasa Indonesia)."""
        return self.en if lang == "en" else self.id


class StageDef(_Frozen):
    """One stage: its name (as stored and typed), its labels, and whether it ends the program."""

    name: str = Field(pattern=_NAME, max_length=32)
    label: Label
    final: bool = False  # no edge may leave it
    closed: bool = False  # the region's file is closed here though an edge may reopen it (not_selected)
    colour: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")  # in reports; a palette otherwise


# ------------------------------------------------------------------------------------------------ guards


class NoParams(_Frozen):
    """A guard without parameters."""


class ReviewQuorumParams(_Frozen):
    """The latest review round closed with approval, decided by a quorum of at least `min_quorum` reviewers."""

    min_quorum: int = Field(default=1, ge=1)


class QuickWinParams(_Frozen):
    """At least `min_verified` quick wins verified by a named coordinator."""

    min_verified: int = Field(default=1, ge=1)


class CalendarEventParams(_Frozen):
    """The cohort's calendar event `event` has started (its date, 00:00 in the region's zone, has come)."""

    event: str = Field(pattern=_NAME)


class EvaluationParams(_Frozen):
    """The region has an implementation evaluation index (in any year, or in `year`), at least `min_index`."""

    min_index: float | None = Field(default=None, ge=0)


#: Every guard the engine implements, with the parameters it takes (implementations: core/guards.py).
GUARD_PARAMS: dict[str, type[_Frozen]] = {
    "always": NoParams,
    "within_cohort_quota": NoParams,
    "review_quorum_approved": ReviewQuorumParams,
    "quick_win_verified": QuickWinParams,
    "calendar_event_started": CalendarEventParams,
    "evaluation_scored": EvaluationParams,
}
#: Guards a coordinator may override with a reason (recorded as kind "force"); the others never.
FORCEABLE_GUARDS = frozenset({"within_cohort_quota", "calendar_event_started"})


class GuardRef(_Frozen):
    """A guard by name, with its parameters (checked against what that guard takes)."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> GuardRef:
        model = GUARD_PARAMS.get(self.name)
        if model is None:
            raise ValueError(f"unknown guard {self.name!r} (known: {', '.join(sorted(GUARD_PARAMS))})")
        try:
            model.model_validate(self.params)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"guard {self.name}: parameter {where or '?'}: {first['msg']}") from None
        return self

    def parsed(self) -> Any:
        """The parameters as the guard's own model."""
        return GUARD_PARAMS[self.name].model_validate(self.params)


class EdgeDef(_Frozen):
    """An allowed move: from a stage (or several), to a stage, of a kind, behind a guard."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    sources: tuple[str, ...] = Field(alias="from", min_length=1)
    to: str
    kind: EdgeKind = EdgeKind.advance
    guard: GuardRef = GuardRef(name="always")
    reason_required: bool = False
    # Taken by the engine, not a person, when a region enters the source stage (the event-chain deployment).
    automatic: bool = False

    @field_validator("sources", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v

    @field_validator("guard", mode="before")
    @classmethod
    def _guard_by_name(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v


class Edge(_Frozen):
    """One edge with one source, as the engine looks it up."""

    source: str
    target: str
    kind: EdgeKind
    guard: str
    params: dict[str, Any] = Field(default_factory=dict)
    needs_reason: bool = False
    automatic: bool = False
    forceable: bool = False


DIMENSIONS = ("baseline", "output", "outcome", "impact", "quick_win")


class EvaluationPolicy(_Frozen):
    """The yearly implementation evaluation: dimension weights (summing to 1) and the index scale."""

    name: str = Field(min_length=1)
    source: str = ""
    scale_max: float = Field(default=4.0, gt=0)  # dimension scores and the index lie in 0..scale_max
    weights: dict[str, float]

    @model_validator(mode="after")
    def _weights(self) -> EvaluationPolicy:
        if not self.weights:
            raise ValueError("weights: at least one dimension")
        if bad := [d for d, w in self.weights.items() if not 0 <= w <= 1]:
            raise ValueError(f"weights: {', '.join(bad)} must lie in 0..1")
        total = sum(self.weights.values())
        if abs(total - 1) > 1e-9:
            raise ValueError(f"weights add up to {total:g}, not 1")
        return self


# ------------------------------------------------------------------------------------------------ program


class ProgramDefinition(_Frozen):
    """A whole staged program, checked when it is built."""

    name: str = Field(pattern=_SLUG, max_length=100)
    title: Label
    description: str = ""
    stages: tuple[StageDef, ...] = Field(min_length=1)
    edges: tuple[EdgeDef, ...] = Field(min_length=1)
    deadlines: DeadlinePolicy
    selection: SelectionPolicy | None = None
    evaluation: EvaluationPolicy | None = None

    @model_validator(mode="after")
    def _check(self) -> ProgramDefinition:
        names = [s.name for s in self.stages]
        if dup := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"stages: duplicate stage {', '.join(dup)}")
        known = set(names)
        final = {s.name for s in self.stages if s.final}
        if not final:
            raise ValueError("stages: no final stage (mark at least one `final = true`)")
        seen: set[tuple[str, str]] = set()
        for i, e in enumerate(self.edges):
            for stage in (*e.sources, e.to):
                if stage not in known:
                    raise ValueError(f"edges[{i}]: unknown stage {stage!r} (stages: {', '.join(names)})")
            for source in e.sources:
                if source in final:
                    raise ValueError(f"edges[{i}]: an edge leaves final stage {source!r}")
                if source == e.to:
                    raise ValueError(f"edges[{i}]: an edge from {source!r} to itself")
                if (source, e.to) in seen:
                    raise ValueError(f"edges[{i}]: a second edge from {source!r} to {e.to!r}")
                seen.add((source, e.to))
        self._check_paths(names, final)
        self._check_roles()
        self._check_deadlines(known)
        return self

    def _check_paths(self, names: list[str], final: set[str]) -> None:
        forward: dict[str, set[str]] = {n: set() for n in names}
        for e in self.edges:
            for s in e.sources:
                forward[s].add(e.to)
        reached = _closure({names[0]}, forward)
        if unreachable := [n for n in names if n not in reached]:
            raise ValueError(f"stages: {', '.join(unreachable)} cannot be reached from {names[0]!r}")
        backward: dict[str, set[str]] = {n: set() for n in names}
        for s, targets in forward.items():
            for t in targets:
                backward[t].add(s)
        ends = _closure(final, backward)
        if trapped := [n for n in names if n not in ends]:
            raise ValueError(f"stages: {', '.join(trapped)} has no path to a final stage")

    def _check_roles(self) -> None:
        for guard in ("within_cohort_quota", "review_quorum_approved", "quick_win_verified"):
            using = [e for e in self.edge_list if e.guard == guard]
            if len(using) > 1:
                pairs = ", ".join(f"{e.source} -> {e.target}" for e in using)
                raise ValueError(f"edges: guard {guard} guards more than one edge ({pairs})")
        auto = [e.source for e in self.edge_list if e.automatic]
        if dup := sorted({s for s in auto if auto.count(s) > 1}):
            raise ValueError(f"edges: more than one automatic edge leaves {', '.join(dup)}")
        for e in self.edge_list:
            if e.automatic and e.needs_reason:
                raise ValueError(f"edges: automatic edge {e.source} -> {e.target} cannot require a reason")

    def _check_deadlines(self, known: set[str]) -> None:
        for i, rule in enumerate(self.deadlines.rules):
            if rule.stage != REVIEW_RULE and rule.stage not in known:
                raise ValueError(f"deadlines.rules[{i}]: unknown stage {rule.stage!r}")
        for i, m in enumerate(self.deadlines.milestones):
            if m.stage not in known:
                raise ValueError(f"deadlines.milestones[{i}]: unknown stage {m.stage!r}")

    # ----------------------------------------------------------------- what the engine reads

    @cached_property
    def edge_list(self) -> tuple[Edge, ...]:
        """Every edge with one source each, in file order."""
        return tuple(
            Edge(
                source=s,
                target=e.to,
                kind=e.kind,
                guard=e.guard.name,
                params=e.guard.params,
                needs_reason=e.reason_required,
                automatic=e.automatic,
                forceable=e.guard.name in FORCEABLE_GUARDS,
            )
            for e in self.edges
            for s in e.sources
        )

    @cached_property
    def edge_index(self) -> dict[tuple[str, str], Edge]:
        return {(e.source, e.target): e for e in self.edge_list}

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The stages, in file order."""
        return tuple(s.name for s in self.stages)

    @property
    def initial(self) -> str:
        """The first stage: where a nominated region starts."""
        return self.stages[0].name

    @cached_property
    def final(self) -> frozenset[str]:
        """Stages no edge leaves."""
        return frozenset(s.name for s in self.stages if s.final)

    @cached_property
    def closed(self) -> frozenset[str]:
        """Stages where a region's file is closed: the final ones and those marked closed."""
        return frozenset(s.name for s in self.stages if s.final or s.closed)

    @cached_property
    def main_line(self) -> tuple[str, ...]:
        """The walk of advance edges from the first stage (the order reports chart)."""
        line = [self.initial]
        while nxt := next(
            (e.target for e in self.edge_list if e.source == line[-1] and e.kind == EdgeKind.advance), None
        ):
            if nxt in line:
                break
            line.append(nxt)
        return tuple(line)

    @property
    def completed(self) -> str:
        """Where the main line ends: the region's file closes there (quick_win_delivered by default)."""
        return self.main_line[-1]

    def follow_up(self, stage: str) -> FollowUp | None:
        """The deployment an event-trigger starts when a region enters `stage`, if any (one per stage)."""
        if self.automatic_from(stage) is not None:
            return FollowUp.drafting_setup
        quick_win = self.guarded_by("quick_win_verified")
        if quick_win is not None and stage == quick_win.source:
            return FollowUp.quick_win_tracking
        if stage == self.completed and stage in self.final:
            return FollowUp.close_region_file
        return None

    @property
    def quick_win_key(self) -> str:
        """The key of the quick-win deadline: the rule of the stage a quick win is tracked in ("quick-win")."""
        edge = self.guarded_by("quick_win_verified")
        rule = self.deadlines.rule_for(edge.source) if edge else None
        return rule.deadline_key if rule else "quick-win"

    def stage(self, name: str) -> StageDef:
        """The stage called `name`; ValueError listing the stages otherwise."""
        for s in self.stages:
            if s.name == name:
                return s
        raise UnknownStage(f"unknown stage {name!r} in program {self.name} (stages: {', '.join(self.stage_names)})")

    def parse_stage(self, value: str) -> str:
        """A stage name as a coordinator may type it (any case, '-' for '_'), checked against this program."""
        return self.stage(value.strip().lower().replace("-", "_")).name

    def label(self, stage: str, lang: str = "id") -> str:
        """The stage's label in `lang`; the bare name for a stage this program does not know."""
        return next((s.label.get(lang) for s in self.stages if s.name == stage), stage)

    def find_edge(self, source: str, target: str) -> Edge | None:
        """The edge from `source` to `target`, or None when the move is not allowed."""
        return self.edge_index.get((source, target))

    def sources_of(self, target: str) -> list[str]:
        """Stages from which `target` can be reached in one move."""
        return [e.source for e in self.edge_list if e.target == target]

    def guarded_by(self, guard: str) -> Edge | None:
        """The one edge behind `guard` (selection, review approval, quick-win delivery), if the program has it."""
        return next((e for e in self.edge_list if e.guard == guard), None)

    def selection_stages(self) -> tuple[str, str, str]:
        """(pool, selected, declined): where nominees wait, where the chosen go, where the others go."""
        chosen = self.guarded_by("within_cohort_quota")
        declined = self.decline_from(chosen.source) if chosen else None
        if chosen is None or declined is None:
            raise UnknownStage(f"program {self.name} has no selection (a within_cohort_quota edge and a decline edge)")
        return chosen.source, chosen.target, declined.target

    def automatic_from(self, source: str) -> Edge | None:
        """The edge the engine takes by itself when a region enters `source`."""
        return next((e for e in self.edge_list if e.source == source and e.automatic), None)

    def decline_from(self, source: str) -> Edge | None:
        """The decline edge out of `source` (not selected)."""
        return next((e for e in self.edge_list if e.source == source and e.kind == EdgeKind.decline), None)

    def explain_refusal(self, source: str, target: str) -> str:
        """Why there is no edge, in the coordinator's words."""
        if target not in self.stage_names:
            return f"unknown stage {target!r} in program {self.name} (stages: {', '.join(self.stage_names)})"
        if source in self.final:
            return f"{source} is final"
        if source == target:
            return f"already {target}"
        back = [e for e in self.edge_list if e.source == source and e.kind == EdgeKind.reconsider]
        if back and source in self.closed:
            return (
                f"cannot go from {source} to {target}: reconsider it first (back to {back[0].target}, with a "
                "reason: `smartcity region reconsider`)"
            )
        line = self.main_line
        if source in line and target in line:
            i, j = line.index(source), line.index(target)
            if j > i + 1:
                return f"cannot skip from {source} to {target} (next is {line[i + 1]})"
            if j < i:
                return f"cannot go back from {source} to {target} without a revise edge"
        return f"no edge from {source} to {target}"

    def mermaid(self) -> str:
        """The state diagram, generated from the edges so it cannot drift."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        for e in self.edge_list:
            guard = e.guard
            if e.params:
                guard += "(" + ", ".join(f"{k}={v}" for k, v in e.params.items()) + ")"
            label = guard if e.kind == EdgeKind.advance else f"{e.kind}: {guard}"
            if e.needs_reason:
                label += " + reason"
            if e.automatic:
                label += " (auto)"
            lines.append(f"    {e.source} --> {e.target}: {label}")
        lines += [f"    {s} --> [*]" for s in self.stage_names if s in self.final]
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        """A plain description for `program show --json`."""
        return {
            "name": self.name,
            "title": self.title.model_dump(),
            "stages": [s.model_dump(exclude_none=True) for s in self.stages],
            "edges": [e.model_dump() for e in self.edge_list],
            "deadlines": self.deadlines.model_dump(mode="json"),
            "selection": None if self.selection is None else self.selection.model_dump(mode="json"),
            "evaluation": None if self.evaluation is None else self.evaluation.model_dump(mode="json"),
        }


def _closure(start: Iterable[str], step: dict[str, set[str]]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in step[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
