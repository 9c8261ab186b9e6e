"""Figure 7: wall time of the README's test command, `bash scripts/test.sh` (opt-in: it takes minutes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import ROOT, figure, log, machine, not_measured

TARGET_S = 300.0
TARGET = f"< {TARGET_S:.0f} s (5 min) on 2 cores"


def measure(record: Path) -> dict:
    """Run the suite once, write `record` (read by later runs without --with-tests), return the figure."""
    # The script builds .venv unless told which venv to use: reuse the one running the benchmarks.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SMARTCITY_"))}
    env.setdefault("SMARTCITY_VENV", os.environ.get("SMARTCITY_VENV", sys.prefix))
    log(f"test suite: bash scripts/test.sh (SMARTCITY_VENV={env['SMARTCITY_VENV']}) ...")
    start = time.perf_counter()
    done = subprocess.run(["bash", "scripts/test.sh"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    tail = [line for line in done.stdout.splitlines() if line.strip()][-1:] or [""]
    data = {
        "duration_s": round(elapsed, 1),
        "returncode": done.returncode,
        "summary_line": tail[0],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "bash scripts/test.sh",
        "nproc": machine()["nproc"],
        "failed": [line for line in done.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))][:20],
    }
    record.parent.mkdir(parents=True, exist_ok=True)
    if done.returncode:  # keep the whole output next to the record: a failure here must be diagnosable
        record.with_suffix(".log").write_text(done.stdout + done.stderr, encoding="utf-8")
    record.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    log(f"test suite: {elapsed:.0f}s, exit {done.returncode}: {tail[0]}")
    return _figure(data, "measured in this run")


def from_record(record: Path) -> dict:
    """The last measured duration, if a previous `--with-tests` run left one, marked with its date."""
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return not_measured(TARGET, f"opt-in: run with --with-tests (no record at {record})")
    return _figure(data, f"read from {record} (not re-measured in this run)")


def _figure(data: dict, source: str) -> dict:
    value = data["duration_s"]
    return figure(value, "s", TARGET, value < TARGET_S and data["returncode"] == 0, source=source, **data)
