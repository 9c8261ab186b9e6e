"""Where the default database lives. Standard library only: the `status --json` fast path imports it too."""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_FILE = "smartcity.db"


def default_data_dir() -> Path:
    """Per-user data directory (XDG on Linux), so the default database survives across runs."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smartcity"


def sqlite_path_from_env() -> Path | None:
    """The SQLite file the settings would open, from the environment alone; None when it is not SQLite."""
    url = os.environ.get("SMARTCITY_DATABASE_URL")
    if url:
        path = url.removeprefix("sqlite:///")
        return Path(path) if url.startswith("sqlite:///") and path else None
    data_dir = os.environ.get("SMARTCITY_DATA_DIR")
    return (Path(data_dir) if data_dir else default_data_dir()) / DATABASE_FILE
