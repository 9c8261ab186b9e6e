"""The vocabulary: one StrEnum per set of statuses, kinds, roles and dimensions, equal to the old strings."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from smartcity.models.core.stages import EdgeKind, Stage
from smartcity.models.deadlines.policy import ReminderRung
from smartcity.models.programs.loading import shipped
from smartcity.models.quickwins.ops import QuickWinCreate
from smartcity.models.quickwins.tables import DIMENSIONS
from smartcity.models.vocabulary import (
    REGIONAL_ROLES,
    DeadlineKind,
    DeadlineStatus,
    Decision,
    Dimension,
    NotificationStatus,
    Role,
    RoundStatus,
    values,
)


def test_each_enum_holds_exactly_the_values_the_program_writes():
    assert values(DeadlineStatus) == "open, done, cancelled"
    assert values(DeadlineKind) == "stage, milestone, review"
    assert values(NotificationStatus) == "pending, sending, sent, cancelled, unaddressed"
    assert values(RoundStatus) == "open, approved, revision_requested"
    assert values(Decision) == "approve, revise"
    assert values(Role) == "pic, coordinator, reviewer, escalation"
    assert REGIONAL_ROLES == {Role.pic, Role.escalation}
    assert DIMENSIONS == ("governance", "branding", "economy", "living", "society", "environment")
    assert all(isinstance(d, Dimension) for d in DIMENSIONS)


def test_a_member_is_its_string_in_comparisons_keys_and_json():
    assert DeadlineStatus.open == "open" and {"open": 1}[DeadlineStatus.open] == 1
    assert f"{Stage.drafting} / {Role.pic}" == "drafting / pic"
    payload = {"stage": Stage.drafting, "status": NotificationStatus.sent, Dimension.economy: 2}
    assert json.dumps(payload) == '{"stage": "drafting", "status": "sent", "economy": 2}'


def test_every_edge_has_an_edge_kind_and_the_diagram_is_unchanged():
    edges, mermaid = shipped().edge_list, shipped().mermaid().splitlines()
    assert {type(e.kind) for e in edges} == {EdgeKind}
    assert {e.kind for e in edges} == {"advance", "decline", "revise", "reconsider", "withdraw"}  # force: recorded
    assert "    masterplan_completed --> drafting: revise: always + reason" in mermaid
    assert "    nominated --> selected: within_cohort_quota" in mermaid


def test_a_ladder_takes_role_names_as_enum_members_and_never_a_reviewer():
    rung = ReminderRung(key="+5", offset=5, recipients=["escalation", "coordinator"])
    assert rung.recipients == (Role.escalation, Role.coordinator)
    assert all(isinstance(r, Role) for r in rung.recipients)
    with pytest.raises(ValidationError, match="review deadline's pic is its reviewer"):
        ReminderRung(key="+5", offset=5, recipients=["reviewer"])


def _quick_win(dimension: object) -> dict:
    return {
        "title": "t",
        "dimension": dimension,
        "budget_idr": 1,
        "start_date": "2017-10-01",
        "kpis": [{"name": "k", "unit": "u", "target": 1}],
    }


def test_a_quick_win_dimension_is_read_in_any_case_and_unknown_ones_name_the_six():
    assert QuickWinCreate.model_validate(_quick_win("  Economy ")).dimension is Dimension.economy
    with pytest.raises(
        ValidationError,
        match=r"unknown dimension 'health' \(one of governance, branding, economy, "
        r"living, society, environment\)",
    ):
        QuickWinCreate.model_validate(_quick_win("health"))
