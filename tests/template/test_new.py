"""`routemq new`: renders the bundled template offline, as a tagged git render would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from routemq_cli import template_releases
from routemq_cli.templating import ANSWERS_FILE, TEMPLATE_SOURCE_ENV
from tests.template.conftest import copier_render, git, tree

pytestmark = pytest.mark.template


def answers_of(app: Path) -> dict[str, Any]:
    return yaml.safe_load((app / ANSWERS_FILE).read_text())


def test_new_equals_copier_copy_of_the_tagged_template(
    routemq: Any,
    template_repo: Path,
    version: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TEMPLATE_SOURCE_ENV, str(template_repo))
    result = routemq("new", "demo", "--defaults", "--data", "worker_count=4", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    made = tmp_path / "demo"
    recorded = answers_of(made)
    assert recorded["_commit"] == f"v{version}"
    assert recorded["_src_path"] == str(template_repo)

    # What copier itself makes of the release tag, given the answers `routemq new` chose.
    reference = copier_render(
        template_repo,
        tmp_path / "reference" / "demo",
        {k: v for k, v in recorded.items() if not k.startswith("_")},
        vcs_ref=f"v{version}",
    )
    assert tree(made) == tree(reference)
    assert recorded["project_name"] == "Demo"
    assert recorded["worker_count"] == 4


def test_new_makes_a_clean_git_repository_with_one_commit(
    routemq: Any, tmp_path: Path, version: str
) -> None:
    result = routemq("new", "demo", "--defaults", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    app = tmp_path / "demo"
    assert git(app, "log", "--format=%s").splitlines() == [
        f"Create demo from the RouteMQ template v{version}"
    ]
    assert git(app, "status", "--porcelain") == ""
    # .env exists for local runs but is ignored, so no secret is ever committed.
    assert (app / ".env").is_file()
    assert ".env" not in git(app, "ls-files").splitlines()
    # The recorded source exists: the local release repository, holding this version's tag.
    source = Path(answers_of(app)["_src_path"])
    assert source == template_releases.repository()
    assert git(source, "tag", "--list").split() == [f"v{version}"]
    assert git(source, "status", "--porcelain") == ""


def test_new_prints_what_it_made_and_what_to_do_next(routemq: Any, tmp_path: Path) -> None:
    result = routemq("new", "demo", "--defaults", "--no-git", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "CREATE demo/app/controllers/sensor_controller.py" in result.output
    assert "CREATE demo/k8s/deployment.yaml" in result.output
    for step in ("cd demo", 'pip install -e ".[dev]"', "pytest", "routemq run --workers"):
        assert step in result.output
    assert not (tmp_path / "demo" / ".git").exists()


def test_new_without_a_terminal_asks_nothing(routemq: Any, tmp_path: Path) -> None:
    # The test runner's stdin is not a terminal: no --defaults needed, no prompt waits.
    result = routemq("new", "quiet_app", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert answers_of(tmp_path / "quiet_app")["project_name"] == "Quiet App"


def test_unselected_optional_files_leave_no_empty_folders(routemq: Any, tmp_path: Path) -> None:
    result = routemq(
        "new",
        "slim",
        "--no-git",
        "-d",
        "include_k8s=false",
        "-d",
        "include_docker=no",
        cwd=tmp_path,
    )
    assert result.exit_code == 0, result.output
    app = tmp_path / "slim"
    assert not (app / "k8s").exists()
    assert not (app / "Dockerfile").exists()
    assert answers_of(app)["include_k8s"] is False


@pytest.mark.parametrize("name", ["My-App", "Demo", "class", "app", "1st", "my.app"])
def test_invalid_names_are_refused_and_nothing_is_written(
    routemq: Any, tmp_path: Path, name: str
) -> None:
    result = routemq("new", name, "--defaults", cwd=tmp_path)
    assert result.exit_code == 1
    assert repr(name) in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_non_empty_target_is_refused_and_left_alone(routemq: Any, tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "notes.txt").write_text("mine")
    result = routemq("new", "demo", "--defaults", cwd=tmp_path)
    assert result.exit_code == 1
    assert "demo already exists and is not an empty directory" in result.output
    assert [p.name for p in (tmp_path / "demo").iterdir()] == ["notes.txt"]
    assert (tmp_path / "demo" / "notes.txt").read_text() == "mine"


def test_an_empty_target_directory_is_used(routemq: Any, tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    result = routemq("new", "demo", "--defaults", "--no-git", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "main.py").is_file()


def test_an_invalid_answer_is_named_and_nothing_is_left(routemq: Any, tmp_path: Path) -> None:
    (tmp_path / "kept_empty").mkdir()
    for target in ("demo", "kept_empty"):
        result = routemq("new", target, "--defaults", "-d", "mqtt_port=70000", cwd=tmp_path)
        assert result.exit_code == 1
        assert "mqtt_port" in result.output and "between 1 and 65535" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["kept_empty"]
    assert list((tmp_path / "kept_empty").iterdir()) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("colour=blue", "unknown question(s) in --data: colour"),
        ("no_equals_sign", "'no_equals_sign' is not KEY=VALUE"),
    ],
)
def test_bad_data_is_refused(routemq: Any, tmp_path: Path, data: str, message: str) -> None:
    result = routemq("new", "demo", "--defaults", "--data", data, cwd=tmp_path)
    assert result.exit_code == 1
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_new_from_a_git_template_at_a_tag(
    routemq: Any, template_repo: Path, version: str, tmp_path: Path
) -> None:
    result = routemq(
        "new",
        "demo",
        "--defaults",
        "--no-git",
        "--template",
        str(template_repo),
        "--vcs-ref",
        f"v{version}",
        cwd=tmp_path,
    )
    assert result.exit_code == 0, result.output
    recorded = answers_of(tmp_path / "demo")
    assert (recorded["_src_path"], recorded["_commit"]) == (str(template_repo), f"v{version}")


def test_without_a_git_identity_the_app_is_kept_and_the_user_told(
    routemq: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ):
        monkeypatch.delenv(name)
    monkeypatch.delenv("EMAIL", raising=False)
    # Never guess an identity from the host name.
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.useConfigOnly")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "true")

    result = routemq("new", "demo", "--defaults", cwd=tmp_path)

    assert result.exit_code == 0, result.output
    assert "warning: `git commit` failed" in result.output
    assert "routemq upgrade` needs a clean git repository" in result.output
    assert (tmp_path / "demo" / "main.py").is_file()
    assert (tmp_path / "demo" / ".git").is_dir()


def test_new_copier_and_cookiecutter_give_the_same_defaults(
    routemq: Any, plain_template: Path, tmp_path: Path
) -> None:
    from cookiecutter.main import cookiecutter

    result = routemq("new", "my_routemq_app", "--defaults", "--no-git", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    ours = {k: v for k, v in answers_of(tmp_path / "my_routemq_app").items() if k[0] != "_"}
    by_copier = copier_render(plain_template, tmp_path / "copier" / "my_routemq_app", {})
    theirs = {k: v for k, v in answers_of(by_copier).items() if k[0] != "_"}
    assert ours == theirs
    assert ours["project_name"] == "My RouteMQ App"
    assert ours["python_version"] == "3.12"

    made = cookiecutter(
        str(plain_template / "template"), no_input=True, output_dir=str(tmp_path / "cc")
    )
    for app in (Path(made), tmp_path / "my_routemq_app"):
        assert "# My RouteMQ App" in (app / "README.md").read_text()
        assert "FROM python:${PYTHON_VERSION}-slim" in (app / "Dockerfile").read_text()
        assert "ARG PYTHON_VERSION=3.12" in (app / "Dockerfile").read_text()


def test_a_second_app_reuses_the_release_and_a_changed_template_is_flagged(
    routemq: Any, tmp_path: Path, version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from routemq_cli.templating import plain_template_copy

    monkeypatch.setenv("ROUTEMQ_HOME", str(tmp_path / "home"))
    for name in ("one", "two"):
        result = routemq("new", name, "--defaults", "--no-git", cwd=tmp_path)
        assert result.exit_code == 0, result.output
        assert "differs from the one released" not in result.output
    repo = template_releases.repository()
    assert git(repo, "tag", "--list").split() == [f"v{version}"]
    assert len(git(repo, "log", "--format=%H").split()) == 1

    # A checkout whose template changed without a version bump: the tag is not moved.
    with plain_template_copy() as root:
        changed = tmp_path / "changed"
        shutil.copytree(root, changed)
    (changed / "template" / "NOTES.md").write_text("new file\n")
    _, differs = template_releases.ensure_release(changed, f"v{version}")
    assert differs
    assert len(git(repo, "log", "--format=%H").split()) == 1
    assert git(repo, "status", "--porcelain") == ""


def test_ctrl_c_at_a_question_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """A real terminal: the first question is on screen when Ctrl-C arrives."""
    import os
    import pty
    import select
    import shutil
    import sys
    import time

    routemq_bin = shutil.which("routemq") or str(Path(sys.executable).parent / "routemq")
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command under test on the terminal
        os.chdir(tmp_path)
        os.execv(routemq_bin, [routemq_bin, "new", "demo", "--no-git", "--no-install"])
    screen = b""

    def read_until(marker: bytes, seconds: float) -> None:
        nonlocal screen
        deadline = time.monotonic() + seconds
        while marker not in screen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    screen += os.read(fd, 4096)
                except OSError:
                    return

    read_until(b"Project name", 30)
    assert b"Project name" in screen, screen.decode(errors="replace")
    os.write(fd, b"\x03")  # what the terminal sends for Ctrl-C
    read_until(b"\x00never", 5)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    after = screen.split(b"Project name", 1)[1].decode(errors="replace")
    assert "cancelled; nothing was created" in after
    assert "AnswersMap" not in after and "Traceback" not in after
    assert os.waitstatus_to_exitcode(status) == 130
    assert list(tmp_path.iterdir()) == []


def test_a_dashed_name_is_the_directory_and_distribution(routemq: Any, tmp_path: Path) -> None:
    import tomllib

    result = routemq("new", "my-app", "--defaults", "--no-git", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    app = tmp_path / "my-app"
    assert tomllib.loads((app / "pyproject.toml").read_text())["project"]["name"] == "my-app"
    answers = answers_of(app)
    assert (answers["project_slug"], answers["project_name"]) == ("my-app", "My App")
    assert "ROUTEMQ_APP_NAME=my-app" in (app / ".env").read_text()
    assert "name: my-app\n" in (app / "k8s" / "deployment.yaml").read_text()
