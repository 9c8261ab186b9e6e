"""The evaluation's one table: a region's score in one dimension, in one year, for one enrollment (long format).

A score belongs to an enrollment (region and cohort), so a region evaluated in two cohorts keeps both. A
changed score is updated in place only with a reason, and the audit record keeps the old value.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from smartcity.models.core.tables import utc_column


class EvaluationScore(SQLModel, table=True):
    """One dimension score of a region's implementation evaluation in one year (0..the policy's scale_max)."""

    __tablename__ = "evaluation_score"
    __table_args__ = (
        sa.UniqueConstraint("enrollment_id", "year", "dimension", name="uq_evaluation_score_key"),
        sa.CheckConstraint("score >= 0", name="ck_evaluation_score_nonneg"),
    )
    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    year: int = Field(index=True)
    dimension: str = Field(max_length=32)  # a key of the cohort's evaluation policy weights
    score: float
    source: str | None = Field(default=None, max_length=500)
    # The engine has no real scores: the demo's and the tests' are marked, and every view says so.
    simulated: bool = False
    recorded_at: datetime = utc_column()  # when the score got its current value
    recorded_by: str = Field(max_length=200)
