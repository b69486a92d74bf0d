"""Fixtures for the app-template tests: git identity, template repositories, renderers."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from routemq_cli.commands.new import new
from routemq_cli.commands.upgrade import upgrade
from routemq_cli.templating import installed_version, plain_template_copy, template_root

pytestmark = pytest.mark.template

# Commits made by the tests (and by copier during updates) need an identity; the user's git
# configuration is neither read nor changed.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "RouteMQ Tests",
    "GIT_AUTHOR_EMAIL": "tests@routemq.invalid",
    "GIT_COMMITTER_NAME": "RouteMQ Tests",
    "GIT_COMMITTER_EMAIL": "tests@routemq.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_IDENTITY},
    )
    assert result.returncode == 0, f"git {' '.join(args)} failed in {cwd}: {result.stderr}"
    return result.stdout


def copy_template(dest: Path) -> Path:
    """This repository's copier.yml and template/ in a directory of their own."""
    root = template_root()
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "copier.yml", dest / "copier.yml")
    shutil.copytree(
        root / "template",
        dest / "template",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache"),
    )
    return dest


def commit_and_tag(repo: Path, tag: str) -> None:
    if not (repo / ".git").exists():
        git(repo, "init", "--quiet")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", f"template {tag}")
    git(repo, "tag", tag)


def tree(root: Path, *, skip: tuple[str, ...] = (".git",)) -> dict[str, bytes]:
    """Every file under ``root`` (relative path → bytes), outside the ``skip`` folders."""
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in skip or not path.is_file():
            continue
        files[relative.as_posix()] = path.read_bytes()
    return files


@pytest.fixture(scope="session")
def version() -> str:
    return installed_version()


@pytest.fixture(scope="session")
def plain_template() -> Iterator[Path]:
    """The template as a plain directory (no git), as the installed package carries it."""
    with plain_template_copy() as root:
        yield root


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory, version: str) -> Path:
    """A git repository of this repository's template, tagged v{version}, like a release."""
    repo = copy_template(tmp_path_factory.mktemp("template-repo"))
    commit_and_tag(repo, f"v{version}")
    return repo


def copier_render(src: Path | str, dst: Path, data: dict[str, Any], **kwargs: Any) -> Path:
    import copier

    copier.run_copy(str(src), dst, data=data, defaults=True, quiet=True, **kwargs)
    return dst


@pytest.fixture
def routemq() -> Any:
    """Invoke ``routemq new`` / ``routemq upgrade`` as the command line does.

    ``new`` gets ``--no-install``: creating a virtualenv per test would dominate the suite, and
    tests/install covers the install step on fresh virtualenvs.
    """
    app = typer.Typer()
    app.command("new")(new)
    app.command("upgrade")(upgrade)
    runner = CliRunner()

    def invoke(*args: str, cwd: Path | None = None) -> Any:
        if args[:1] == ("new",):
            args = (*args, "--no-install")
        previous = Path.cwd()
        if cwd is not None:
            os.chdir(cwd)
        try:
            return runner.invoke(app, list(args), catch_exceptions=False)
        finally:
            os.chdir(previous)

    return invoke
