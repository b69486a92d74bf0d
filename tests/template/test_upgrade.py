"""Upgrades: `copier update` between two tagged template versions, and `routemq upgrade`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml

from routemq_cli.templating import ANSWERS_FILE
from tests.template.conftest import commit_and_tag, copy_template, git

pytestmark = pytest.mark.template

APP = "template/{{cookiecutter.project_slug}}"
CONTROLLER = "app/controllers/sensor_controller.py"


def set_version(repo: Path, version: str) -> None:
    """Make the template pin ``version``, as a release of that version does."""
    config = repo / "copier.yml"
    config.write_text(
        re.sub(
            r'(routemq_version:\n  type: str\n  default: )"[^"]*"',
            rf'\g<1>"{version}"',
            config.read_text(),
        )
    )
    assert f'default: "{version}"' in config.read_text()
    cookiecutter = repo / "template" / "cookiecutter.json"
    data = json.loads(cookiecutter.read_text())
    data["_routemq_version"] = version
    cookiecutter.write_text(json.dumps(data, indent=2) + "\n")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def template_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template repository tagged v0.1.0 and v0.2.0; the second changes some files."""
    repo = copy_template(tmp_path_factory.mktemp("upgrade-template"))
    set_version(repo, "0.1.0")
    commit_and_tag(repo, "v0.1.0")

    set_version(repo, "0.2.0")
    edit(repo / APP / CONTROLLER, "ALERT_ABOVE = 30.0", "ALERT_ABOVE = 35.0")
    edit(repo / APP / ".env.example", "ROUTEMQ_LOG_LEVEL=INFO", "ROUTEMQ_LOG_LEVEL=WARNING")
    edit(repo / APP / "{{ '.env' }}", "ROUTEMQ_LOG_LEVEL=INFO", "ROUTEMQ_LOG_LEVEL=WARNING")
    (repo / APP / "CHANGELOG.md").write_text("# Changes\n\n- 0.2.0: hotter alert threshold\n")
    commit_and_tag(repo, "v0.2.0")
    return repo


@pytest.fixture
def app_v1(routemq: Any, template_versions: Path, tmp_path: Path) -> Path:
    """An app made at v0.1.0, then edited by its user and committed."""
    result = routemq(
        "new",
        "demo",
        "--defaults",
        "--template",
        str(template_versions),
        "--vcs-ref",
        "v0.1.0",
        cwd=tmp_path,
    )
    assert result.exit_code == 0, result.output
    app = tmp_path / "demo"
    assert yaml.safe_load((app / ANSWERS_FILE).read_text())["_commit"] == "v0.1.0"
    with (app / "README.md").open("a") as readme:
        readme.write("\n## Our notes\n\nOn-call: the edge team.\n")
    with (app / CONTROLLER).open("a") as controller:
        controller.write("\n\ndef describe() -> str:\n    return 'sensor readings'\n")
    edit(app / ".env", "MQTT_BROKER=localhost", "MQTT_BROKER=broker.internal")
    git(app, "commit", "--quiet", "--all", "-m", "our edits")
    return app


def test_copier_update_brings_template_changes_and_keeps_user_edits(app_v1: Path) -> None:
    copier.run_update(app_v1, defaults=True, vcs_ref="v0.2.0", overwrite=True, quiet=True)

    controller = (app_v1 / CONTROLLER).read_text()
    assert "ALERT_ABOVE = 35.0" in controller  # the template's change arrived
    assert "def describe() -> str:" in controller  # the user's addition survived
    assert "On-call: the edge team." in (app_v1 / "README.md").read_text()
    assert (app_v1 / "CHANGELOG.md").is_file()
    assert "ROUTEMQ_LOG_LEVEL=WARNING" in (app_v1 / ".env.example").read_text()
    assert '"routemq-runtime~=0.2.0"' in (app_v1 / "pyproject.toml").read_text()
    assert yaml.safe_load((app_v1 / ANSWERS_FILE).read_text())["_commit"] == "v0.2.0"
    # .env is the user's: never rewritten, even though the template's copy changed.
    env = (app_v1 / ".env").read_text()
    assert "MQTT_BROKER=broker.internal" in env and "ROUTEMQ_LOG_LEVEL=INFO" in env


