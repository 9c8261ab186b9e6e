"""Review rules without a database: the rubric's validation and conflict-free, all-or-nothing assignment."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcity.models.core.errors import BadInput, DomainRefused
from smartcity.models.reviews.ops import (
    RUBRIC,
    Candidate,
    choose_reviewers,
    parse_expertise,
    parse_submission,
    submission_from_form,
)
from smartcity.models.vocabulary import Decision, Dimension

GOOD = {k: 4 for k in RUBRIC}
PROVINCES = ["Jawa Barat", "DKI Jakarta", "Jawa Timur", "Bali", "Papua"]


def test_a_complete_review_is_accepted_and_stored_in_rubric_order():
    sub = parse_submission({"scores": {**GOOD, "economy": {"score": "5", "comment": "strong"}}, "decision": "approve"})
    stored = sub.stored_scores()
    assert list(stored) == list(RUBRIC)
    assert stored["economy"] == {"score": 5, "comment": "strong"} and stored["living"] == {"score": 4, "comment": None}


@pytest.mark.parametrize(
    "scores, decision, message",
    [
        ({**GOOD, "economy": 6}, "approve", "economy: score must be 1..5 (got 6)"),
        ({**GOOD, "economy": 0}, "approve", "economy: score must be 1..5 (got 0)"),
        ({**GOOD, "economy": "four"}, "approve", "economy: score must be a whole number 1..5 (got 'four')"),
        ({**GOOD, "economy": 4.5}, "approve", "score must be a whole number"),
        ({**GOOD, "mobility": 3}, "approve", "unknown rubric dimension(s) mobility"),
        ({k: v for k, v in GOOD.items() if k != "society"}, "approve", "missing rubric dimension(s) society"),
        (GOOD, "reject", "decision: must be approve or revise (got 'reject')"),
    ],
)
def test_bad_reviews_get_one_clear_line(scores, decision, message):
    with pytest.raises(BadInput) as err:
        parse_submission({"scores": scores, "decision": decision})
    line = str(err.value)
    assert "\n" not in line and line.startswith("review rejected: ") and message in line
    assert err.value.exit_code == 2


def test_several_problems_are_all_listed():
    with pytest.raises(BadInput) as err:
        parse_submission({"scores": {**GOOD, "economy": 9, "living": 0}, "decision": "maybe"})
    assert "(+2 more" in str(err.value) and len(err.value.errors) == 3


def test_the_ui_form_maps_to_the_same_submission():
    form = {"reviewer_id": 7, **GOOD, "governance_comment": "clear roles", "decision": "revise", "comment": ""}
    reviewer_id, sub = submission_from_form(form)
    assert reviewer_id == 7 and sub.decision == "revise" and sub.comment is None
    assert sub.scores["governance"].comment == "clear roles"
    with pytest.raises(BadInput, match="economy: score must be 1..5"):
        submission_from_form({**form, "economy": 8})


def test_expertise_is_rubric_keys():
    assert parse_expertise(" Governance, economy,governance") == ["governance", "economy"]
    with pytest.raises(BadInput, match="mobility is not a rubric dimension"):
        parse_expertise("governance,mobility")


def test_the_rubric_is_the_six_dimensions():
    assert list(RUBRIC) == [d.value for d in Dimension] and RUBRIC["governance"] == "Smart Governance"


def test_expertise_and_decision_come_back_as_the_vocabulary():
    """Typed at the boundary: strings in, enum members out, and their JSON is the plain value."""
    expertise = parse_expertise("living,society")
    assert expertise == [Dimension.living, Dimension.society] and all(isinstance(d, Dimension) for d in expertise)
    sub = parse_submission({"scores": GOOD, "decision": "revise"})
    assert sub.decision is Decision.revise
    assert (
        json.dumps({"decision": sub.decision, "expertise": expertise})
        == '{"decision": "revise", "expertise": ["living", "society"]}'
    )


def test_rubric_keys_are_plain_strings_that_orjson_accepts():
    """Prefect stores run input (the review form) with orjson, which refuses a dict key that is a str subclass."""
    assert all(type(k) is str for k in RUBRIC)
    stored = parse_submission({"scores": GOOD, "decision": "approve"}).stored_scores()
    assert orjson.loads(orjson.dumps({"rubric": RUBRIC, "scores": stored}))["scores"]["economy"]["score"] == 4
    with pytest.raises(TypeError, match="Dict key must be str"):  # what a member as key would do
        orjson.dumps({Dimension.economy: 4})


def pool_of(*specs):
    return [
        Candidate(i + 1, f"r{i + 1}", province, load, tuple(exp), active, frozenset(conf))
        for i, (province, load, exp, active, conf) in enumerate(specs)
    ]


def test_least_loaded_first_then_widest_new_expertise_then_id():
    pool = pool_of(
        ("Bali", 2, ["governance"], True, []),
        ("Papua", 0, ["economy"], True, []),
        ("Papua", 0, ["economy", "living", "society"], True, []),
        ("Bali", 0, ["economy"], True, []),
    )
    picks = choose_reviewers(pool, region_id=99, province="Jawa Barat", n=3, label="region 3273")
    assert [p.reviewer_id for p in picks] == [3, 2, 4]
    assert "0 open review(s)" in picks[0].why and "economy, living, society" in picks[0].why


def test_conflicts_are_excluded_and_an_infeasible_pool_is_refused_with_counts():
    pool = pool_of(
        ("Jawa Barat", 0, ["governance"], True, []),
        ("Bali", 0, ["governance"], True, [99]),
        ("Papua", 0, ["governance"], True, []),
        ("Papua", 0, ["governance"], False, []),
    )
    with pytest.raises(DomainRefused) as err:
        choose_reviewers(pool, region_id=99, province="jawa barat", n=2, label="region 3273")
    assert str(err.value) == (
        "region 3273: only 1 eligible reviewer(s), 2 needed (3 active in the pool; excluded: "
        "1 from jawa barat, 1 with a declared conflict); nothing was assigned"
    )


candidates = st.lists(
    st.tuples(
        st.sampled_from(PROVINCES),
        st.integers(0, 5),
        st.lists(st.sampled_from(list(RUBRIC)), max_size=3),
        st.booleans(),
        st.sets(st.integers(1, 4), max_size=2),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(specs=candidates, region_id=st.integers(1, 4), province=st.sampled_from(PROVINCES), n=st.integers(1, 5))
def test_assignment_never_picks_a_conflicted_reviewer_and_is_all_or_nothing(specs, region_id, province, n):
    pool = pool_of(*specs)
    eligible = [c for c in pool if c.active and c.home_province != province and region_id not in c.conflicts]
    try:
        picks = choose_reviewers(pool, region_id=region_id, province=province, n=n, label="r")
    except DomainRefused as exc:
        assert len(eligible) < n and f"only {len(eligible)} eligible" in str(exc)
        return
    chosen = [c for c in pool if c.id in {p.reviewer_id for p in picks}]
    assert len(picks) == len(chosen) == n  # exactly n, no repeats
    assert all(c in eligible for c in chosen)
    # load balancing: nobody left out carries less open work than someone chosen
    assert max(c.open_load for c in chosen) <= min((c.open_load for c in eligible if c not in chosen), default=99)
