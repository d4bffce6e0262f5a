#!/usr/bin/env bash
# Install Roost with its test tools into .venv, then lint, type-check and run the tests.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
bash scripts/install-test-deps.sh
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
# Four workers: most tests wait on servers and sockets, so 4 beat 2 on 2 cores
# (517 tests: 18 min in one process, 7 min in four).
.venv/bin/python -m pytest -n "${ROOST_TEST_WORKERS:-4}" "$@"
