"""Correcting a selection (issue 14): partial data warned about, not_selected reconsidered, one quota rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from smartcity.models.core.errors import InvalidTransition
from smartcity.models.core.regions import read_csv_text
from smartcity.models.core.stages import Stage
from smartcity.models.core.tables import Region, StageTransition
from smartcity.models.core.transitions import StageChange, change_stage, find_enrollment
from smartcity.models.infra.db import session_scope
from smartcity.models.selection.indicators import (
    apply_selection,
    known_region_codes,
    parse_indicators,
    plan_selection,
    upsert_indicators,
)
from smartcity.models.selection.scoring import ILLUSTRATIVE_INDICATORS_PATH
from smartcity.models.selection.tables import IndicatorValue
from tests.helpers import T0, cohort_with, load_registry
from tests.tasks import test_select_cohort
from tests.tasks.test_select_cohort import POLICY, illustrative_codes

cohort_2017 = test_select_cohort.cohort_2017  # the fixture, shared

PAPUA = ("9412", "9471")  # Mimika (phase 1, by the Papua floor) and Kota Jayapura
LATER = T0 + timedelta(days=2)


def import_indicators(now=T0) -> None:
    with session_scope() as session:
        rows = parse_indicators(
            read_csv_text(ILLUSTRATIVE_INDICATORS_PATH), "illustrative", known_region_codes(session)
        )
        upsert_indicators(session, rows, now=now)


def drop_readiness(codes) -> None:
    with session_scope() as session:
        ids = session.exec(select(Region.id).where(col(Region.bps_code).in_(codes))).all()
        for row in session.exec(
            select(IndicatorValue).where(
                col(IndicatorValue.region_id).in_(ids), IndicatorValue.indicator == "readiness"
            )
        ).all():
            session.delete(row)


def move(code, to, *, reason=None, force=False, at=LATER):
    with session_scope() as s:
        return change_stage(
            s, StageChange(region_code=code, to=to, actor="ani", reason=reason, cohort="2017", force=force), now=at
        )


def test_partial_data_is_warned_about_and_a_not_selected_region_can_be_reconsidered(cohort_2017):
    drop_readiness(PAPUA)
    with session_scope() as s:
        plan = plan_selection(s, "2017", POLICY)
        warnings = plan.summary([])["warnings"]
        assert warnings[0].startswith("2 of 40 nominee(s) excluded for missing data (missing: readiness (2))")
        assert "whole island group Papua excluded (2 nominee(s)) for missing readiness" in warnings
        apply_selection(s, plan, "ani", now=T0)
    with pytest.raises(InvalidTransition, match="reconsider it first"):
        move("9412", Stage.selected, reason="data came late", force=True)
    with pytest.raises(InvalidTransition, match="needs a reason"):
        move("9412", Stage.nominated)
    assert move("9412", Stage.nominated, reason="readiness arrived after the selection").status == "applied"
    assert move("9412", Stage.selected, reason="Papua floor, with full data", force=True).to_stage == "selected"
    with session_scope() as s:
        kinds = [
            (t.kind, t.reason)
            for t in s.exec(
                select(StageTransition)
                .where(StageTransition.enrollment_id == find_enrollment(s, "9412").id)
                .order_by(StageTransition.version)
            )
        ]
    assert [k for k, _ in kinds] == ["decline", "reconsider", "force"]
    # Reconsidered and decided again by a re-run: recorded anew, not taken for the first decision's repeat.
    import_indicators(LATER)
    move("9471", Stage.nominated, reason="readiness arrived after the selection")
    with session_scope() as s:
        apply_selection(s, plan_selection(s, "2017", POLICY), "ani", now=LATER + timedelta(hours=1))
    with session_scope() as s:
        assert find_enrollment(s, "9471").stage == Stage.not_selected and find_enrollment(s, "9471").version == 3


@pytest.fixture
def cohort_of_30(db_url):
    """The 40 illustrative nominees in a cohort created with a quota of 30 (the shipped policy says 25)."""
    load_registry()
    cohort_with(illustrative_codes(), name="2017", quota=30)
    import_indicators()
    return db_url


def test_the_cohort_quota_rules_unless_the_policy_overrides_it_and_a_mismatch_is_noted(cohort_of_30):
    with session_scope() as s:
        plan = plan_selection(s, "2017", POLICY)
        override = plan_selection(s, "2017", POLICY.model_copy(update={"quota_override": True}))
    summary = plan.summary([])
    assert (len(summary["selected"]), summary["quota"]) == (30, 30)
    assert "cohort 2017's quota of 30 rules; the policy's quota of 25 is not applied" in summary["notes"][0]
    assert len(override.result.selected_codes) == 25
    assert "overrides cohort 2017's quota of 30" in override.result.notes[0]
