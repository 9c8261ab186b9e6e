#!/usr/bin/env bash
# Lint, format check and type check, as CI runs them (scripts/test.sh calls this before pytest).
# Usage: bash scripts/lint.sh   (uses .venv, or the virtualenv named by SMARTCITY_VENV)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(cd "${SMARTCITY_VENV:-.venv}/bin" && pwd)"
"$BIN/ruff" check .
"$BIN/ruff" format --check .
# mypy checks the code as it is installed, smartcity.<folder>, through a view of symlinks to the folders
# (the editable install maps the namespace with an import hook, which no static checker follows).
VIEW="$(mktemp -d)"
trap 'rm -rf "$VIEW"' EXIT
mkdir "$VIEW/smartcity"
for folder in models tasks flows deployments; do ln -s "$PWD/$folder" "$VIEW/smartcity/$folder"; done
ROOT="$PWD"
(cd "$VIEW" && MYPYPATH="$VIEW" "$BIN/mypy" --config-file "$ROOT/pyproject.toml" -p smartcity) | sed 's#^smartcity/##'
