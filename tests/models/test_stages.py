"""The stage machine table: its shape, its refusals, and the README diagram generated from it."""

from __future__ import annotations

import itertools
import re

from smartcity.models.core.guards import GUARDS
from smartcity.models.core.stages import (
    EDGES,
    FINAL,
    MAIN_LINE,
    TERMINAL,
    Stage,
    explain_refusal,
    find_edge,
    mermaid,
    parse_stage,
)
from tests.helpers import ROOT


def test_main_line_moves_one_step_at_a_time():
    for a, b in itertools.pairwise(MAIN_LINE):
        assert find_edge(a, b) is not None and find_edge(a, b).kind == "advance"
    for i, a in enumerate(MAIN_LINE):
        for b in MAIN_LINE[i + 2 :]:
            assert find_edge(a, b) is None, f"{a} may skip to {b}"


def test_only_backward_edge_is_a_reasoned_revise():
    backward = [
        e
        for e in EDGES
        if e.source in MAIN_LINE and e.target in MAIN_LINE and MAIN_LINE.index(e.target) < MAIN_LINE.index(e.source)
    ]
    assert [(e.source, e.target, e.kind, e.needs_reason) for e in backward] == [
        (Stage.masterplan_completed, Stage.drafting, "revise", True)
    ]


def test_every_edge_names_a_known_guard_and_finals_have_no_exit():
    assert all(e.guard in GUARDS for e in EDGES)
    assert not [e for e in EDGES if e.source in FINAL]
    # The one way out of a settled stage: a not_selected decision reconsidered, always with a reason.
    assert [(e.source, e.target, e.kind, e.needs_reason) for e in EDGES if e.source in TERMINAL] == [
        (Stage.not_selected, Stage.nominated, "reconsider", True)
    ]
    assert find_edge(Stage.drafting, Stage.masterplan_completed).guard == "review_quorum_approved"
    assert find_edge(Stage.masterplan_completed, Stage.quick_win_delivered).guard == "quick_win_verified"


def test_refusals_say_why():
    assert "cannot skip" in explain_refusal(Stage.nominated, Stage.drafting)
    assert "without a revise edge" in explain_refusal(Stage.drafting, Stage.selected)
    assert "final" in explain_refusal(Stage.withdrawn, Stage.selected)
    assert "reconsider it first" in explain_refusal(Stage.not_selected, Stage.selected)


def test_parse_stage_accepts_dashes_and_rejects_unknown():
    assert parse_stage("Masterplan-Completed") is Stage.masterplan_completed
    try:
        parse_stage("approved")
    except ValueError as exc:
        assert "unknown stage 'approved'" in str(exc)
    else:
        raise AssertionError("unknown stage accepted")


def test_readme_diagram_is_generated_from_the_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```mermaid\n(.*?)```", readme, re.DOTALL)
    assert block, "README has no mermaid block"
    assert block.group(1).strip() == mermaid().strip(), (
        "README diagram is stale: paste smartcity.models.core.stages.mermaid()"
    )
