"""Settings for the whole engine: one pydantic-settings class, read once, never at import time."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcity.models.infra.paths import DATABASE_FILE, default_data_dir


class Settings(BaseSettings):
    """Engine settings; every field can be set with a `SMARTCITY_` environment variable."""

    model_config = SettingsConfigDict(env_prefix="SMARTCITY_", extra="ignore")

    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite in data_dir")
    data_dir: Path = Field(default_factory=default_data_dir)
    batch_size: int = Field(default=50, ge=1, le=5000, description="regions per task in cohort flows")
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    reviewers_per_masterplan: int = Field(default=2, ge=1)
    require_prefect: bool = Field(default=False, description="refuse stage changes when no Prefect API is reachable")
    language: str = Field(default="id", pattern="^(id|en)$")
    notify_concurrency: int = Field(default=4, ge=1, le=64, description="notifications sent at once")
    notify_timeout_s: float = Field(default=10.0, gt=0, description="network timeout of one send")
    notify_attempts: int = Field(default=3, ge=1, le=10, description="tries per message within one dispatch")
    notify_backoff_s: float = Field(default=1.0, ge=0, description="first retry delay; doubles each try")
    notify_lease_s: float = Field(
        default=300.0,
        gt=0,
        description="how long a dispatch owns a claimed message; keep above "
        "attempts x (timeout + backoff), or a second dispatch may resend a message still in flight",
    )
    prefect_probe_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="how long a command waits for the Prefect API to answer before it runs without it "
        "(in-process, events queued); a busy machine may need more",
    )
    refresh_window_s: int = Field(
        default=10,
        ge=1,
        le=3600,
        description="how long the served refresh-board deployment gathers a burst of changes into one run "
        "(read when the registry is served or deployed)",
    )
    reconcile_grace_minutes: int = Field(
        default=60,
        ge=1,
        le=7 * 24 * 60,
        description="how long a triggered follow-up may be missing before the "
        "reconciler (deadline sweep, `smartcity reconcile`) starts it again and `smartcity status` flags it",
    )

    def resolved_database_url(self) -> str:
        """The database URL in force: the override, or the SQLite file in the data directory."""
        if self.database_url:
            return normalise_url(self.database_url)
        return f"sqlite:///{self.data_dir / DATABASE_FILE}"


def normalise_url(url: str) -> str:
    """Pick the drivers we ship (psycopg 3) for plain `postgresql://` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built on first use (tests call `get_settings.cache_clear()`)."""
    return Settings()