def test_a_conflicting_edit_leaves_markers_while_copier_succeeds(app_v1: Path) -> None:
    edit(app_v1 / CONTROLLER, "ALERT_ABOVE = 30.0", "ALERT_ABOVE = 40.0")
    git(app_v1, "commit", "--quiet", "--all", "-m", "our threshold")

    # No exception: copier reports success with conflicts in the tree.
    copier.run_update(app_v1, defaults=True, vcs_ref="v0.2.0", overwrite=True, quiet=True)

    lines = (app_v1 / CONTROLLER).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("<<<<<<< "))
    middle = lines.index("=======", start)
    end = next(i for i, line in enumerate(lines) if line.startswith(">>>>>>> "))
    assert "ALERT_ABOVE = 40.0" in "\n".join(lines[start:middle])
    assert "ALERT_ABOVE = 35.0" in "\n".join(lines[middle:end])


def test_routemq_upgrade_reports_what_changed(routemq: Any, app_v1: Path) -> None:
    result = routemq("upgrade", "--vcs-ref", "v0.2.0", cwd=app_v1)
    assert result.exit_code == 0, result.output
    assert f"UPDATE {CONTROLLER}" in result.output
    assert "CREATE CHANGELOG.md" in result.output
    assert "Upgraded from the template v0.1.0 to v0.2.0." in result.output
    assert "ALERT_ABOVE = 35.0" in (app_v1 / CONTROLLER).read_text()


def test_routemq_upgrade_defaults_to_the_latest_tag(routemq: Any, app_v1: Path) -> None:
    result = routemq("upgrade", "--path", str(app_v1))
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((app_v1 / ANSWERS_FILE).read_text())["_commit"] == "v0.2.0"

    git(app_v1, "add", "--all")
    git(app_v1, "commit", "--quiet", "-m", "upgrade")
    again = routemq("upgrade", "--path", str(app_v1))
    assert again.exit_code == 0, again.output
    assert "Already up to date with the template (v0.2.0)." in again.output


def test_routemq_upgrade_fails_and_names_conflicted_files(routemq: Any, app_v1: Path) -> None:
    edit(app_v1 / CONTROLLER, "ALERT_ABOVE = 30.0", "ALERT_ABOVE = 40.0")
    edit(app_v1 / ".env.example", "ROUTEMQ_LOG_LEVEL=INFO", "ROUTEMQ_LOG_LEVEL=DEBUG")
    git(app_v1, "commit", "--quiet", "--all", "-m", "our settings")

    result = routemq("upgrade", "--vcs-ref", "v0.2.0", cwd=app_v1)

    assert result.exit_code == 1
    assert f"CONFLICT {CONTROLLER}" in result.output
    assert "CONFLICT .env.example" in result.output
    assert f"left conflicts in 2 file(s): .env.example, {CONTROLLER}" in result.output
    assert "CONFLICT README.md" not in result.output


def test_routemq_upgrade_refuses_uncommitted_changes(routemq: Any, app_v1: Path) -> None:
    with (app_v1 / "main.py").open("a") as main:
        main.write("# work in progress\n")
    result = routemq("upgrade", "--vcs-ref", "v0.2.0", cwd=app_v1)
    assert result.exit_code == 1
    assert "has uncommitted changes: main.py" in result.output
    assert yaml.safe_load((app_v1 / ANSWERS_FILE).read_text())["_commit"] == "v0.1.0"
    assert "ALERT_ABOVE = 30.0" in (app_v1 / CONTROLLER).read_text()


def test_routemq_upgrade_outside_an_app_explains(routemq: Any, tmp_path: Path) -> None:
    result = routemq("upgrade", cwd=tmp_path)
    assert result.exit_code == 1
    assert f"has no {ANSWERS_FILE}" in result.output


def test_routemq_upgrade_needs_a_recorded_version(routemq: Any, tmp_path: Path) -> None:
    (tmp_path / ANSWERS_FILE).write_text("_src_path: gh:routemq/routemq\nproject_slug: x\n")
    result = routemq("upgrade", cwd=tmp_path)
    assert result.exit_code == 1
    assert "records no _commit" in result.output


