#!/usr/bin/env bash
# Set up a virtualenv with the project, then run the main job (`smartcity demo`) on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SMARTCITY_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e .
exec "$VENV/bin/smartcity" demo "$@"
