"""One file tree, two engines: copier and cookiecutter render identical apps for every option."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from routemq_cli.templating import ANSWERS_FILE, template_root
from tests.template.conftest import copier_render, tree

pytestmark = pytest.mark.template

DOCKER_FILES = {".dockerignore", "Dockerfile", "docker-compose.yml", "mosquitto.conf"}
K8S_FILES = {
    "k8s/configmap.yaml",
    "k8s/deployment.yaml",
    "k8s/hpa.yaml",
    "k8s/kustomization.yaml",
    "k8s/pdb.yaml",
    "k8s/secret.example.yaml",
    "k8s/statefulset.yaml",
}
ALWAYS = {
    ".env",
    ".env.example",
    ".gitignore",
    "README.md",
    "main.py",
    "pyproject.toml",
    "app/__init__.py",
    "app/controllers/__init__.py",
    "app/controllers/sensor_controller.py",
    "app/middleware/__init__.py",
    "app/middleware/timing.py",
    "app/routers/__init__.py",
    "app/routers/sensors.py",
    "bootstrap/__init__.py",
    "bootstrap/app.py",
    "tests/conftest.py",
    "tests/test_sensors.py",
    "wheels/README.md",
    # Optional, on by default (the combinations below keep the defaults).
    ".github/workflows/ci.yml",
    ".pre-commit-config.yaml",
}

COMBINATIONS = [
    {"include_docker": docker, "include_k8s": k8s, "python_version": python}
    for docker, k8s, python in itertools.product(
        (True, False), (True, False), ("3.11", "3.12", "3.13")
    )
]

CUSTOM = {
    "project_name": 'Müller\'s "Edge" Gateway',
    "project_slug": "edge_gateway",
    "description": "Reads: sensors/#, writes alerts — fast.",
    "mqtt_broker": "broker.example.com",
    "mqtt_port": 8883,
    "group_name": "edge-workers",
    "worker_count": 5,
}


def bake(cookies: Any, answers: dict[str, Any]) -> Path:
    result = cookies.bake(
        template=str(template_root() / "template"),
        extra_context={
            k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in answers.items()
        },
    )
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return Path(result.project_path)


def render_both(
    plain_template: Path, tmp_path: Path, cookies: Any, answers: dict[str, Any]
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    slug = answers.get("project_slug", "my_routemq_app")
    by_copier = copier_render(plain_template, tmp_path / "copier" / slug, answers)
    by_cookiecutter = bake(cookies, answers)
    assert by_cookiecutter.name == slug
    return tree(by_copier), tree(by_cookiecutter)


@pytest.mark.parametrize(
    "answers",
    COMBINATIONS,
    ids=[
        f"docker={a['include_docker']}-k8s={a['include_k8s']}-py{a['python_version']}"
        for a in COMBINATIONS
    ],
)
def test_every_option_combination_renders_the_same_in_both_engines(
    answers: dict[str, Any], plain_template: Path, tmp_path: Path, cookies: Any
) -> None:
    copier_files, cookiecutter_files = render_both(plain_template, tmp_path, cookies, answers)

    answers_file = copier_files.pop(ANSWERS_FILE)
    assert copier_files == cookiecutter_files
    expected = set(ALWAYS)
    if answers["include_docker"]:
        expected |= DOCKER_FILES
    if answers["include_k8s"]:
        expected |= K8S_FILES
    assert set(copier_files) == expected
    assert b"include_k8s: " + str(answers["include_k8s"]).lower().encode() in answers_file
    pyproject = copier_files["pyproject.toml"].decode()
    # The app runs wherever RouteMQ does; python_version picks the Docker image only.
    assert 'requires-python = ">=3.11"' in pyproject
    if answers["include_docker"]:
        assert f"ARG PYTHON_VERSION={answers['python_version']}\n" in (
            copier_files["Dockerfile"].decode()
        )


def test_custom_answers_render_the_same_and_reach_every_file(
    plain_template: Path, tmp_path: Path, cookies: Any
) -> None:
    copier_files, cookiecutter_files = render_both(plain_template, tmp_path, cookies, CUSTOM)
    copier_files.pop(ANSWERS_FILE)
    assert copier_files == cookiecutter_files

    text = {name: data.decode() for name, data in copier_files.items()}
    assert 'description = "Reads: sensors/#, writes alerts \\u2014 fast."' in text["pyproject.toml"]
    assert 'name = "edge_gateway"' in text["pyproject.toml"]
    assert "worker_count=5," in text["app/routers/sensors.py"]
    assert "MQTT_BROKER=broker.example.com\nMQTT_PORT=8883\n" in text[".env"]
    assert "MQTT_GROUP_NAME=edge-workers" in text[".env.example"]
    assert 'MQTT_BROKER: "broker.example.com"' in text["k8s/configmap.yaml"]
    assert "name: edge-gateway\n" in text["k8s/deployment.yaml"]
    assert '"8883:1883"' in text["docker-compose.yml"]
    assert text["README.md"].startswith('# Müller\'s "Edge" Gateway\n')


def test_cookiecutter_renders_the_repository_with_directory_template(tmp_path: Path) -> None:
    from cookiecutter.main import cookiecutter

    made = cookiecutter(
        str(template_root()), directory="template", no_input=True, output_dir=str(tmp_path)
    )
    assert Path(made) == tmp_path / "my_routemq_app"
    assert set(tree(Path(made))) == ALWAYS | DOCKER_FILES | K8S_FILES


def test_caches_in_the_template_never_reach_an_app(tmp_path: Path) -> None:
    # _subdirectory turns off copier's default exclusions; copier.yml lists them again.
    from tests.template.conftest import copy_template

    template = copy_template(tmp_path / "template")
    app = template / "template" / "{{cookiecutter.project_slug}}"
    for junk in ("__pycache__/x.cpython-311.pyc", "app/__pycache__/y.pyc", ".pytest_cache/v"):
        (app / junk).parent.mkdir(parents=True, exist_ok=True)
        (app / junk).write_text("junk")
    made = copier_render(template, tmp_path / "app", {})
    assert set(tree(made)) == ALWAYS | DOCKER_FILES | K8S_FILES | {ANSWERS_FILE}
