#!/usr/bin/env bash
# Install Roost into .venv and start a server on ./roost-data (127.0.0.1:7878).
# Extra arguments go to `roost serve` (e.g. --port 9000 --host 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
echo "Roost installed in $(pwd)/.venv; the client is .venv/bin/roost (or: source .venv/bin/activate)"
exec .venv/bin/roost serve "$@"