def test_routemq_upgrade_finds_the_app_from_a_subfolder(routemq: Any, app_v1: Path) -> None:
    result = routemq("upgrade", "--vcs-ref", "v0.2.0", cwd=app_v1 / "app" / "controllers")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((app_v1 / ANSWERS_FILE).read_text())["_commit"] == "v0.2.0"


def _set_recorded_source(app: Path, source: str) -> None:
    answers = app / ANSWERS_FILE
    text = re.sub(r"^_src_path: .*$", f"_src_path: {source}", answers.read_text(), flags=re.M)
    answers.write_text(text)
    git(app, "commit", "--quiet", "--all", "-m", "moved template")


@pytest.mark.parametrize(
    "source", ["/nonexistent/routemq-template", "file:///nonexistent/routemq-template.git"]
)
def test_an_unreachable_source_is_one_line_naming_it_and_the_option(
    routemq: Any, app_v1: Path, source: str
) -> None:
    _set_recorded_source(app_v1, source)
    head = git(app_v1, "rev-parse", "HEAD")

    result = routemq("upgrade", cwd=app_v1)

    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and source in errors[0], result.output
    assert "--template SRC" in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) <= 3
    assert git(app_v1, "rev-parse", "HEAD") == head
    assert git(app_v1, "status", "--porcelain") == ""


def test_template_option_overrides_the_recorded_source(
    routemq: Any, app_v1: Path, template_versions: Path
) -> None:
    _set_recorded_source(app_v1, "/nonexistent/routemq-template")
    head = git(app_v1, "rev-parse", "HEAD")

    result = routemq("upgrade", "--template", str(template_versions), cwd=app_v1)

    assert result.exit_code == 0, result.output
    recorded = yaml.safe_load((app_v1 / ANSWERS_FILE).read_text())
    assert (recorded["_src_path"], recorded["_commit"]) == (str(template_versions), "v0.2.0")
    assert "ALERT_ABOVE = 35.0" in (app_v1 / CONTROLLER).read_text()
    # The user's history is as it was: the change waits for review, uncommitted.
    assert git(app_v1, "rev-parse", "HEAD") == head
    assert ".copier-answers.yml" in git(app_v1, "status", "--porcelain")


def test_a_new_routemq_version_in_the_release_repository_is_what_upgrade_applies(
    routemq: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    """An app made by plain `routemq new` records the local release repository, which exists."""
    monkeypatch.setenv("ROUTEMQ_HOME", str(tmp_path / "home"))
    assert routemq("new", "demo", "--defaults", cwd=tmp_path).exit_code == 0
    app = tmp_path / "demo"
    assert routemq("upgrade", cwd=app).output.strip() == (
        f"Already up to date with the template (v{version})."
    )
    # A newer RouteMQ adds its template to the repository (as its install script does).
    from routemq_cli import template_releases

    newer = copy_template(tmp_path / "newer")
    set_version(newer, "9.0.0")
    edit(newer / APP / CONTROLLER, "ALERT_ABOVE = 30.0", "ALERT_ABOVE = 35.0")
    template_releases.ensure_release(newer, "v9.0.0")

    result = routemq("upgrade", cwd=app)
    assert result.exit_code == 0, result.output
    assert f"Upgraded from the template v{version} to v9.0.0." in result.output
    assert "ALERT_ABOVE = 35.0" in (app / CONTROLLER).read_text()


def test_copier_update_by_hand_works_for_an_app_made_by_routemq_new(
    routemq: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from routemq_cli import template_releases

    monkeypatch.setenv("ROUTEMQ_HOME", str(tmp_path / "home"))
    assert routemq("new", "demo", "--defaults", cwd=tmp_path).exit_code == 0
    newer = copy_template(tmp_path / "newer")
    set_version(newer, "9.1.0")
    (newer / APP / "CHANGELOG.md").write_text("# Changes\n")
    template_releases.ensure_release(newer, "v9.1.0")

    copier.run_update(tmp_path / "demo", defaults=True, overwrite=True, quiet=True)

    assert (tmp_path / "demo" / "CHANGELOG.md").is_file()
    assert yaml.safe_load((tmp_path / "demo" / ANSWERS_FILE).read_text())["_commit"] == "v9.1.0"
