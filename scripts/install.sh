#!/usr/bin/env bash
# Install the `routemq` command from this clone, isolated from the system Python as pipx does:
# its own virtual environment in $ROUTEMQ_HOME (default ~/.local/share/routemq), linked as
# ~/.local/bin/routemq. Run it again after `git pull` to upgrade.
#
# No package index holds RouteMQ, so the two distributions are built here as wheels and kept in
# $ROUTEMQ_HOME/wheels: `routemq new` installs new apps from them, and places them in each app's
# wheels/ folder for its Docker build. pip's usual settings apply (PIP_INDEX_URL, PIP_FIND_LINKS...).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

python=${PYTHON:-python3}
home=${ROUTEMQ_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/routemq}
bin_dir=${ROUTEMQ_BIN_DIR:-$HOME/.local/bin}
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' routemq_runtime/_version.py)
venv=$home/venv
pip=(-m pip --disable-pip-version-check --quiet)

step() { printf '== %s\n' "$*"; }

step "creating $venv (Python: $("$python" -c 'import sys; print(sys.version.split()[0])'))"
rm -rf "$venv"
"$python" -m venv "$venv" 2>/dev/null || { apt_install python3-venv && "$python" -m venv "$venv"; }

step "building the wheels of routemq-runtime and routemq-cli $version into $home/wheels"
mkdir -p "$home/wheels"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
"$venv/bin/python" "${pip[@]}" wheel --no-deps -w "$build" . ./cli
mv -f "$build"/routemq_*.whl "$home/wheels/"

step "installing them into $venv"
"$venv/bin/python" "${pip[@]}" install \
  "$home/wheels/routemq_runtime-$version-py3-none-any.whl" \
  "$home/wheels/routemq_cli-$version-py3-none-any.whl"
# The template of this version joins the local release repository that apps upgrade from.
ROUTEMQ_HOME=$home "$venv/bin/python" -c \
  'from routemq_cli import templating as t; print("   template:", t.release_source(t.template_root(), t.version_tag(t.installed_version()))[0])'

mkdir -p "$bin_dir"
ln -sf "$venv/bin/routemq" "$bin_dir/routemq"
step "installed: $bin_dir/routemq ($("$bin_dir/routemq" --version))"
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "   $bin_dir is not on your PATH; add it: export PATH=\"$bin_dir:\$PATH\"" ;;
esac
