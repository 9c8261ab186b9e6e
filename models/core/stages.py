"""The stage machine as data: one enum, one edge table, one named guard per edge.

Read it top to bottom: stages, then edges. Guards are looked up by name in `smartcity.models.core.guards`,
so the table stays plain data that the README diagram is generated from.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    """Where a region stands in the program."""

    nominated = "nominated"
    selected = "selected"
    drafting = "drafting"
    masterplan_completed = "masterplan_completed"
    quick_win_delivered = "quick_win_delivered"
    not_selected = "not_selected"
    withdrawn = "withdrawn"


class EdgeKind(StrEnum):
    """The kind of a move, as recorded in history; `force` is an advance whose soft guard was overridden."""

    advance = "advance"
    decline = "decline"
    revise = "revise"
    withdraw = "withdraw"
    force = "force"
    reconsider = "reconsider"


#: The main line every region walks, in order.
MAIN_LINE: tuple[Stage, ...] = (
    Stage.nominated,
    Stage.selected,
    Stage.drafting,
    Stage.masterplan_completed,
    Stage.quick_win_delivered,
)

#: Stages a region never leaves: no edge starts there.
FINAL: frozenset[Stage] = frozenset({Stage.quick_win_delivered, Stage.withdrawn})

#: Stages where a region's file is closed: deadlines, digests, reports, status and the cohort-completed event
#: treat them as done. not_selected is one, but not FINAL: a decision made on partial data can be
#: reconsidered (a reasoned edge back to nominated), and the region is then open again.
TERMINAL: frozenset[Stage] = FINAL | {Stage.not_selected}


@dataclass(frozen=True)
class Edge:
    """An allowed move, the kind of move, and the name of the guard that must pass."""

    source: Stage
    target: Stage
    kind: EdgeKind
    guard: str
    needs_reason: bool = False


EDGES: tuple[Edge, ...] = (
    Edge(Stage.nominated, Stage.selected, EdgeKind.advance, "within_cohort_quota"),
    Edge(Stage.nominated, Stage.not_selected, EdgeKind.decline, "always"),
    # A decision made on partial data, reopened with a reason; the region can then be selected again.
    Edge(Stage.not_selected, Stage.nominated, EdgeKind.reconsider, "always", needs_reason=True),
    Edge(Stage.selected, Stage.drafting, EdgeKind.advance, "always"),
    Edge(Stage.drafting, Stage.masterplan_completed, EdgeKind.advance, "review_quorum_approved"),
    Edge(Stage.masterplan_completed, Stage.quick_win_delivered, EdgeKind.advance, "quick_win_verified"),
    # The only way back: a completed masterplan reopened for drafting, always with a reason.
    Edge(Stage.masterplan_completed, Stage.drafting, EdgeKind.revise, "always", needs_reason=True),
    *(
        Edge(s, Stage.withdrawn, EdgeKind.withdraw, "always", needs_reason=True)
        for s in (Stage.nominated, Stage.selected, Stage.drafting, Stage.masterplan_completed)
    ),
)

_EDGE_INDEX: dict[tuple[Stage, Stage], Edge] = {(e.source, e.target): e for e in EDGES}


def find_edge(source: Stage, target: Stage) -> Edge | None:
    """The edge from `source` to `target`, or None when the move is not allowed."""
    return _EDGE_INDEX.get((source, target))


def sources_of(target: Stage) -> list[Stage]:
    """Stages from which `target` can be reached in one move."""
    return [e.source for e in EDGES if e.target == target]


def parse_stage(value: str) -> Stage:
    """Parse a stage name, with a message listing the valid ones."""
    try:
        return Stage(value.strip().lower().replace("-", "_"))
    except ValueError:
        valid = ", ".join(s.value for s in Stage)
        raise ValueError(f"unknown stage {value!r} (valid: {valid})") from None


def explain_refusal(source: Stage, target: Stage) -> str:
    """Say why there is no edge, in the coordinator's words."""
    if source in FINAL:
        return f"{source} is final"
    if source == target:
        return f"already {target}"
    if source == Stage.not_selected:
        return (
            f"cannot go from {source} to {target}: reconsider it first (back to nominated, with a reason: "
            "`smartcity region reconsider`)"
        )
    if source in MAIN_LINE and target in MAIN_LINE:
        i, j = MAIN_LINE.index(source), MAIN_LINE.index(target)
        if j > i + 1:
            return f"cannot skip from {source} to {target} (next is {MAIN_LINE[i + 1]})"
        if j < i:
            return f"cannot go back from {source} to {target} without a revise edge"
    return f"no edge from {source} to {target}"


def mermaid() -> str:
    """The state diagram, generated from the edge table so it cannot drift."""
    lines = ["stateDiagram-v2", "    [*] --> nominated"]
    for e in EDGES:
        label = e.guard if e.kind == EdgeKind.advance else f"{e.kind}: {e.guard}"
        if e.needs_reason:
            label += " + reason"
        lines.append(f"    {e.source} --> {e.target}: {label}")
    lines += [f"    {s} --> [*]" for s in sorted(FINAL)]
    return "\n".join(lines)
