"""``routemq upgrade``: bring an app up to a newer template version with ``copier update``.

copier merges the template's changes into the app and keeps the user's edits; where both touched
the same lines it leaves conflict markers (or ``.rej`` files) and still exits 0. This command
looks for them afterwards and fails, naming the files, so a script or CI never commits them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from routemq_cli import app_install, provenance, template_releases, templating
from routemq_cli.commands.output import action, fail

CONFLICT_START = "<<<<<<< "
CONFLICT_END = ">>>>>>> "
#: git status codes of paths left unmerged.
UNMERGED = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}


VcsRefOption = Annotated[
    str | None,
    typer.Option(
        "--vcs-ref",
        metavar="REF",
        help="Template tag or commit to upgrade to (default: the latest tag).",
    ),
]
PathOption = Annotated[
    Path, typer.Option("--path", help="The app directory.", show_default="current directory")
]
DefaultsOption = Annotated[
    bool,
    typer.Option("--defaults", help="Keep earlier answers; accept defaults for new questions."),
]
DataOption = Annotated[
    list[str] | None,
    typer.Option("--data", "-d", metavar="KEY=VALUE", help="Change an answer (repeatable)."),
]
TemplateOption = Annotated[
    str | None,
    typer.Option(
        "--template",
        metavar="SRC",
        help="Template source with version tags (a RouteMQ clone, git URL or gh:owner/repo) "
        "instead of the one the app records.",
    ),
]


def upgrade(
    vcs_ref: VcsRefOption = None,
    path: PathOption = Path("."),
    defaults: DefaultsOption = False,
    data: DataOption = None,
    template: TemplateOption = None,
) -> None:
    """Upgrade the app to a newer RouteMQ template, keeping your changes."""
    app_dir, answers_path, before = _app_to_upgrade(path)
    try:
        answers = templating.parse_data(data or [])
    except ValueError as error:
        fail(str(error))
    source = _reachable_source(template or before["_src_path"], answers_path, template is not None)
    _run_update(app_dir, answers_path, before, source, answers, vcs_ref, defaults)

    after = _read_answers(answers_path)
    changed = _git_status(app_dir)
    conflicts = find_conflicts(app_dir, changed)
    for relpath, code in sorted(changed.items()):
        if relpath not in conflicts:
            action("CREATE" if code.strip() in ("??", "A") else "UPDATE", relpath)
    old, new = before["_commit"], after.get("_commit", "?")
    if conflicts:
        for relpath in conflicts:
            action("CONFLICT", relpath)
        fail(
            f"upgrading from {old} to {new} left conflicts in {len(conflicts)} file(s): "
            + ", ".join(conflicts),
            hint="resolve the <<<<<<< / >>>>>>> markers (and any .rej files), then commit",
        )
    if not changed:
        typer.echo(f"Already up to date with the template ({old}).")
        return
    _refresh_wheels(app_dir, new)
    typer.secho(f"\nUpgraded from the template {old} to {new}.", bold=True)
    typer.echo(
        'Next: review `git diff`, reinstall (pip install --find-links wheels -e ".[dev]"), '
        "run pytest, commit."
    )


def _app_to_upgrade(path: Path) -> tuple[Path, Path, dict[str, Any]]:
    """The app's directory, its answers file and what that records; exits when it cannot be
    upgraded (no app, no recorded version, uncommitted changes)."""
    start = path.resolve()
    app_dir = next(
        (d for d in (start, *start.parents) if (d / templating.ANSWERS_FILE).is_file()), None
    )
    if app_dir is None:
        fail(
            f"{start} has no {templating.ANSWERS_FILE} (nor has any parent folder): it was not "
            "created from the RouteMQ template",
            hint="run this in a directory made by `routemq new`, or pass --path",
        )
    answers_path = app_dir / templating.ANSWERS_FILE
    before = _read_answers(answers_path)
    for key in ("_src_path", "_commit"):
        if not before.get(key):
            fail(
                f"{answers_path} records no {key}, so the template version it came from is unknown",
                hint="apps made by `routemq new` record it; add it by hand, e.g. _commit: v0.1.0",
            )
    dirty = _git_status(app_dir)
    if dirty:
        fail(
            f"{app_dir} has uncommitted changes: {', '.join(sorted(dirty)[:10])}"
            + (" ..." if len(dirty) > 10 else ""),
            hint="commit or stash them first, so the upgrade can be reviewed and undone",
        )
    return app_dir, answers_path, before


def _run_update(
    app_dir: Path,
    answers_path: Path,
    before: dict[str, Any],
    source: str,
    answers: dict[str, str],
    vcs_ref: str | None,
    defaults: bool,
) -> None:
    """``copier update`` from ``source``; any failure is one line, never a traceback."""
    # copier costs about 0.35 s to import: only an upgrade pays for it.
    import copier

    try:
        with _recorded_source(app_dir, answers_path, before, source):
            copier.run_update(
                dst_path=app_dir,
                data=answers,
                vcs_ref=vcs_ref,
                defaults=defaults or not sys.stdin.isatty(),
                overwrite=True,
                skip_answered=True,
                quiet=True,
                conflict="inline",
            )
    except KeyboardInterrupt:
        fail("cancelled", code=130)
    except Exception as error:
        # copier reports an unreachable git source as the git command's error (plumbum's
        # ProcessExecutionError).
        fail(
            f"the upgrade of {app_dir} from {source} failed: {_last_line(error)}",
            hint="check the template source, or name another with --template SRC",
        )


def _reachable_source(source: str, answers_path: Path, given: bool) -> str:
    """The template source to update from, made ready; exits with one line when it is not there.

    The local release repository first gains this CLI's own template version, so that installing
    a newer RouteMQ and running ``routemq upgrade`` applies it.
    """
    if templating.is_local_source(source):
        path = Path(source).expanduser()
        if path.resolve() == template_releases.repository().resolve():
            tag = templating.version_tag(templating.installed_version())
            try:
                template_releases.ensure_release(templating.template_root(), tag)
            except template_releases.ReleaseError as error:
                fail(str(error))
        if not (path / "copier.yml").is_file() and not (path / "copier.yaml").is_file():
            where = "given with --template" if given else f"recorded in {answers_path.name}"
            fail(
                f"the template source {source} ({where}) is not there: no copier.yml in it",
                hint="name one with --template SRC (a RouteMQ clone, with its version tags)",
            )
    return source


@contextmanager
def _recorded_source(
    app_dir: Path, answers_path: Path, answers: dict[str, Any], source: str
) -> Iterator[None]:
    """Let copier read ``source`` as the app's recorded template source during the update.

    copier renders the app's current version from the source its answers file records, and
    refuses a repository with uncommitted changes. So the new source is written there and
    committed for the update's duration; the commit is then undone (``git reset --soft``),
    leaving the change among the upgrade's own for the user to review.
    """
    if source == answers["_src_path"]:
        yield
        return
    text = answers_path.read_text(encoding="utf-8")
    old = f"_src_path: {answers['_src_path']}"
    answers_path.write_text(text.replace(old, f"_src_path: {source}", 1), encoding="utf-8")
    relpath = answers_path.relative_to(app_dir).as_posix()
    identity = ["-c", "user.name=RouteMQ", "-c", "user.email=routemq@localhost"]
    message = f"Take the RouteMQ template from {source}"
    _git(app_dir, *identity, "-c", "commit.gpgSign=false", "commit", "-q", "-m", message, relpath)
    try:
        yield
    finally:
        _git(app_dir, "reset", "--quiet", "--soft", "HEAD~1")


def _git(app_dir: Path, *args: str) -> None:
    done = subprocess.run(["git", *args], cwd=app_dir, capture_output=True, text=True)
    if done.returncode != 0:
        command = " ".join(a for a in args if not a.startswith(("-", "user.", "commit.")))
        fail(f"git {command} failed in {app_dir}: {done.stderr.strip()}")


def _refresh_wheels(app_dir: Path, tag: str) -> None:
    """Give the app this RouteMQ's wheels when it was upgraded to this RouteMQ's version."""
    origin = provenance.current()
    if origin.from_index or tag != templating.version_tag(origin.version):
        if any((app_dir / app_install.WHEELS_DIR).glob("routemq_*.whl")):
            typer.secho(
                f"warning: {app_install.WHEELS_DIR}/ still holds the wheels of an older RouteMQ; "
                f"place those of {tag} there (or upgrade with a RouteMQ of that version)",
                fg="yellow",
                err=True,
            )
        return
    try:
        app_install.place_wheels(
            app_dir,
            origin,
            lambda verb, path: action("UPDATE", str(Path(path).relative_to(app_dir))),
        )
    except app_install.InstallError as error:
        typer.secho(f"warning: {error}", fg="yellow", err=True)


def _last_line(error: BaseException) -> str:
    """The line of an error worth showing: git's first ``fatal:`` line, else the last one."""
    lines = [line.strip(" |\t") for line in str(error).strip().splitlines()]
    lines = [line.removeprefix("Stderr:").strip(" |") for line in lines if line]
    fatal = next((line[line.index("fatal:") :] for line in lines if "fatal:" in line), None)
    return fatal or (lines[-1] if lines else type(error).__name__)


