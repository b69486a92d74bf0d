"""copier.yml is the source of truth; template/cookiecutter.json must ask the same questions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier.errors import CopierError

from routemq_cli.templating import RESERVED_SLUGS, questions, slug_error, template_root
from tests.template.conftest import copier_render

pytestmark = pytest.mark.template

COMPUTED_FOR_COOKIECUTTER = {"_routemq_version", "__answers_file", "__prompts__"}


def load_copier() -> dict[str, Any]:
    return yaml.safe_load((template_root() / "copier.yml").read_text())


def load_cookiecutter() -> dict[str, Any]:
    return json.loads((template_root() / "template" / "cookiecutter.json").read_text())


def test_both_engines_ask_the_same_questions_in_the_same_order() -> None:
    asked = list(questions())
    cookiecutter = [k for k in load_cookiecutter() if k not in COMPUTED_FOR_COOKIECUTTER]
    assert cookiecutter == asked


def test_defaults_agree() -> None:
    copier, cookiecutter = load_copier(), load_cookiecutter()
    for name in questions():
        spec, theirs = copier[name], cookiecutter[name]
        if "choices" in spec:
            # cookiecutter's default is the first choice.
            assert theirs[0] == spec["default"], name
            assert sorted(theirs) == sorted(spec["choices"]), name
        elif isinstance(spec["default"], bool):
            assert theirs is spec["default"], name
        else:
            # Defaults computed from other answers differ only by cookiecutter's namespace.
            assert theirs.replace("cookiecutter.", "") == str(spec["default"]), name


def test_prompts_agree() -> None:
    copier, prompts = load_copier(), load_cookiecutter()["__prompts__"]
    assert prompts == {name: copier[name]["help"] for name in questions()}


def test_copier_maps_every_cookiecutter_variable() -> None:
    # The never-asked `cookiecutter` value is what lets template files say {{ cookiecutter.x }}.
    copier = load_copier()
    assert copier["cookiecutter"]["when"] is False
    assert copier["cookiecutter"]["type"] == "yaml"
    mapping = yaml.safe_load(
        copier["cookiecutter"]["default"].replace("{{", "'").replace("}}", "'")
    )
    expected = set(load_cookiecutter()) - {"__prompts__"}
    assert set(mapping) == expected


def test_pinned_runtime_version_is_the_current_version(version: str) -> None:
    assert load_copier()["routemq_version"]["default"] == version
    assert load_cookiecutter()["_routemq_version"] == version


def test_template_files_use_only_the_shared_namespace() -> None:
    # copier-only variables would be undefined under cookiecutter (and fail its strict mode);
    # the answers file is the one exception, and cookiecutter never renders it.
    app = template_root() / "template" / "{{cookiecutter.project_slug}}"
    offenders = []
    for path in app.rglob("*"):
        if path.is_file() and path.name != "{{ cookiecutter.__answers_file }}":
            text = path.read_text()
            if "_copier" in text or "_folder_name" in text or "|to_" in text:
                offenders.append(str(path.relative_to(app)))
    assert offenders == []


SLUGS = [
    "demo",
    "my_app2",
    "My_App",
    "my-app",
    "-app",
    "my.app",
    "2fast",
    "_private",
    "class",
    "app",
    "routemq_runtime",
    "café",
    "",
]


@pytest.mark.parametrize("slug", SLUGS)
def test_slug_rules_agree_between_the_cli_copier_and_cookiecutter(
    slug: str, plain_template: Path, tmp_path: Path, cookies: Any
) -> None:
    accepted_by_cli = slug_error(slug) is None

    try:
        copier_render(plain_template, tmp_path / "c", {"project_slug": slug}, pretend=True)
        accepted_by_copier = True
    except (CopierError, ValueError):
        accepted_by_copier = False

    baked = cookies.bake(
        template=str(template_root() / "template"), extra_context={"project_slug": slug}
    )
    accepted_by_cookiecutter = baked.exception is None and baked.exit_code == 0

    assert accepted_by_cli == accepted_by_copier == accepted_by_cookiecutter
    assert accepted_by_cli == (slug in {"demo", "my_app2", "my-app"})


def test_slug_error_explains_and_suggests() -> None:
    assert slug_error("my-app") is None
    assert "try 'my-app'" in slug_error("My-App")
    assert "try 'my_app'" in slug_error("my app")
    assert "keyword" in slug_error("class")
    assert "keyword" in slug_error("class")
    assert all(slug_error(name) for name in RESERVED_SLUGS)
