"""The shipped default program's stage machine: its shape, its refusals, and the README diagram generated from it."""

from __future__ import annotations

import itertools
import re

import pytest

from smartcity.models.core.guards import GUARDS
from smartcity.models.core.stages import Stage
from smartcity.models.programs.definition import GUARD_PARAMS, UnknownStage
from smartcity.models.programs.loading import shipped
from tests.helpers import ROOT

DEFAULT = shipped()
MAIN_LINE = DEFAULT.main_line
EDGES = DEFAULT.edge_list


def test_the_default_program_has_the_stages_the_code_calls_stage():
    # `Stage` names the default program's stages for the code that tells its story (the demo): each must exist.
    assert {s.value for s in Stage} <= set(DEFAULT.stage_names)
    assert MAIN_LINE == (
        Stage.nominated,
        Stage.selected,
        Stage.drafting,
        Stage.masterplan_completed,
        Stage.quick_win_delivered,
    )


def test_main_line_moves_one_step_at_a_time():
    for a, b in itertools.pairwise(MAIN_LINE):
        edge = DEFAULT.find_edge(a, b)
        assert edge is not None and edge.kind == "advance"
    for i, a in enumerate(MAIN_LINE):
        for b in MAIN_LINE[i + 2 :]:
            assert DEFAULT.find_edge(a, b) is None, f"{a} may skip to {b}"


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
    assert set(GUARDS) == set(GUARD_PARAMS), "every guard a definition may name is implemented, and no other"
    assert all(e.guard in GUARDS for e in EDGES)
    assert not [e for e in EDGES if e.source in DEFAULT.final]
    assert DEFAULT.final == {Stage.quick_win_delivered, Stage.withdrawn}
    assert DEFAULT.closed == DEFAULT.final | {Stage.not_selected}
    # The one way out of a settled stage: a not_selected decision reconsidered, always with a reason.
    assert [(e.source, e.target, e.kind, e.needs_reason) for e in EDGES if e.source in DEFAULT.closed] == [
        (Stage.not_selected, Stage.nominated, "reconsider", True)
    ]
    assert DEFAULT.find_edge(Stage.drafting, Stage.masterplan_completed).guard == "review_quorum_approved"
    assert DEFAULT.find_edge(Stage.masterplan_completed, Stage.quick_win_delivered).guard == "quick_win_verified"
    assert [(e.source, e.target) for e in EDGES if e.automatic] == [(Stage.selected, Stage.drafting)]


def test_refusals_say_why():
    assert "cannot skip" in DEFAULT.explain_refusal(Stage.nominated, Stage.drafting)
    assert "without a revise edge" in DEFAULT.explain_refusal(Stage.drafting, Stage.selected)
    assert "final" in DEFAULT.explain_refusal(Stage.withdrawn, Stage.selected)
    assert "reconsider it first" in DEFAULT.explain_refusal(Stage.not_selected, Stage.selected)
    assert "unknown stage 'approved'" in DEFAULT.explain_refusal(Stage.drafting, "approved")


def test_parse_stage_accepts_dashes_and_rejects_unknown():
    assert DEFAULT.parse_stage("Masterplan-Completed") == Stage.masterplan_completed
    with pytest.raises(UnknownStage, match="unknown stage 'approved' in program default"):
        DEFAULT.parse_stage("approved")


def test_readme_diagram_is_generated_from_the_default_definition():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```mermaid\n(.*?)```", readme, re.DOTALL)
    assert block, "README has no mermaid block"
    assert block.group(1).strip() == DEFAULT.mermaid().strip(), (
        "README diagram is stale: paste `smartcity program show --mermaid`"
    )
