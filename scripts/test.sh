#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian/Ubuntu machine, then run the linters
# and the whole suite (unit, integration against a real mosquitto, template, CLI, fault drills).
# Extra arguments go to pytest, e.g. `./scripts/test.sh -m "not drill" -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# The integration tests start their own brokers; they need Debian's mosquitto binary.
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  echo "== installing mosquitto (Debian package)"
  apt_install mosquitto
fi
command -v git >/dev/null 2>&1 || apt_install git

python=${PYTHON:-python3}
venv=${ROUTEMQ_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  echo "== creating $venv"
  "$python" -m venv "$venv" 2>/dev/null || { apt_install python3-venv && "$python" -m venv "$venv"; }
fi
echo "== installing routemq-runtime and routemq (editable) with the dev tools"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev]" -e ./cli
export PATH="$PWD/$venv/bin:$PATH"

echo "== ruff"
ruff check .
ruff format --check .

echo "== pytest"
python -m pytest "$@"
