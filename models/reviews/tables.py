"""Masterplan review tables: rounds, the reviewer pool, declared conflicts, assignments and reviews.

A round is the sub-state of a region in `drafting`: the region stays in drafting while rounds come
and go, and moves to masterplan_completed only when its latest round closes approved.
Rounds, assignments and reviews are never deleted: they are the review history.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from smartcity.models.core.tables import utc_column
from smartcity.models.infra.db import enum_field
from smartcity.models.vocabulary import Decision, RoundStatus


class MasterplanRound(SQLModel, table=True):
    """A review round of a submitted masterplan version."""

    __tablename__ = "masterplan_round"
    __table_args__ = (sa.UniqueConstraint("enrollment_id", "round_no", name="uq_round_enrollment_no"),)
    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    round_no: int
    status: RoundStatus = enum_field(RoundStatus, 24, default=RoundStatus.open)
    submitted_at: datetime = utc_column()
    closed_at: datetime | None = utc_column(nullable=True)
    version_label: str | None = Field(default=None, max_length=50)
    submitted_by: str | None = Field(default=None, max_length=200)
    # Answers needed to close the round; None (rounds from before reviews existed) means every assignee.
    quorum: int | None = None
    decision_summary: str | None = Field(default=None, max_length=2000)
    comments: list | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class Reviewer(SQLModel, table=True):
    """A member of the reviewer pool (universities, BPPT, consultants)."""

    __tablename__ = "reviewer"
    __table_args__ = (sa.UniqueConstraint("name", "institution", name="uq_reviewer_name_institution"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    institution: str = Field(max_length=200)
    expertise: list = Field(sa_column=Column(JSON, nullable=False))  # rubric dimension keys
    home_province: str = Field(max_length=100, index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    active: bool = True
    created_at: datetime = utc_column()


class ReviewerConflict(SQLModel, table=True):
    """A conflict of interest a reviewer declared for one region."""

    __tablename__ = "reviewer_conflict"
    __table_args__ = (sa.UniqueConstraint("reviewer_id", "region_id", name="uq_conflict_reviewer_region"),)
    id: int | None = Field(default=None, primary_key=True)
    reviewer_id: int = Field(foreign_key="reviewer.id", index=True)
    region_id: int = Field(foreign_key="region.id", index=True)
    reason: str = Field(max_length=500)
    declared_at: datetime = utc_column()


class ReviewAssignment(SQLModel, table=True):
    """A reviewer asked to review one round, and why they were chosen."""

    __tablename__ = "review_assignment"
    __table_args__ = (sa.UniqueConstraint("round_id", "reviewer_id", name="uq_assignment_round_reviewer"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="masterplan_round.id", index=True)
    reviewer_id: int = Field(foreign_key="reviewer.id", index=True)
    assigned_at: datetime = utc_column()
    why: str = Field(max_length=500)
    # Set when the reviewer is taken off the round (a conflict declared later, deactivation): the row stays
    # as history, and their review, if any, no longer counts toward the quorum.
    unassigned_at: datetime | None = utc_column(nullable=True)


class Review(SQLModel, table=True):
    """One reviewer's rubric scores and decision for one round (from the CLI or the Prefect UI)."""

    __tablename__ = "review"
    __table_args__ = (sa.UniqueConstraint("round_id", "reviewer_id", name="uq_review_round_reviewer"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="masterplan_round.id", index=True)
    reviewer_id: int = Field(foreign_key="reviewer.id", index=True)
    scores: dict = Field(sa_column=Column(JSON, nullable=False))  # {dimension: {"score": 1..5, "comment": str}}
    decision: Decision = enum_field(Decision, 10)
    comment: str | None = Field(default=None, max_length=2000)
    submitted_at: datetime = utc_column()
    source: str = Field(max_length=8)  # cli | ui