def find_conflicts(app_dir: Path, changed: dict[str, str]) -> list[str]:
    """Files an update left unresolved: unmerged in git, with conflict markers, or ``.rej``."""
    found: list[str] = []
    for relpath, code in changed.items():
        file = app_dir / relpath
        if relpath.endswith(".rej") or code in UNMERGED or (file.is_file() and _has_markers(file)):
            found.append(relpath)
    return sorted(found)


def _has_markers(file: Path) -> bool:
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError):
        return False
    starts = any(line.startswith(CONFLICT_START) for line in lines)
    return starts and any(line.startswith(CONFLICT_END) for line in lines)


def _git_status(app_dir: Path) -> dict[str, str]:
    """Changed and untracked paths (relative to ``app_dir``) with their two-letter status."""
    result = subprocess.run(
        ["git", "status", "--porcelain", "-z", "--untracked-files=all", "--no-renames", "."],
        cwd=app_dir,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        fail(
            f"{app_dir} is not a git repository ({result.stderr.strip()})",
            hint="an upgrade merges into your committed files: run git init and commit first",
        )
    # Porcelain paths are relative to the repository root, which may be above the app.
    prefix = subprocess.run(
        ["git", "rev-parse", "--show-prefix"], cwd=app_dir, capture_output=True, text=True
    ).stdout.strip()
    return {
        entry[3:].removeprefix(prefix): entry[:2] for entry in result.stdout.split("\0") if entry
    }


def _read_answers(answers_path: Path) -> dict[str, Any]:
    # PyYAML comes with copier; only the project commands load it.
    import yaml

    return yaml.safe_load(answers_path.read_text(encoding="utf-8")) or {}
