"""The status queries as plain SQL, run by `program.status_rows` (SQLAlchemy) and by the stdlib-only fast
path of `status --json` (sqlite3) alike, so both answers come from one text. Named parameters (`:cohort`)
work in both."""

STATUS_ROWS = (
    "SELECT r.bps_code, r.name, r.province, r.timezone, c.name AS cohort, e.stage, e.version, "
    "e.entered_stage_at FROM region r JOIN enrollment e ON e.region_id = r.id "
    "JOIN cohort c ON e.cohort_id = c.id WHERE (CAST(:cohort AS VARCHAR) IS NULL OR c.name = :cohort) "
    "ORDER BY c.year, c.name, r.bps_code"
)
STAGE_COUNTS = (
    "SELECT c.name, e.stage, count(*) FROM enrollment e JOIN cohort c ON e.cohort_id = c.id GROUP BY c.name, e.stage"
)
COHORT_EXISTS = "SELECT 1 FROM cohort WHERE name = :cohort"
