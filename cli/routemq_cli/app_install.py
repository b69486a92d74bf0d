"""Install a new app the way ``rails new`` and ``laravel new`` do: its own ``.venv``, ready to run.

RouteMQ's own distributions come from where the running CLI's came from (see ``provenance``).
When that is not a package index, their wheels are placed in the app's ``wheels/`` folder, which
the app's install commands and its Dockerfile name with ``--find-links``: the app then installs
on any machine, and its image builds, without an index that holds RouteMQ.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from routemq_cli.provenance import Origin, Provenance

WHEELS_DIR = "wheels"
VENV_DIR = ".venv"
#: Wheels of RouteMQ's own distributions, as pip names them.
OWN_WHEELS = ("routemq_runtime-*.whl", "routemq_cli-*.whl")

Progress = Callable[[str, str], None]


class InstallError(RuntimeError):
    """A step failed; the message says which, and what it printed."""


def venv_python(app_dir: Path) -> Path:
    return app_dir.resolve() / VENV_DIR / "bin" / "python"


def install_command(with_wheels: bool) -> list[str]:
    """The pip arguments that install the app and its dev tools (as the app's README says)."""
    links = ["--find-links", WHEELS_DIR] if with_wheels else []
    return ["pip", "install", *links, "-e", ".[dev]"]


def shown(command: list[str]) -> str:
    """A command as a user would type it into a shell."""
    return " ".join(shlex.quote(word).replace("'.[dev]'", '".[dev]"') for word in command)


def place_wheels(app_dir: Path, provenance: Provenance, progress: Progress) -> list[Path]:
    """Put RouteMQ's wheels in ``app_dir/wheels`` (replacing older ones); none from an index."""
    if provenance.from_index:
        return []
    dest = (app_dir / WHEELS_DIR).resolve()
    dest.mkdir(exist_ok=True)
    for pattern in OWN_WHEELS:
        for old in dest.glob(pattern):
            old.unlink()
    origins = (provenance.runtime, provenance.cli)
    for origin in origins:
        if origin.kind == "wheel":
            _copy_wheel(origin, dest)
    to_build = [str(o.path) for o in origins if o.kind == "checkout" and o.path is not None]
    if to_build:
        progress("BUILD", f"wheels of {', '.join(to_build)}")
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--quiet",
                "-w",
                str(dest),
                *to_build,
            ],
            app_dir,
            "building RouteMQ's wheels",
        )
    placed = sorted(p for pattern in OWN_WHEELS for p in dest.glob(pattern))
    for path in placed:
        progress("CREATE", str(app_dir / WHEELS_DIR / path.name))
    return placed


def _copy_wheel(origin: Origin, dest: Path) -> None:
    assert origin.path is not None
    if not origin.path.is_file():
        raise InstallError(
            f"{origin.path}, the wheel RouteMQ was installed from, is gone; "
            "reinstall RouteMQ (./scripts/install.sh in a clone)"
        )
    shutil.copy2(origin.path, dest / origin.path.name)


def install(app_dir: Path, with_wheels: bool, progress: Progress) -> None:
    """Create ``app_dir/.venv`` and install the app with its dev tools into it."""
    progress("RUN", f"python -m venv {VENV_DIR}")
    _run([sys.executable, "-m", "venv", VENV_DIR], app_dir, "creating the virtual environment")
    command = install_command(with_wheels)
    progress("RUN", shown(command))
    python = str(venv_python(app_dir))
    _run(
        [python, "-m", *command[:2], "--disable-pip-version-check", "--quiet", *command[2:]],
        app_dir,
        "installing the app",
    )


def _run(command: list[str], cwd: Path, what: str) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    except OSError as error:
        raise InstallError(f"{what} failed: {error}") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise InstallError(f"{what} failed (exit {done.returncode}):\n{tail}")
