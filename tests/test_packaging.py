"""Both distributions build, share one version, and the runtime's closure stays small."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from routemq_runtime import __version__

ROOT = Path(__file__).resolve().parents[1]
CLI_ONLY = {"copier", "cookiecutter", "typer", "jinja2", "click", "rich", "routemq", "routemq-cli"}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    for source in (ROOT, ROOT / "cli"):
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
            cwd=source,
            check=True,
            capture_output=True,
        )
    return {path.name.split("-")[0]: path for path in out.glob("*.whl")}


def wheel_metadata(wheel: Path) -> tuple[str, list[str], list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode()
    version = re.search(r"^Version: (.+)$", text, re.M).group(1)
    # Extras (the contributor's `dev` tools) are not what an app installs.
    requires = [
        r
        for r in re.findall(r"^Requires-Dist: (.+)$", text, re.M)
        if not (marker := Requirement(r).marker) or marker.evaluate({"extra": ""})
    ]
    return version, requires, names


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(requirements: list[str]) -> set[str]:
    """Every distribution these requirements pull in, as resolved in this environment."""
    seen: set[str] = set()
    pending = [Requirement(r) for r in requirements]
    while pending:
        requirement = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonical(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        pending += [Requirement(r) for r in metadata.requires(requirement.name) or []]
    return seen


def test_one_version_for_both_distributions(wheels):
    runtime_version, _, _ = wheel_metadata(wheels["routemq_runtime"])
    cli_version, cli_requires, _ = wheel_metadata(wheels["routemq_cli"])
    assert runtime_version == cli_version == __version__
    assert f"routemq-runtime=={__version__}" in cli_requires


def test_runtime_closure_has_nothing_of_the_cli(wheels):
    _, requires, names = wheel_metadata(wheels["routemq_runtime"])
    assert {canonical(Requirement(r).name) for r in requires} == {
        "paho-mqtt",
        "python-dotenv",
        "prometheus-client",
    }
    resolved = closure(requires)
    assert not resolved & CLI_ONLY, resolved & CLI_ONLY
    assert not any(n.startswith(("routemq_cli/", "template/")) for n in names)


def test_cli_wheel_carries_the_template(wheels):
    _, requires, names = wheel_metadata(wheels["routemq_cli"])
    assert "routemq_cli/_bundled/copier.yml" in names
    assert any(n.startswith("routemq_cli/_bundled/template/") for n in names)
    assert {canonical(Requirement(r).name) for r in requires} >= {"typer", "copier", "jinja2"}


def test_runtime_import_stays_light():
    code = (
        "import sys, routemq_runtime, routemq_runtime.testing;"
        "heavy = {'paho', 'prometheus_client', 'typer', 'copier', 'routemq_cli'} & "
        "{m.split('.')[0] for m in sys.modules};"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_distribution_names_are_ours_and_no_doc_sends_users_to_another_project():
    """The index's `routemq` belongs to another project: nothing of ours may point there."""
    import tomllib

    names = [
        tomllib.loads((path / "pyproject.toml").read_text())["project"]["name"]
        for path in (ROOT, ROOT / "cli")
    ]
    assert names == ["routemq-runtime", "routemq-cli"]
    wrong = re.compile(r"pip install routemq(?![-\w])|pypi\.org/project/routemq/")
    checked = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *(ROOT / "template").rglob("*")]
    checked += [*(ROOT / "cli").rglob("*.py"), *(ROOT / "scripts").glob("*.sh")]
    offenders = [
        str(path.relative_to(ROOT))
        for path in checked
        if path.is_file() and path.suffix != ".whl" and wrong.search(path.read_text())
    ]
    assert offenders == []
