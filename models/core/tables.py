"""SQLModel tables of the program. Times are stored in UTC; the audit tables are append-only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import JSON, Column, Field, SQLModel

from smartcity.models.core.stages import EdgeKind
from smartcity.models.infra.db import enum_field
from smartcity.models.vocabulary import Role


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend; naive values are refused, never guessed."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timezone-naive datetime {value.isoformat()} refused: give a UTC offset")
        value = value.astimezone(UTC)
        # SQLite has no zone type: store naive UTC text, read back as UTC below.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    """A column of UTCDateTime."""
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Program(SQLModel, table=True):
    """A staged program and the definition it runs (Gerakan Menuju 100 Smart City runs the shipped default)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    created_at: datetime = utc_column()
    # Which definition the program runs: a shipped one by name, or (a program loaded from a file) its own
    # text, kept here so every worker runs the same definition without the file.
    definition: str = Field(default="default", max_length=100)
    definition_source: str | None = Field(default=None, sa_type=sa.Text)
    definition_digest: str | None = Field(default=None, max_length=64)


class Cohort(SQLModel, table=True):
    """A selection phase, e.g. '2017' with a quota of 25."""

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id", index=True)
    name: str = Field(unique=True, max_length=100)
    year: int
    quota: int
    created_at: datetime = utc_column()


class RegionBase(SQLModel):
    """Facts about a kabupaten/kota."""

    bps_code: str = Field(max_length=4)
    name: str = Field(max_length=200)
    type: str = Field(max_length=10)  # "kota" | "kabupaten"
    province: str = Field(max_length=100)
    timezone: str = Field(max_length=64)
    population: int | None = None


class Region(RegionBase, table=True):
    """A region of the registry, keyed by its unique BPS code."""

    __table_args__ = (sa.UniqueConstraint("bps_code", name="uq_region_bps_code"),)
    id: int | None = Field(default=None, primary_key=True)
    updated_at: datetime = utc_column()


class Enrollment(SQLModel, table=True):
    """A region in a cohort: its current stage (a cache of the last transition) and a version."""

    __table_args__ = (
        sa.UniqueConstraint("cohort_id", "region_id", name="uq_enrollment_cohort_region"),
        sa.Index("ix_enrollment_cohort_stage", "cohort_id", "stage"),
    )
    id: int | None = Field(default=None, primary_key=True)
    cohort_id: int = Field(foreign_key="cohort.id")
    region_id: int = Field(foreign_key="region.id", index=True)
    # A stage of the cohort's program definition (plain text: programs name their own stages).
    stage: str = Field(max_length=32)
    version: int = 0
    entered_stage_at: datetime = utc_column()


class StageTransition(SQLModel, table=True):
    """One committed move. Append-only; each row hashes its content and its predecessor's hash."""

    __tablename__ = "stage_transition"
    __table_args__ = (
        sa.UniqueConstraint("enrollment_id", "version", name="uq_transition_enrollment_version"),
        sa.UniqueConstraint("idempotency_key", name="uq_transition_idempotency_key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    version: int  # the enrollment's version after this move
    from_stage: str = Field(max_length=32)
    to_stage: str = Field(max_length=32)
    kind: EdgeKind = enum_field(EdgeKind, 16)
    actor: str = Field(max_length=200)
    reason: str | None = Field(default=None, max_length=2000)
    occurred_at: datetime = utc_column()
    flow_run_id: str | None = Field(default=None, max_length=64)
    idempotency_key: str = Field(max_length=300)
    prev_hash: str = Field(max_length=64)
    row_hash: str = Field(max_length=64)


class Contact(SQLModel, table=True):
    """Who gets told: a region's PIC, a coordinator, a reviewer or an escalation contact."""

    id: int | None = Field(default=None, primary_key=True)
    role: Role = enum_field(Role, 20, index=True)
    name: str = Field(max_length=200)
    region_id: int | None = Field(default=None, foreign_key="region.id", index=True)
    # Apprise URLs carry tokens and passwords: only the notifier reads this column in clear.
    apprise_url: str = Field(max_length=2000)
    language: str = Field(default="id", max_length=2)
    created_at: datetime = utc_column()
    # A removed contact stays (deactivated) so the messages once sent to it still name it in the audit trail.
    active: bool = True


class EventOutbox(SQLModel, table=True):
    """A Prefect event written in the same transaction as the change it reports (transactional outbox)."""

    __tablename__ = "event_outbox"
    __table_args__ = (sa.UniqueConstraint("dedupe_key", name="uq_event_outbox_dedupe_key"),)
    id: int | None = Field(default=None, primary_key=True)
    # Random at enqueue, then fixed: re-publishing the row repeats the id and the server drops it. Not
    # derived from our keys, because two databases (a reset, staging) may share one Prefect server.
    event_id: str = Field(max_length=36, unique=True)
    dedupe_key: str = Field(max_length=300)  # what this event reports, once per database
    event: str = Field(max_length=200)
    resource: dict = Field(sa_column=Column(JSON, nullable=False))
    related: list = Field(sa_column=Column(JSON, nullable=False))
    payload: dict = Field(sa_column=Column(JSON, nullable=False))
    occurred_at: datetime = utc_column()
    published_at: datetime | None = utc_column(nullable=True, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)


class AuditRecord(SQLModel, table=True):
    """Append-only, hash-chained record of audited acts other than stage changes (review decisions,
    deadline extensions, notification sends). UNIQUE(prev_hash) keeps the chain a single line."""

    __tablename__ = "audit_record"
    __table_args__ = (sa.UniqueConstraint("prev_hash", name="uq_audit_record_prev_hash"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40, index=True)
    subject: str = Field(max_length=200)
    actor: str = Field(max_length=200)
    at: datetime = utc_column()
    content: dict = Field(sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    row_hash: str = Field(max_length=64)
