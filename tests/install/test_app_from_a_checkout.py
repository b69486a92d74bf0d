"""`routemq new` run from a checkout (an editable install): it builds RouteMQ's wheels for the
app, installs the app from them, and the app's Docker build context installs from them too."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.install.conftest import ROOT, run, user_env

pytestmark = [pytest.mark.template, pytest.mark.slow]

CLI_ONLY = ("copier", "cookiecutter", "typer", "routemq-cli", "jinja2", "click")


@pytest.fixture(scope="module")
def checkout_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("from-checkout")
    env = user_env(base, ROUTEMQ_HOME=str(base / "routemq-home"))
    routemq = str(Path(sys.executable).parent / "routemq")
    made = run([routemq, "new", "demo", "--defaults"], base, env)
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"BUILD wheels of {ROOT}, {ROOT / 'cli'}" in made.stdout
    return base / "demo"


def test_the_app_is_installed_from_the_wheels_built_for_it(checkout_app: Path) -> None:
    wheels = sorted(p.name for p in (checkout_app / "wheels").glob("*.whl"))
    assert wheels == [
        "routemq_cli-0.1.0-py3-none-any.whl",
        "routemq_runtime-0.1.0-py3-none-any.whl",
    ]
    python = str(checkout_app / ".venv" / "bin" / "python")
    env = user_env(checkout_app)
    shown = run([python, "-m", "pip", "show", "-f", "routemq-runtime"], checkout_app, env)
    # Not the checkout: the app's venv holds a real install of the wheel.
    assert "Editable project location" not in shown.stdout
    assert "routemq_runtime/__init__.py" in shown.stdout
    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], checkout_app, env)
    assert "5 passed" in tests.stdout, tests.stdout + tests.stderr


def dockerignored(relpath: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``relpath`` out of the build context (last matching rule wins)."""
    parts = relpath.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        rule = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(prefix, rule) for prefix in prefixes):
            ignored = not negated
    return ignored


def build_context(app: Path, dest: Path) -> Path:
    """What ``docker build`` sends: the app without what ``.dockerignore`` excludes."""
    lines = (app / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for path in sorted(app.rglob("*")):
        relpath = path.relative_to(app).as_posix()
        if path.is_file() and not dockerignored(relpath, patterns):
            (dest / relpath).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / relpath)
    return dest


def stages(dockerfile: str) -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (instruction, arguments)."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    found: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            found.append([])
        elif found:
            found[-1].append((instruction.upper(), arguments.strip()))
    return found


def docker_copy(context: Path, arguments: str, workdir: Path) -> None:
    """``COPY`` as Docker does it: a directory's contents go into the target directory."""
    *sources, target = arguments.split()
    into_dir = target.endswith("/") or target in (".", "./") or len(sources) > 1
    for source in sources:
        assert (context / source).exists(), f"COPY {source}: not in the build context"
        destination = workdir / target
        if (context / source).is_dir():
            shutil.copytree(context / source, destination, dirs_exist_ok=True)
        else:
            if into_dir:
                destination = destination / Path(source).name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(context / source, destination)


def test_the_dockerfiles_install_commands_work_from_a_copy_of_the_build_context(
    checkout_app: Path, tmp_path: Path
) -> None:
    context = build_context(checkout_app, tmp_path / "context")
    assert not (context / ".env").exists() and not (context / ".venv").exists()
    build, runtime = stages((checkout_app / "Dockerfile").read_text())
    image = tmp_path / "image"
    image.mkdir()
    venv = image / "opt" / "venv"
    env = {**user_env(tmp_path), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}

    # The build stage, with the image's root at `image`.
    workdir = image
    for instruction, arguments in build:
        if instruction == "WORKDIR":
            workdir = image / arguments.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            docker_copy(context, arguments, workdir)
        elif instruction == "RUN":
            command = arguments.replace("/opt/venv", str(venv))
            done = run(["bash", "-c", command], workdir, env)
            assert done.returncode == 0, f"RUN {arguments}\n{done.stdout}\n{done.stderr}"
    python = str(venv / "bin" / "python")
    listed = run([python, "-m", "pip", "list", "--format=freeze"], workdir, env).stdout.lower()
    assert "\nroutemq-runtime==0.1.0" in f"\n{listed}", listed
    assert not [name for name in CLI_ONLY if f"\n{name}==" in f"\n{listed}"], listed
    assert run([python, "-m", "pip", "check"], workdir, env).returncode == 0

    # The runtime stage's code, run with that environment, loads the app's routes.
    code_dir = tmp_path / "app"
    code_dir.mkdir()
    for instruction, arguments in runtime:
        if instruction == "COPY" and not arguments.startswith("--from"):
            docker_copy(context, arguments, code_dir)
    loaded = run(
        [python, "-c", "from bootstrap.app import load_router; print(len(load_router().routes))"],
        code_dir,
        env,
    )
    assert loaded.returncode == 0 and loaded.stdout.strip() == "1", loaded.stdout + loaded.stderr
