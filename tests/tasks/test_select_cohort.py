"""Cohort selection through the domain path on both backends: the illustrative replay, audit, idempotence."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest
from sqlmodel import func, select

from smartcity.models.core.errors import BadInput
from smartcity.models.core.program import status_rows
from smartcity.models.core.regions import read_csv_text
from smartcity.models.core.tables import EventOutbox, StageTransition
from smartcity.models.infra.db import session_scope
from smartcity.models.selection.indicators import (
    apply_selection,
    known_region_codes,
    parse_indicators,
    plan_selection,
    upsert_indicators,
)
from smartcity.models.selection.scoring import DEFAULT_POLICY_PATH, ILLUSTRATIVE_INDICATORS_PATH, SelectionPolicy
from tests.conftest import dump_database
from tests.helpers import T0, cohort_with, load_registry, phase1_codes

POLICY = SelectionPolicy.from_toml(DEFAULT_POLICY_PATH)


def illustrative_codes() -> list[str]:
    with ILLUSTRATIVE_INDICATORS_PATH.open(encoding="utf-8") as fh:
        return sorted({row["bps_code"] for row in csv.DictReader(fh)})


@pytest.fixture
def cohort_2017(db_url):
    """Registry, the 40 illustrative nominees in cohort 2017 (quota 25), and their indicator values."""
    load_registry()
    codes = illustrative_codes()
    assert len(codes) == 40
    cohort_with(codes, name="2017", quota=25)
    with session_scope() as session:
        rows = parse_indicators(
            read_csv_text(ILLUSTRATIVE_INDICATORS_PATH), "illustrative", known_region_codes(session)
        )
        upsert_indicators(session, rows, now=T0)
    return db_url


def select_2017(now=T0, actor: str = "ani") -> dict:
    with session_scope() as session:
        plan = plan_selection(session, "2017", POLICY)
        return apply_selection(session, plan, actor, now=now)


def test_default_policy_selects_exactly_the_25_phase1_regions_with_audit_and_events(cohort_2017):
    summary = select_2017()
    assert (summary["applied"], summary["refused"]) == (40, [])
    assert set(summary["selected"]) == set(phase1_codes()) and summary["illustrative"]
    stages = {r["bps_code"]: r["stage"] for r in status_rows_2017()}
    assert {c for c, s in stages.items() if s == "selected"} == set(phase1_codes())
    assert {c for c, s in stages.items() if s == "not_selected"} == set(illustrative_codes()) - set(phase1_codes())
    with session_scope() as session:
        transitions = session.exec(select(StageTransition)).all()
        events = session.exec(select(EventOutbox)).all()
    assert len(transitions) == 40 and {t.actor for t in transitions} == {"ani"}
    assert all(t.idempotency_key.startswith("select:2017:") for t in transitions)
    depok = next(t for t in transitions if t.idempotency_key == "select:2017:3276->not_selected")
    assert "Jawa Barat already has 6 selected" in depok.reason  # the why is in the audit trail too
    names = sorted(e.event for e in events)
    assert names.count("smartcity.region.selected") == 25 and names.count("smartcity.region.not_selected") == 15
    resources = {e.resource["prefect.resource.id"] for e in events}
    assert resources == {f"smartcity.region.{c}" for c in illustrative_codes()}


def status_rows_2017() -> list[dict]:
    with session_scope() as session:
        return status_rows(session, "2017")


def test_rerun_records_nothing_new(cohort_2017):
    select_2017()
    before = dump_database(cohort_2017)
    again = select_2017(now=T0 + timedelta(hours=1), actor="budi")
    assert (again["applied"], again["duplicate"], again["refused"]) == (0, 40, [])
    assert set(again["selected"]) == set(phase1_codes())  # same pool, same decision
    assert dump_database(cohort_2017) == before


def test_dry_run_plan_changes_nothing(cohort_2017):
    before = dump_database(cohort_2017)
    with session_scope() as session:
        plan = plan_selection(session, "2017", POLICY)
    summary = plan.summary([])
    assert len(summary["ranking"]) == 40 and summary["applied"] == 0
    assert dump_database(cohort_2017) == before
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(StageTransition)).one() == 0


def test_policy_quota_above_cohort_quota_is_refused_before_any_change(cohort_2017):
    before = dump_database(cohort_2017)
    bigger = POLICY.model_copy(update={"quota": 30, "quota_override": True})
    with session_scope() as session, pytest.raises(BadInput, match="quota of 25"):
        plan_selection(session, "2017", bigger)
    assert dump_database(cohort_2017) == before


def test_missing_indicator_follows_the_policy_rule_not_a_silent_zero(cohort_2017):
    from smartcity.models.core.tables import Region
    from smartcity.models.selection.tables import IndicatorValue

    with session_scope() as session:  # Kota Bandung loses its readiness value
        bandung = session.exec(select(Region).where(Region.bps_code == "3273")).one()
        row = session.exec(
            select(IndicatorValue).where(
                IndicatorValue.region_id == bandung.id, IndicatorValue.indicator == "readiness"
            )
        ).one()
        session.delete(row)
    with session_scope() as session:
        excluded = plan_selection(session, "2017", POLICY).result.by_code("3273")
        imputed = plan_selection(session, "2017", POLICY.model_copy(update={"missing": "impute_median"}))
    assert not excluded.selected and excluded.equity_rule == "excluded_missing"
    assert "missing indicator readiness" in excluded.reason
    assert imputed.result.by_code("3273").imputed == ["readiness"]
