"""A user's machine: RouteMQ installed from a clone by the README's command, no index holding it.

pip runs with no package index at all: third-party packages come from the wheelhouse that the
README's test command collects (``ROUTEMQ_WHEELHOUSE``), RouteMQ's own from the wheels the
install builds. So nothing here reaches beyond this machine, and nothing is borrowed from the
interpreter running the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.template.conftest import GIT_IDENTITY

pytestmark = [pytest.mark.template, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def wheelhouse() -> Path:
    path = Path(os.environ.get("ROUTEMQ_WHEELHOUSE") or ROOT / ".cache" / "wheelhouse")
    if not any(path.glob("*.whl")):
        pytest.fail(f"no wheels in {path}: run ./scripts/test.sh, which collects them")
    return path


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """A login on a fresh machine: its own HOME, offline pip, and no RouteMQ on PATH."""
    repo_bins = {str(ROOT / ".venv" / "bin"), str(Path(sys.executable).parent)}
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p not in repo_bins]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MQTT_", "WORKER_", "ROUTEMQ_", "PIP_", "VIRTUAL_ENV", "PYTHON"))
    }
    env.update(GIT_IDENTITY)
    env.update(
        HOME=str(home),
        PATH=os.pathsep.join([str(home / ".local" / "bin"), *path]),
        PYTHON=getattr(sys, "_base_executable", sys.executable),
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheelhouse()),
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    env.update(extra)
    return env


def copy_clone(dest: Path, source: Path = ROOT) -> Path:
    """What ``git clone`` of this repository gives, with its uncommitted changes."""
    if not (source / ".git").exists():
        return Path(shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__")))
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        relpath = name.decode()
        if (source / relpath).is_file():
            (dest / relpath).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / relpath, dest / relpath)
    return dest


def run(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@dataclass
class UserMachine:
    home: Path
    clone: Path
    env: dict[str, str]
    #: Seconds each step took, for the notes and docs.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def routemq(self) -> str:
        return str(self.home / ".local" / "bin" / "routemq")

    def timed(self, step: str, cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        done = run(cmd, cwd, self.env)
        self.timings[step] = round(time.monotonic() - start, 1)
        assert done.returncode == 0, f"{step}: {cmd}\n{done.stdout}\n{done.stderr}"
        return done


@pytest.fixture(scope="session")
def user_machine(tmp_path_factory: pytest.TempPathFactory) -> UserMachine:
    """RouteMQ installed by ``./scripts/install.sh`` from a fresh clone, into a fresh HOME."""
    base = tmp_path_factory.mktemp("user")
    home = base / "home"
    home.mkdir()
    clone = copy_clone(base / "RouteMQ")
    machine = UserMachine(home, clone, user_env(home))
    machine.timed("install (./scripts/install.sh)", [str(clone / "scripts" / "install.sh")], clone)
    return machine
