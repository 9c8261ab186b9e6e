"""Deadline tables: deadlines and milestones, their extensions (append-only), and the notification outbox."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from smartcity.models.core.tables import utc_column
from smartcity.models.infra.db import enum_field
from smartcity.models.vocabulary import DeadlineKind, DeadlineStatus, NotificationStatus, Role


class Deadline(SQLModel, table=True):
    """Something a region owes by `due_at`: a stage deliverable, a milestone (bimtek) or a review."""

    __table_args__ = (
        # The sweep reads `status='open' AND next_rung_at <= now`: its cost follows what is due.
        sa.Index("ix_deadline_sweep", "status", "next_rung_at"),
        sa.Index("ix_deadline_enrollment_key", "enrollment_id", "key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id")
    kind: DeadlineKind = enum_field(DeadlineKind, 16)
    key: str = Field(max_length=64)  # masterplan | quick-win | bimtek-2 | assessment | review:<id>
    stage: str = Field(max_length=32)  # the stage this deadline belongs to, as the cohort's program names it
    due_at: datetime = utc_column()
    status: DeadlineStatus = enum_field(DeadlineStatus, 16, default=DeadlineStatus.open)
    done_at: datetime | None = utc_column(nullable=True)
    done_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = utc_column()
    extended: bool = False
    cycle: int = 0  # number of extensions: reminders restart for each new due date
    next_rung: str | None = Field(default=None, max_length=8)  # ladder key of the next reminder
    next_rung_at: datetime | None = utc_column(nullable=True)  # earliest instant that reminder is due


class DeadlineExtension(SQLModel, table=True):
    """One extension of a deadline, with its reason and actor. Append-only."""

    __tablename__ = "deadline_extension"
    id: int | None = Field(default=None, primary_key=True)
    deadline_id: int = Field(foreign_key="deadline.id", index=True)
    old_due: datetime = utc_column()
    new_due: datetime = utc_column()
    working_days: int
    reason: str = Field(max_length=2000)
    actor: str = Field(max_length=200)
    at: datetime = utc_column()


class Notification(SQLModel, table=True):
    """One message to one contact (transactional outbox). `dedupe_key` makes enqueueing idempotent.

    For reminders the key is (deadline, cycle, rung, contact); for digests (week, contact).
    The Apprise URL is never copied here: the dispatcher reads it from the contact at send time.
    """

    __table_args__ = (
        sa.UniqueConstraint("dedupe_key", name="uq_notification_dedupe_key"),
        # Dispatch reads `status='pending' AND send_after <= now` (plus expired 'sending' leases).
        sa.Index("ix_notification_dispatch", "status", "send_after"),
        # `contacts add` looks up the reminders waiting for a contact of its role.
        sa.Index("ix_notification_unaddressed", "status", "role"),
    )
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200)
    deadline_id: int | None = Field(default=None, foreign_key="deadline.id", index=True)
    rung: str = Field(max_length=40)  # T-14 ... +5, or digest:<ISO week>
    contact_id: int | None = Field(default=None, foreign_key="contact.id")  # None while unaddressed
    role: Role | None = enum_field(Role, 16, default=None)  # the recipient's role
    language: str = Field(default="id", max_length=2)
    subject: str = Field(max_length=300)
    body: str = Field(sa_column=Column(sa.Text(), nullable=False))
    # unaddressed: no contact of `role` yet, nothing to send to (see NotificationStatus)
    status: NotificationStatus = enum_field(NotificationStatus, 16, default=NotificationStatus.pending)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)  # sanitized: never a URL or a secret
    created_at: datetime = utc_column()
    send_after: datetime = utc_column()  # 08:00 local time of the recipient
    claimed_until: datetime | None = utc_column(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=36)
    sent_at: datetime | None = utc_column(nullable=True)
