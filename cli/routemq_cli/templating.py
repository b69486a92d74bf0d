"""The app template: where it lives, what it asks, and what a generated app records about it.

An installed ``routemq`` carries the template as package data (``routemq_cli/_bundled``); a source
checkout uses the repository's own ``copier.yml`` and ``template/``. Either way ``routemq new``
renders it offline and then records a git source holding that version as a tag (the local
release repository of ``template_releases``, or ``$ROUTEMQ_TEMPLATE_SOURCE``), so that
``copier update`` (``routemq upgrade``) can later apply the next version.

Only the standard library is imported here: copier and jinja2 load inside the functions that
need them.
"""

from __future__ import annotations

import keyword
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from routemq_cli import provenance, template_releases

#: A template source to record in new apps instead of the local release repository (any copier
#: source with version tags: a git URL, ``gh:owner/repo`` or a local git repository).
TEMPLATE_SOURCE_ENV = "ROUTEMQ_TEMPLATE_SOURCE"

ANSWERS_FILE = ".copier-answers.yml"
#: The template file that renders to the answers file (its name is empty under cookiecutter).
ANSWERS_TEMPLATE = "{{ cookiecutter.__answers_file }}"
APP_DIR_TEMPLATE = "{{cookiecutter.project_slug}}"

#: Names an app may not take: they would shadow the app's own packages or RouteMQ.
RESERVED_SLUGS = frozenset(
    {"app", "bootstrap", "tests", "routemq", "routemq_runtime", "routemq_cli"}
)

_COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.py[co]", ".pytest_cache", ".ruff_cache")


class TemplateNotFoundError(RuntimeError):
    """Neither the bundled template nor a source checkout's template is present."""


def template_root() -> Path:
    """The directory holding ``copier.yml`` and ``template/``."""
    here = Path(__file__).resolve()
    for candidate in (here.parent / "_bundled", here.parents[2]):
        if (candidate / "copier.yml").is_file() and (candidate / "template").is_dir():
            return candidate
    raise TemplateNotFoundError(
        "the RouteMQ app template is missing: expected routemq_cli/_bundled/copier.yml in the "
        f"installed package or copier.yml at the root of a source checkout ({here.parents[2]})"
    )


def configured_source() -> str | None:
    """``$ROUTEMQ_TEMPLATE_SOURCE``, when set."""
    return os.environ.get(TEMPLATE_SOURCE_ENV) or None


def release_source(root: Path, tag: str) -> tuple[str, bool]:
    """The source new apps record for ``tag`` of the template at ``root``.

    Returns it and whether the release repository's ``tag`` holds a different template.
    """
    configured = configured_source()
    if configured is not None:
        return configured, False
    repo, differs = template_releases.ensure_release(root, tag)
    return str(repo), differs


def is_local_source(source: str) -> bool:
    """Whether a copier source names a directory on this machine (not a URL or gh:/gl:)."""
    return "://" not in source and not source.startswith(("gh:", "gl:", "git@"))


def installed_version() -> str:
    return provenance.runtime_version()


def version_tag(version: str) -> str:
    """The template's git tag for a RouteMQ version: ``0.1.0`` → ``v0.1.0``."""
    return f"v{version}"


def slug_error(slug: str) -> str | None:
    """Why ``slug`` cannot name an app, or None when it can (the rule copier.yml enforces).

    A dash counts as an underscore, as in package names: ``my-app`` is checked as ``my_app``.
    """
    if not slug:
        return "the app name is empty"
    module = slug.replace("-", "_")
    if not (
        module.isidentifier() and module.isascii() and slug[0].isalpha() and slug == slug.lower()
    ):
        suggestion = "".join(c if c.isalnum() or c in "-_" else "_" for c in slug.lower()).strip(
            "-_"
        )
        hint = f" (try {suggestion!r})" if suggestion and suggestion[0].isalpha() else ""
        return (
            f"{slug!r} is not a valid app name: use lowercase letters, digits, dashes and "
            f"underscores, starting with a letter{hint}"
        )
    if keyword.iskeyword(module):
        return f"{slug!r} is a Python keyword and cannot name an app"
    if module in RESERVED_SLUGS:
        return f"{slug!r} would shadow a package of the app or of RouteMQ; choose another name"
    return None


def parse_data(items: list[str]) -> dict[str, str]:
    """``["key=value", ...]`` → answers; raises ValueError naming an item that is not KEY=VALUE."""
    answers: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--data {item!r} is not KEY=VALUE (e.g. --data mqtt_port=1884)")
        answers[key.strip()] = value
    return answers


def questions() -> dict[str, dict[str, Any]]:
    """The questions a user answers, by name (computed, never-asked values left out)."""
    # PyYAML comes with copier; only the project commands load it.
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    config = yaml.load((template_root() / "copier.yml").read_text(encoding="utf-8"), loader)
    return {
        name: spec
        for name, spec in config.items()
        if not name.startswith("_") and not (isinstance(spec, dict) and spec.get("when") is False)
    }


@contextmanager
def plain_template_copy() -> Iterator[Path]:
    """The template as a plain directory copier renders as it is, offline.

    copier treats a directory that is a git repository's root as a git template (it clones it
    and picks the latest tag). A source checkout is such a root, so its template is copied to a
    temporary directory first; the installed package's copy is used in place.
    """
    root = template_root()
    if not (root / ".git").exists():
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="routemq-template-") as tmp:
        shutil.copy2(root / "copier.yml", Path(tmp) / "copier.yml")
        shutil.copytree(root / "template", Path(tmp) / "template", ignore=_COPY_IGNORE)
        yield Path(tmp)


def record_source(app_dir: Path, root: Path, src_path: str, commit: str) -> None:
    """Rewrite the answers file as a render from ``src_path`` at tag ``commit`` would write it.

    The file is rendered again from the template's own answers-file template, with the same
    filter copier uses, so it is byte for byte what ``copier copy --vcs-ref <commit>`` writes.
    """
    # Loaded only to write an answers file.
    import yaml
    from jinja2 import Environment

    answers_path = app_dir / ANSWERS_FILE
    answers: Mapping[str, Any] = yaml.safe_load(answers_path.read_text(encoding="utf-8")) or {}
    remembered = {"_commit": commit, "_src_path": src_path}
    remembered.update((k, v) for k, v in answers.items() if not k.startswith("_"))
    source = (root / "template" / APP_DIR_TEMPLATE / ANSWERS_TEMPLATE).read_text(encoding="utf-8")
    env = Environment(
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
        keep_trailing_newline=True,
        autoescape=False,
    )
    answers_path.write_text(env.from_string(source).render(_copier_answers=remembered))


def app_files(app_dir: Path) -> list[Path]:
    """The app's files, sorted, without git's own."""
    return sorted(
        p for p in app_dir.rglob("*") if p.is_file() and ".git" not in p.relative_to(app_dir).parts
    )


def prune_empty_dirs(app_dir: Path) -> None:
    """Remove folders left empty by optional files that were not selected (e.g. ``k8s/``)."""
    folders = [
        p for p in app_dir.rglob("*") if p.is_dir() and ".git" not in p.relative_to(app_dir).parts
    ]
    for path in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()
