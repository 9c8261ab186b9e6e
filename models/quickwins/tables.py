"""Quick-win tables: the quick win, its KPIs and its evidence.

A quick win is a region's first visible smart-city result after its masterplan. The guard of
quick_win_delivered (`smartcity.models.core.guards.quick_win_verified`) needs one verified by a named coordinator.
Columns added by migration 0005 are nullable because rows written before it have no value for them;
`smartcity.models.quickwins.ops.register_quick_win` always fills them.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from smartcity.models.core.tables import utc_column
from smartcity.models.infra.db import enum_field
from smartcity.models.vocabulary import Dimension

#: The six smart-city dimensions of Gerakan Menuju 100 Smart City, in their usual order.
DIMENSIONS: tuple[Dimension, ...] = tuple(Dimension)
EVIDENCE_KINDS: tuple[str, ...] = ("url", "file")


class QuickWinBase(SQLModel):
    """The fields a coordinator gives, with their limits: declared once, for the table and the form alike."""

    title: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=4000)
    # Rupiah budgets pass 2^31 quickly (Rp 2.1 billion): a 64-bit integer.
    budget_idr: int | None = Field(default=None, ge=0, sa_type=sa.BigInteger)
    start_date: date | None = None


class QuickWin(QuickWinBase, table=True):
    """A region's quick-win program; the guard of quick_win_delivered needs one verified."""

    __tablename__ = "quick_win"
    __table_args__ = (sa.CheckConstraint("budget_idr >= 0", name="ck_quick_win_budget_nonneg"),)
    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    dimension: Dimension | None = enum_field(Dimension, 20, default=None)
    registered_at: datetime | None = utc_column(nullable=True)
    registered_by: str | None = Field(default=None, max_length=200)
    verified_at: datetime | None = utc_column(nullable=True)
    verified_by: str | None = Field(default=None, max_length=200)
    # {"evidence_attached": true, ...}: what the verifying coordinator ticked.
    verification_checklist: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class KPIBase(SQLModel):
    """A measurable target: name, unit, the target, the actual once measured, and which way is better."""

    name: str = Field(min_length=1, max_length=200)
    unit: str = Field(min_length=1, max_length=50)
    target: float
    actual: float | None = None
    # A service time or a cost is better when lower: the target is then a ceiling, not a goal to reach.
    # server_default false: rows written before migration 0010 were all read as higher-is-better.
    lower_is_better: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class QuickWinKPI(KPIBase, table=True):
    """A KPI of a quick win, as stored; the target is required, the actual comes later."""

    __tablename__ = "quick_win_kpi"
    __table_args__ = (sa.UniqueConstraint("quick_win_id", "name", name="uq_quick_win_kpi_name"),)
    id: int | None = Field(default=None, primary_key=True)
    quick_win_id: int = Field(foreign_key="quick_win.id", index=True)


class QuickWinEvidence(SQLModel, table=True):
    """Proof that a quick win happened: a URL or a file, with a SHA-256 checksum. Append-only."""

    __tablename__ = "quick_win_evidence"
    id: int | None = Field(default=None, primary_key=True)
    quick_win_id: int = Field(foreign_key="quick_win.id", index=True)
    kind: str = Field(max_length=8)  # url | file
    location: str = Field(max_length=2000)  # the URL, or the file's absolute path when recorded
    # file: SHA-256 of its bytes; url: SHA-256 of the URL text (nothing is fetched).
    sha256: str = Field(max_length=64)
    provided_sha256: str | None = Field(default=None, max_length=64)  # url: the document's checksum, if given
    size_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    recorded_at: datetime = utc_column()
    recorded_by: str = Field(max_length=200)
