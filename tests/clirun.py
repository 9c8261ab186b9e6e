"""Run the real `smartcity` CLI in a subprocess, as a coordinator would."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

from tests.helpers import ROOT

DEAD_API = "http://127.0.0.1:9/api"  # nothing listens on the discard port


@dataclass
class Done:
    code: int
    out: str
    err: str


def cli_env(db_url: str, **extra: str) -> dict[str, str]:
    """Environment for a CLI process: the test database and, by default, no Prefect server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SMARTCITY_"))}
    env.update(SMARTCITY_DATABASE_URL=db_url, PREFECT_API_URL=DEAD_API, PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def smartcity(*args: str, db_url: str, timeout: float = 300, **extra: str) -> Done:
    """`smartcity ARGS` to completion."""
    proc = subprocess.run(
        [sys.executable, "-m", "smartcity.deployments.cli.entry", *args],
        capture_output=True,
        text=True,
        env=cli_env(db_url, **extra),
        timeout=timeout,
        cwd=ROOT,
    )
    return Done(proc.returncode, proc.stdout, proc.stderr)


def spawn(*args: str, db_url: str, **extra: str) -> subprocess.Popen:
    """`smartcity ARGS` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "smartcity.deployments.cli.entry", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(db_url, **extra),
        cwd=ROOT,
    )
