"""The `smartcity` console script. `status --json` on SQLite answers from the standard library alone
(about 50 ms instead of about 1 s for SQLAlchemy, SQLModel and Typer); everything else, and any case
the fast path is unsure of, goes to the full CLI. A test keeps both answers identical."""

from __future__ import annotations

import os
import sys
from datetime import UTC

COUNTS = ("SELECT c.name, e.stage, count(*) FROM enrollment e JOIN cohort c ON e.cohort_id = c.id "
          "GROUP BY c.name, e.stage")
ROWS = ("SELECT r.bps_code, r.name, r.province, r.timezone, c.name, e.stage, e.version, e.entered_stage_at "
        "FROM region r JOIN enrollment e ON e.region_id = r.id JOIN cohort c ON e.cohort_id = c.id {where}"
        "ORDER BY c.year, c.name, r.bps_code")


def _sqlite_path() -> str | None:
    """The SQLite file the full CLI would open, or None when it would open something else."""
    url = os.environ.get("SMARTCITY_DATABASE_URL")
    if url:
        return url[len("sqlite:///"):] if url.startswith("sqlite:///") and len(url) > 10 else None
    base = os.environ.get("SMARTCITY_DATA_DIR")
    if not base:
        home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        base = os.path.join(home, "smartcity")
    return os.path.join(base, "smartcity.db")


def fast_status(argv: list[str]) -> str | None:
    """The JSON `smartcity status --json [--cohort NAME]` prints, or None to use the full CLI."""
    cohort = None
    if argv[:1] != ["status"] or "--json" not in argv:
        return None
    rest = [a for a in argv[1:] if a != "--json"]
    if rest:
        if len(rest) != 2 or rest[0] != "--cohort":
            return None
        cohort = rest[1]
    path = _sqlite_path()
    if not path or not os.path.isfile(path):
        return None
    return _query(path, cohort)


def _query(path: str, cohort: str | None) -> str | None:
    import json
    import sqlite3
    from datetime import datetime

    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
            if cohort is not None and not conn.execute("SELECT 1 FROM cohort WHERE name = ?", (cohort,)).fetchone():
                return None  # the full CLI says "does not exist" and exits 1
            counts: dict[str, dict[str, int]] = {}
            for name, stage, n in conn.execute(COUNTS):
                counts.setdefault(name, {})[stage] = n
            where, args = ("WHERE c.name = ? ", (cohort,)) if cohort else ("", ())
            found = conn.execute(ROWS.format(where=where), args)
            rows = [{"bps_code": code, "name": name, "province": prov, "timezone": tz, "cohort": coh, "stage": stage,
                     "version": version, "since": datetime.fromisoformat(since).replace(tzinfo=UTC).isoformat()}
                    for code, name, prov, tz, coh, stage, version, since in found]
    except (sqlite3.Error, ValueError):
        return None
    return json.dumps({"cohorts": counts, "regions": rows}, indent=2, default=str, ensure_ascii=False)


def main() -> int:
    """Run `smartcity`."""
    text = fast_status(sys.argv[1:])
    if text is not None:
        sys.stdout.write(text + "\n")
        return 0
    from smartcity.deployments.cli.app import main as full

    return full()


if __name__ == "__main__":
    sys.exit(main())
