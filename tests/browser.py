"""Headless Chromium (Debian's `chromium`) for tests that look at a page as a person would."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from tests.helpers import ROOT

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Without the background-networking flags Chromium tries the internet, which this machine refuses.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
]


def run_chromium(binary: str, *args: str, timeout: float = 120, budget_ms: int = 15000) -> subprocess.CompletedProcess:
    """One headless run with a throwaway profile; `budget_ms` of virtual time for the page to settle."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [binary, *FLAGS, f"--virtual-time-budget={budget_ms}", f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "HOME": profile},
        )
