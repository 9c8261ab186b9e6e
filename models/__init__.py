"""The domain, by area: `core` (the stage machine), `deadlines`, `notifications`, `reviews`, `selection`,
`quickwins`, `reports` and `infra` (settings, database, migrations). Pure Python: no Prefect import."""

from pathlib import Path

#: Where the shipped data files live, installed or not.
PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
POLICIES_DIR = PACKAGE_DIR / "policies"
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"
