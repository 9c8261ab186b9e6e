"""Reminder texts from typed facts: the stage, kind and role are vocabulary members, the text their words."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from smartcity.models.core.stages import Stage
from smartcity.models.notifications.notices import STAGES, ReminderFacts, item_title, reminder_message
from smartcity.models.vocabulary import DeadlineKind, Role

FACTS = ReminderFacts(
    region_name="Kota Bandung",
    bps_code="3273",
    stage=Stage.drafting,
    kind=DeadlineKind.stage,
    key="masterplan",
    title=item_title(DeadlineKind.stage, "masterplan"),
    due_at=datetime(2017, 9, 1, 10, tzinfo=UTC),
    tz="Asia/Jakarta",
    offset=-7,
    role=Role.pic,
    ref="rem:1:0:h-7:5",
)


def test_every_stage_has_words_in_both_languages():
    assert all(set(STAGES[lang]) == set(Stage) for lang in ("id", "en"))


@pytest.mark.parametrize(
    ("lang", "stage_line", "next_step"),
    [
        ("id", "Tahap: penyusunan masterplan", "Unggah masterplan untuk direviu."),
        ("en", "Stage: drafting the masterplan", "Submit the masterplan for review."),
    ],
)
def test_a_stage_deliverable_reminder(lang, stage_line, next_step):
    subject, body = reminder_message(FACTS, lang)
    assert stage_line in body.splitlines() and next_step in body.splitlines()
    assert "Stage." not in body and "DeadlineKind" not in body and "Role." not in subject + body
    assert "ESKALASI" not in subject and "ESCALATION" not in subject


def test_review_and_milestone_reminders_take_their_kinds_next_step():
    review = replace(
        FACTS, kind=DeadlineKind.review, key="review:12", title=item_title(DeadlineKind.review, "review:12")
    )
    assert review.title == {"id": "Reviu masterplan", "en": "Masterplan review"}
    assert "Finish the review and submit the result." in reminder_message(review, "en")[1]
    bimtek = {"id": "Bimtek 1", "en": "Technical guidance 1"}
    milestone = replace(
        FACTS, kind=DeadlineKind.milestone, key="bimtek-1", title=item_title(DeadlineKind.milestone, "bimtek-1", bimtek)
    )
    assert "Hold Technical guidance 1 and ask the coordinator" in reminder_message(milestone, "en")[1]


def test_an_escalation_is_flagged_and_says_how_late():
    subject, body = reminder_message(replace(FACTS, role=Role.escalation, offset=3), "en")
    assert subject.startswith("[Smart City] ESCALATION Kota Bandung")
    assert "ESCALATION: the deadline is 3 working days overdue." in body
    _, body = reminder_message(replace(FACTS, role=Role.coordinator), "id")
    assert "sebagai koordinator" in body
