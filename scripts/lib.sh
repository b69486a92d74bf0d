# Shared by scripts/test.sh and scripts/demo.sh: install what a fresh Debian/Ubuntu machine lacks.
# shellcheck shell=bash

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# Debian's mosquitto broker (and its clients, for publishing from the shell).
ensure_mosquitto() {
  local missing=()
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
  command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
  command -v git >/dev/null 2>&1 || missing+=(git)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]} (Debian packages)"
    apt_install "${missing[@]}"
  fi
  export PATH="$PATH:/usr/sbin"
}

# A virtual environment with both distributions installed editable, plus the dev tools.
ensure_venv() {
  local python=${PYTHON:-python3}
  VENV=${ROUTEMQ_VENV:-$PWD/.venv}
  if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    "$python" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv && "$python" -m venv "$VENV"; }
  fi
  echo "== installing routemq-runtime and routemq (editable) with the dev tools"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev]" -e ./cli
  export PATH="$VENV/bin:$PATH"
}
