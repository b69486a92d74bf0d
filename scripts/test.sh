#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian/Ubuntu machine, then run the linters
# and the whole suite (unit, integration against a real mosquitto, template, CLI, fault drills).
# Extra arguments go to pytest, e.g. `./scripts/test.sh -m "not drill" -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ensure_mosquitto
ensure_venv
ensure_wheelhouse
ensure_node_tools

echo "== ruff"
ruff check .
ruff format --check .

echo "== pytest"
python -m pytest "$@"
