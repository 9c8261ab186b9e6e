"""What every figure shares: the figure record, timers, the machine, and a throwaway workspace."""

from __future__ import annotations

import csv
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT.parent / "shared" / "data" / "regions_2018.csv"
T0 = datetime(2017, 5, 2, 1, 0, tzinfo=UTC)


def figure(value: Any, unit: str | None, target: str, met: bool | None, **details: Any) -> dict:
    """One figure: its headline value and unit, the target beside it, whether it is met, then details."""
    return {"value": value, "unit": unit, "target": target, "met": met, **details}


def not_measured(target: str, why: str, **details: Any) -> dict:
    """A figure that could not be measured in this run: no value, `met` is null, and the reason."""
    return figure(None, None, target, None, status=f"not measured: {why}", **details)


def stats(samples: list[float]) -> dict[str, float | int]:
    """Median, mean, min and max of timings in seconds (rounded for reading)."""
    return {
        "median_s": round(statistics.median(samples), 6),
        "mean_s": round(statistics.fmean(samples), 6),
        "min_s": round(min(samples), 6),
        "max_s": round(max(samples), 6),
        "n": len(samples),
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """(result, seconds) of one call, on the monotonic high-resolution clock."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def ratio(a: float, b: float) -> float | None:
    """a / b rounded, or None when b is zero."""
    return round(a / b, 3) if b else None


def machine() -> dict[str, Any]:
    """The machine the figures were taken on: cores, CPU, RAM, load, Python and library versions."""
    cpu = "unknown"
    mem_kb = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "prefect": _version("prefect"),
        "sqlalchemy": _version("sqlalchemy"),
        "sqlmodel": _version("sqlmodel"),
        "apprise": _version("apprise"),
    }


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def isolate(root: Path) -> None:
    """Point every data location of this process (and its children) into `root`; call before importing Prefect."""
    (root / "prefect-home").mkdir(parents=True, exist_ok=True)
    os.environ.update(
        SMARTCITY_DATA_DIR=str(root / "data"),
        SMARTCITY_DATABASE_URL=f"sqlite:///{root / 'unused.db'}",
        PREFECT_HOME=str(root / "prefect-home"),
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="CRITICAL",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    os.environ.pop("PREFECT_API_URL", None)


def registry_codes() -> list[str]:
    """The 514 BPS codes of the shared 2018 registry, in file order."""
    with REGISTRY.open(encoding="utf-8") as fh:
        return [row["bps_code"] for row in csv.DictReader(fh)]


class Workspace:
    """Fresh SQLite databases in a temp directory, copied from one migrated template holding the registry."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._template: Path | None = None
        self._count = 0

    def template(self) -> Path:
        """A database migrated to head with all 514 regions loaded, built once."""
        if self._template is None:
            from smartcity.models.core.regions import parse_regions, read_csv_text, upsert_regions
            from smartcity.models.infra.db import session_scope
            from smartcity.models.infra.migrate import upgrade

            path = self.root / "template.db"
            url = f"sqlite:///{path}"
            upgrade(url)
            activate(url)
            regions = parse_regions(read_csv_text(REGISTRY), source=str(REGISTRY))
            with session_scope() as session:
                upsert_regions(session, regions, now=T0)
            reset_caches()  # closes connections, so the WAL is checkpointed into the file we copy
            self._template = path
        return self._template

    def fresh_db(self, name: str) -> str:
        """A new database file (a copy of the template), made the process's database; its URL."""
        self._count += 1
        path = self.root / f"{self._count:03d}-{name}.db"
        shutil.copy(self.template(), path)
        url = f"sqlite:///{path}"
        activate(url)
        return url


def reset_caches() -> None:
    """Forget cached settings and engines after the database URL changed."""
    from smartcity.models.infra.db import reset_engines
    from smartcity.models.infra.settings import get_settings

    reset_engines()
    get_settings.cache_clear()


def activate(url: str) -> None:
    """Make `url` the database of this process (settings read SMARTCITY_DATABASE_URL)."""
    os.environ["SMARTCITY_DATABASE_URL"] = url
    reset_caches()


def enroll(codes: list[str], cohort: str, quota: int | None = None) -> None:
    """A cohort holding `codes` as nominees, in the active database."""
    from smartcity.models.core.program import create_cohort, nominate
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        create_cohort(session, name=cohort, year=2017, quota=quota or len(codes), now=T0)
        nominate(session, cohort=cohort, codes=codes, now=T0)


def log(message: str) -> None:
    """Progress on stderr: stdout carries only the JSON."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def profile_top(fn: Callable[[], Any], top: int = 12, watch: tuple[str, ...] = ()) -> dict[str, Any]:
    """cProfile one call: the functions with the most own time, the project's costliest by cumulative time,
    and the calls and cumulative time of the functions named in `watch`."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    raw = pstats.Stats(prof).stats  # type: ignore[attr-defined]  # {(file, line, name): (cc, nc, tt, ct, callers)}

    def row(key: tuple, data: tuple) -> dict:
        file, line, name = key
        short = file.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        return {
            "function": f"{short}:{line}({name})",
            "calls": data[1],
            "own_ms": round(data[2] * 1000, 1),
            "cumulative_ms": round(data[3] * 1000, 1),
        }

    by_self = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    ours = [kv for kv in raw.items() if kv[0][0].startswith(str(ROOT)) and "/benchmarks/" not in kv[0][0]]
    by_cum = sorted(ours, key=lambda kv: -kv[1][3])[:top]
    watched = {
        name: {
            "calls": sum(v[1] for k, v in raw.items() if k[2] == name),
            "cumulative_ms": round(sum(v[3] for k, v in raw.items() if k[2] == name) * 1000, 1),
        }
        for name in watch
    }
    return {
        "tool": "cProfile",
        "top_own_time": [row(k, v) for k, v in by_self],
        "project_top_cumulative": [row(k, v) for k, v in by_cum],
        **({"watched": watched} if watch else {}),
    }
