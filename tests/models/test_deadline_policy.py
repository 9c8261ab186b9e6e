"""Pure tests for the deadline policy data and due/reminder arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcity.models.deadlines.policy import (
    DEFAULT_POLICY_PATH,
    DeadlinePolicy,
    ReminderRung,
    compute_due,
    default_policy,
    due_rungs,
    extend_due,
    rung_send_at,
)
from smartcity.models.deadlines.workdays import ZONE_ABBREV, is_working_day

JKT = "Asia/Jakarta"


def test_default_policy_contents():
    p = default_policy()
    assert {r.stage: r.working_days for r in p.rules} == {"drafting": 120, "masterplan_completed": 90, "review": 10}
    assert [(r.key, r.offset, r.recipients) for r in p.ladder] == [
        ("T-14", -14, ("pic",)),
        ("T-7", -7, ("pic",)),
        ("T-3", -3, ("pic",)),
        ("T-1", -1, ("pic",)),
        ("due", 0, ("pic",)),
        ("+1", 1, ("pic", "coordinator")),
        ("+5", 5, ("escalation",)),
    ]
    assert [m.key for m in p.milestones_for("drafting")] == ["bimtek-1", "bimtek-2", "bimtek-3", "bimtek-4"]
    assert [m.working_days for m in p.milestones_for("drafting")] == [20, 45, 70, 95]
    assert p.milestones_for("nominated")[0].title.id.startswith("Penilaian")
    assert (p.send_hour, p.due_hour) == (8, 17)
    assert p.rule_for("unknown") is None
    assert DeadlinePolicy.from_toml(DEFAULT_POLICY_PATH) == p


def test_due_across_idul_fitri_2017():
    # Review assigned Thu 22 June 2017, 10:00 WIB; 1 working day later is Mon 3 July (cuti bersama).
    start = datetime(2017, 6, 22, 3, tzinfo=UTC)
    assert compute_due(start, JKT, 1) == datetime(2017, 7, 3, 10, tzinfo=UTC)  # 17:00 WIB
    # 10 working days: 3-7 July (5) + 10-14 July (5) -> Fri 14 July.
    assert default_policy().due_for("review", start, JKT) == datetime(2017, 7, 14, 10, tzinfo=UTC)


def test_due_uses_local_date():
    # 16:30 UTC on Wed 21 June is 23:30 WIB (still 21 June) but already Thu 22 June 01:30 WIT.
    start = datetime(2017, 6, 21, 16, 30, tzinfo=UTC)
    assert compute_due(start, "Asia/Jayapura", 1) == datetime(2017, 7, 3, 8, tzinfo=UTC)  # 17:00 WIT
    assert compute_due(start, JKT, 1) == datetime(2017, 6, 22, 10, tzinfo=UTC)  # Thu 22 June 17:00 WIB


def test_extend_due_keeps_wall_time_and_skips_holidays():
    due = datetime(2017, 6, 22, 10, tzinfo=UTC)  # Thu 22 June 17:00 WIB
    assert extend_due(due, JKT, 1) == datetime(2017, 7, 3, 10, tzinfo=UTC)
    assert extend_due(due, JKT, 5) == datetime(2017, 7, 7, 10, tzinfo=UTC)
    assert extend_due(due, JKT, 0) == due
    with pytest.raises(ValueError):
        extend_due(due, JKT, -1)


def test_rung_send_times_and_due_rungs():
    p = default_policy()
    due = datetime(2017, 7, 3, 10, tzinfo=UTC)  # Mon 3 July 17:00 WIB
    t1 = next(r for r in p.ladder if r.key == "T-1")
    assert rung_send_at(due, JKT, t1) == datetime(2017, 6, 22, 1, tzinfo=UTC)  # Thu 22 June 08:00 WIB
    now = datetime(2017, 7, 4, 0, 59, tzinfo=UTC)  # 07:59 WIB on the day after due: "+1" not yet
    assert [r.key for r in due_rungs(due, JKT, p.ladder, now)] == ["T-14", "T-7", "T-3", "T-1", "due"]
    later = now + timedelta(minutes=1)
    assert [r.key for r in due_rungs(due, JKT, p.ladder, later)][-1] == "+1"
    assert due_rungs(due, JKT, p.ladder, datetime(2017, 1, 1, tzinfo=UTC)) == []


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(datetime(2015, 1, 1), datetime(2035, 12, 31), timezones=st.just(UTC)),
    st.sampled_from(sorted(ZONE_ABBREV)),
    st.integers(1, 150),
    st.integers(0, 20),
)
def test_rungs_never_at_night(start, tz, n, extra):
    p = default_policy()
    due = extend_due(compute_due(start, tz, n), tz, extra)
    local_due = due.astimezone(ZoneInfo(tz))
    assert local_due.hour == 17 and is_working_day(local_due.date())
    for rung in p.ladder:
        local = rung_send_at(due, tz, rung).astimezone(ZoneInfo(tz))
        assert (local.hour, local.minute) == (8, 0)
        assert is_working_day(local.date())


def test_results_are_aware_utc():
    due = compute_due(datetime(2017, 9, 1, tzinfo=UTC), "Asia/Makassar", 3)
    assert due.tzinfo is UTC and type(due) is datetime


@pytest.mark.parametrize(
    "call",
    [
        lambda: compute_due(datetime(2017, 6, 22), JKT, 1),
        lambda: rung_send_at(datetime(2017, 6, 22), JKT, default_policy().ladder[0]),
        lambda: due_rungs(datetime(2017, 6, 22, tzinfo=UTC), JKT, default_policy().ladder, datetime(2017, 7, 1)),
        lambda: extend_due(datetime(2017, 6, 22), JKT, 1),
    ],
)
def test_naive_datetimes_rejected(call):
    with pytest.raises(ValueError, match="must be timezone-aware"):
        call()


def test_unknown_zone_rejected():
    with pytest.raises(ValueError, match="unknown Indonesian time zone"):
        compute_due(datetime(2017, 6, 22, tzinfo=UTC), "Europe/Paris", 1)


def _toml(**replace: str) -> str:
    text = DEFAULT_POLICY_PATH.read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("rules = [", "TOML syntax error"),
        (_toml(**{"working_days = 120": 'working_days = "soon"'}), "rules[0].working_days"),
        (_toml(**{'recipients = ["escalation"]': 'recipients = ["mayor"]'}), "ladder[6].recipients[0]"),
        (_toml(**{'key = "T-7"': 'key = "T-8"'}), "does not match offset -7"),
        (_toml(**{"working_days = 95": "working_days = 130"}), "not before the 'drafting' deadline"),
        (_toml(**{'key = "bimtek-2"': 'key = "bimtek-1"'}), "duplicate milestone key: bimtek-1"),
        (_toml(**{"send_hour = 8": "send_hour = 8\nsend_houre = 9"}), "send_houre: Extra inputs"),
        (_toml(**{"send_hour = 8": "send_hour = 25"}), "send_hour: Input should be less than or equal to 23"),
    ],
)
def test_invalid_toml_is_one_clear_line(text, expected):
    with pytest.raises(ValueError) as exc:
        DeadlinePolicy.from_toml_text(text, source="bad.toml")
    msg = str(exc.value)
    assert msg.startswith("invalid deadline policy bad.toml: ") and expected in msg
    assert "\n" not in msg


def test_from_toml_file(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text("ladder = []\n")
    with pytest.raises(ValueError, match=r"p\.toml: rules: Field required"):
        DeadlinePolicy.from_toml(bad)


def test_ladder_sorted_whatever_the_file_order():
    p = default_policy()
    shuffled = DeadlinePolicy(rules=p.rules, ladder=tuple(reversed(p.ladder)))
    assert shuffled.ladder == p.ladder
    assert ReminderRung(key="+5", offset=5, recipients=["escalation"]).recipients == ("escalation",)
