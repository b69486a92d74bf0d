"""A local git repository of the app template's releases, one tag per RouteMQ version.

``copier update`` needs the template as a git repository whose tags are versions. An installed
CLI carries its template as plain package data, so every CLI that runs ``routemq new`` or
``routemq upgrade`` (and the install script) adds its own template to this repository, committed
and tagged ``v{version}`` unless that tag exists. Apps record this repository as their template
source: it exists on the machine that made them, works offline, and gains a new tag whenever a
newer RouteMQ is installed, which ``routemq upgrade`` then applies.

Its place is ``$ROUTEMQ_HOME/template`` (``ROUTEMQ_HOME`` defaults to
``$XDG_DATA_HOME/routemq``, i.e. ``~/.local/share/routemq``).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOME_ENV = "ROUTEMQ_HOME"
#: Commits here are the tool's, not the user's: the user's git identity is never needed.
_IDENTITY = [
    *("-c", "user.name=RouteMQ", "-c", "user.email=routemq@localhost"),
    *("-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false"),
]
_TEMPLATE_FILES = ("copier.yml", "template")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.py[co]", ".pytest_cache", ".ruff_cache")


class ReleaseError(RuntimeError):
    """The release repository could not be created or extended (git failed)."""


def routemq_home() -> Path:
    """Where RouteMQ keeps its per-user data."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "routemq"


def repository() -> Path:
    return routemq_home() / "template"


def ensure_release(template_root: Path, tag: str) -> tuple[Path, bool]:
    """Make sure ``repository()`` holds the template at ``template_root`` as ``tag``.

    Returns the repository and whether ``tag`` existed already with a different template (a
    checkout whose template changed without a new version). An existing tag is never moved:
    apps made from it rely on what it holds.
    """
    repo = repository()
    repo.mkdir(parents=True, exist_ok=True)
    with _locked(repo):
        if not (repo / ".git").is_dir():
            _git(repo, "init", "--quiet")
        for name in _TEMPLATE_FILES:
            target = repo / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        shutil.copy2(template_root / "copier.yml", repo / "copier.yml")
        shutil.copytree(template_root / "template", repo / "template", ignore=_IGNORE)
        _git(repo, "add", "--all")
        if tag in _git(repo, "tag", "--list", tag).split():
            differs = _git_code(repo, "diff", "--cached", "--quiet", tag) != 0
            _git(repo, "reset", "--quiet", "--hard")
            _git(repo, "clean", "--quiet", "-fd")
            return repo, differs
        _git(repo, *_IDENTITY, "commit", "--quiet", "--allow-empty", "-m", f"Template {tag}")
        _git(repo, *_IDENTITY, "tag", "-a", tag, "-m", f"RouteMQ template {tag}")
    return repo, False


@contextmanager
def _locked(repo: Path) -> Iterator[None]:
    """Two commands adding a release at once take turns."""
    with (repo.parent / ".template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _git(repo: Path, *args: str) -> str:
    if shutil.which("git") is None:
        raise ReleaseError("git was not found; RouteMQ keeps template versions in a git repository")
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if done.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.stdout


def _git_code(repo: Path, *args: str) -> int:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True).returncode
