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
# One pytest worker more than there are cores (SMARTCITY_TEST_WORKERS sets the number; 0 runs in this process):
# the end-to-end tests spend much of their time waiting on servers and processes, so a third worker on 2 cores
# keeps them busy (measured on 2026-12-07, same code back to back: 283 s of pytest with 3 workers, 379 s with 2). Every test
# owns its databases, ports and temp dirs, and each worker starts its own session Prefect server. Work stealing
# keeps the long end-to-end tests from piling up at the end of one worker. The 30 slowest tests are listed at the
# end, so the next regression in suite time shows in CI's log.
WORKERS="${SMARTCITY_TEST_WORKERS:-$(( $(nproc) + 1 ))}"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -n "$WORKERS" --dist worksteal --durations=30 "$@"
