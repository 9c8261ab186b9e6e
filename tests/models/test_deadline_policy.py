"""Pure tests for the deadline policy data (the `[deadlines]` table of a program definition) and due/reminder
arithmetic, in working days and on calendar events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcity.models.deadlines.policy import (
    DeadlinePolicy,
    DeadlineRule,
    Milestone,
    ReminderRung,
    compute_due,
    default_policy,
    due_of,
    due_rungs,
    extend_due,
    rung_send_at,
)
from smartcity.models.deadlines.workdays import ZONE_ABBREV, is_working_day
from smartcity.models.programs.loading import SHIPPED_DIR, DefinitionError, load_file, parse

DEFAULT_DEFINITION = SHIPPED_DIR / "default.toml"

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
    # The deadlines' keys are data: the default names its two stage deliverables.
    assert [r.deadline_key for r in p.rules] == ["masterplan", "quick-win", "review"]
    assert load_file(DEFAULT_DEFINITION).deadlines == p  # one source of truth: the default program's file


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
    """The default program's file with its `[deadlines]` part edited."""
    text = DEFAULT_DEFINITION.read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("rules = [", "not valid TOML"),
        (_toml(**{"working_days = 120": 'working_days = "soon"'}), "deadlines.rules[0].working_days"),
        (_toml(**{'recipients = ["escalation"]': 'recipients = ["mayor"]'}), "deadlines.ladder[6].recipients[0]"),
        (_toml(**{'key = "T-7"': 'key = "T-8"'}), "does not match offset -7"),
        (_toml(**{"working_days = 95": "working_days = 130"}), "not before the 'drafting' deadline"),
        (_toml(**{'key = "bimtek-2"': 'key = "bimtek-1"'}), "duplicate deadline key: bimtek-1"),
        (_toml(**{'key = "quick-win"': 'key = "bimtek-1"'}), "duplicate deadline key: bimtek-1"),
        (_toml(**{"send_hour = 8": "send_hour = 8\nsend_houre = 9"}), "deadlines.send_houre (line"),
        (_toml(**{"send_hour = 8": "send_hour = 25"}), "deadlines.send_hour (line"),
        (_toml(**{"working_days = 95\n": ""}), "deadlines.milestones[4] (line"),
        (_toml(**{"working_days = 95\n": 'event = "Bimtek 4"\n'}), "deadlines.milestones[4].event"),
        (_toml(**{"working_days = 95\n": 'event = "bimtek"\nevent_day = "middle"\n'}), "milestones[4].event_day"),
        (_toml(**{"working_days = 10\n": 'event = "review_day"\n'}), "the review rule counts working days"),
    ],
)
def test_invalid_deadlines_are_one_clear_line(text, expected):
    with pytest.raises(DefinitionError) as exc:
        parse(text, source="bad.toml")
    msg = str(exc.value)
    assert msg.startswith("bad.toml: ") and expected in msg, msg
    assert "\n" not in msg


def test_a_rule_needs_working_days_or_an_event():
    with pytest.raises(ValueError, match="give working_days, a calendar event, or both"):
        DeadlineRule(stage="drafting")
    assert DeadlineRule(stage="drafting", event="masterplan_evaluation").deadline_key == "drafting"
    assert DeadlineRule(stage="drafting", key="masterplan", working_days=5).deadline_key == "masterplan"


# --- deadlines on a calendar event ----------------------------------------------------------------------

#: The 2019 masterplan evaluation, 4-6 Nov 2019 (program_calendar.csv), as a cohort's calendar holds it.
EVENTS = {"masterplan_evaluation": (date(2019, 11, 4), date(2019, 11, 6)), "mou_signed": (date(2019, 5, 15),) * 2}
ENTERED = datetime(2019, 7, 1, 2, tzinfo=UTC)  # Mon 1 July 2019, 09:00 WIB


@pytest.mark.parametrize(
    "tz, utc_hour",
    [("Asia/Jakarta", 10), ("Asia/Pontianak", 10), ("Asia/Makassar", 9), ("Asia/Jayapura", 8)],  # 17:00 local
)
def test_a_deadline_on_an_event_falls_on_its_day_at_the_due_hour_local(tz, utc_hour):
    first = DeadlineRule(stage="drafting", key="masterplan", event="masterplan_evaluation")
    last = first.model_copy(update={"event_day": "end"})
    assert due_of(first, ENTERED, tz, 17, EVENTS) == datetime(2019, 11, 4, utc_hour, tzinfo=UTC)
    assert due_of(last, ENTERED, tz, 17, EVENTS) == datetime(2019, 11, 6, utc_hour, tzinfo=UTC)
    local = due_of(first, ENTERED, tz, 17, EVENTS).astimezone(ZoneInfo(tz))
    assert (local.date(), local.hour) == (date(2019, 11, 4), 17)


def test_an_event_on_a_holiday_keeps_its_real_date():
    # MoU signing on Sat 22 Jun 2019 (a made-up date): a national ceremony does not move to a working day.
    saturday = {"mou_signed": (date(2019, 6, 22), date(2019, 6, 22))}
    on_it = Milestone(key="mou", title={"id": "MoU", "en": "MoU"}, stage="selected", event="mou_signed")
    assert not is_working_day(date(2019, 6, 22))
    assert due_of(on_it, ENTERED, "Asia/Makassar", 17, saturday) == datetime(2019, 6, 22, 9, tzinfo=UTC)


def test_working_days_are_the_fallback_when_the_calendar_lacks_the_event():
    both = DeadlineRule(stage="drafting", key="masterplan", event="masterplan_evaluation", working_days=120)
    only = DeadlineRule(stage="drafting", key="masterplan", event="masterplan_evaluation")
    fallback = compute_due(ENTERED, JKT, 120, 17)
    assert due_of(both, ENTERED, JKT, 17, {}) == fallback
    assert due_of(both, ENTERED, JKT, 17, {"mou_signed": EVENTS["mou_signed"]}) == fallback
    assert due_of(both, ENTERED, JKT, 17, EVENTS) == datetime(2019, 11, 4, 10, tzinfo=UTC)  # the event wins
    assert due_of(only, ENTERED, JKT, 17, {}) is None  # nothing to fall on yet: opened once the calendar has it


def test_policy_finds_what_falls_on_an_event():
    p = default_policy().model_copy(
        update={
            "milestones": (
                Milestone(key="mou", title={"id": "MoU", "en": "MoU"}, stage="selected", event="mou_signed"),
                *default_policy().milestones,
            )
        }
    )
    assert [t.deadline_key for t in p.on_event("mou_signed")] == ["mou"]
    assert p.on_event("bimtek") == []
    assert p.timed("stage", "masterplan") is p.rule_for("drafting")
    assert p.timed("milestone", "mou") is p.milestones[0]
    assert p.timed("review", "review:1") is None
    # Milestones only on an event come after those counted in working days.
    mixed = DeadlinePolicy(
        rules=(),
        ladder=p.ladder,
        milestones=(
            Milestone(key="eval", title={"id": "E", "en": "E"}, stage="drafting", event="masterplan_evaluation"),
            Milestone(key="b1", title={"id": "B", "en": "B"}, stage="drafting", working_days=20),
        ),
    )
    assert [m.key for m in mixed.milestones_for("drafting")] == ["b1", "eval"]


def test_ladder_sorted_whatever_the_file_order():
    p = default_policy()
    shuffled = DeadlinePolicy(rules=p.rules, ladder=tuple(reversed(p.ladder)))
    assert shuffled.ladder == p.ladder
    assert ReminderRung(key="+5", offset=5, recipients=["escalation"]).recipients == ("escalation",)
