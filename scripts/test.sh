#!/usr/bin/env bash
# Set up a fresh virtualenv with the project and its test extras, then run the whole test suite.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SMARTCITY_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[test]"
export PATH="$PWD/$VENV/bin:$PATH"
# Lint, format and types first: checks that run nowhere drift.
SMARTCITY_VENV="$VENV" bash scripts/lint.sh
# One pytest worker per core (SMARTCITY_TEST_WORKERS=0 runs in this process): every test owns its databases,
# ports and temp dirs, and each worker starts its own session Prefect server. Work stealing keeps the long
# end-to-end tests from piling up at the end of one worker. The 30 slowest tests are listed at the end, so the
# next regression in suite time shows in CI's log.
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -n "${SMARTCITY_TEST_WORKERS:-auto}" --dist worksteal --durations=30 "$@"
