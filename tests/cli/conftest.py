"""Fixtures for the ``routemq`` command: an app directory to run it in, in-process and as a
real subprocess."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routemq_cli.main import app

SCRIPTS = Path(sys.executable).parent
ROUTEMQ = SCRIPTS / "routemq"
# Modules an app loads into the test process when route:list runs in-process.
APP_PACKAGES = ("app", "bootstrap")


def minimal_app(root: Path) -> Path:
    """The smallest directory the CLI treats as an app: the packages a generated app has."""
    for package in ("app", "app/routers", "app/controllers", "app/middleware"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "__init__.py").write_text("")
    return root


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh minimal app, made the working directory."""
    root = minimal_app(tmp_path / "app_root")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def generated_app(rendered_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the app rendered from the template, made the working directory."""
    root = tmp_path / rendered_app.name
    shutil.copytree(
        rendered_app, root, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache")
    )
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(runner: CliRunner):
    """Run ``routemq ARGS`` in-process through Typer's CliRunner."""

    def call(*args: str, **kwargs: object):
        return runner.invoke(app, list(args), prog_name="routemq", **kwargs)

    return call


@pytest.fixture(autouse=True)
def isolated_app_imports() -> Iterator[None]:
    """Each test sees its own app: forget app modules, sys.path entries and .env variables,
    and undo the logging set-up an in-process ``run`` does."""
    path, environ = list(sys.path), dict(os.environ)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.path[:] = path
    for name in [m for m in sys.modules if m.split(".")[0] in APP_PACKAGES]:
        del sys.modules[name]
    for key in set(os.environ) - set(environ):
        del os.environ[key]
    os.environ.update(environ)


def run_routemq(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60):
    """Run the installed ``routemq`` console script as a user would."""
    assert ROUTEMQ.is_file(), f"the routemq console script is not installed at {ROUTEMQ}"
    return subprocess.run(
        [str(ROUTEMQ), *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
