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


#: The main line every region walks, in order.
MAIN_LINE: tuple[Stage, ...] = (
    Stage.nominated,
    Stage.selected,
    Stage.drafting,
    Stage.masterplan_completed,
    Stage.quick_win_delivered,
)

#: Stages a region never leaves.
TERMINAL: frozenset[Stage] = frozenset({Stage.quick_win_delivered, Stage.not_selected, Stage.withdrawn})


@dataclass(frozen=True)
class Edge:
    """An allowed move, the kind of move, and the name of the guard that must pass."""

    source: Stage
    target: Stage
    kind: str  # "advance" | "decline" | "revise" | "withdraw"
    guard: str
    needs_reason: bool = False


EDGES: tuple[Edge, ...] = (
    Edge(Stage.nominated, Stage.selected, "advance", "within_cohort_quota"),
    Edge(Stage.nominated, Stage.not_selected, "decline", "always"),
    Edge(Stage.selected, Stage.drafting, "advance", "always"),
    Edge(Stage.drafting, Stage.masterplan_completed, "advance", "review_quorum_approved"),
    Edge(Stage.masterplan_completed, Stage.quick_win_delivered, "advance", "quick_win_verified"),
    # The only way back: a completed masterplan reopened for drafting, always with a reason.
    Edge(Stage.masterplan_completed, Stage.drafting, "revise", "always", needs_reason=True),
    *(
        Edge(s, Stage.withdrawn, "withdraw", "always", needs_reason=True)
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
    if source in TERMINAL:
        return f"{source.value} is final"
    if source == target:
        return f"already {target.value}"
    if source in MAIN_LINE and target in MAIN_LINE:
        i, j = MAIN_LINE.index(source), MAIN_LINE.index(target)
        if j > i + 1:
            return f"cannot skip from {source.value} to {target.value} (next is {MAIN_LINE[i + 1].value})"
        if j < i:
            return f"cannot go back from {source.value} to {target.value} without a revise edge"
    return f"no edge from {source.value} to {target.value}"


def mermaid() -> str:
    """The state diagram, generated from the edge table so it cannot drift."""
    lines = ["stateDiagram-v2", "    [*] --> nominated"]
    for e in EDGES:
        label = e.guard if e.kind == "advance" else f"{e.kind}: {e.guard}"
        if e.needs_reason:
            label += " + reason"
        lines.append(f"    {e.source.value} --> {e.target.value}: {label}")
    lines += [f"    {s.value} --> [*]" for s in sorted(TERMINAL)]
    return "\n".join(lines)
