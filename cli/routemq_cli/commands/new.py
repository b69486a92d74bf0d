"""``routemq new NAME``: create an app from the RouteMQ template, ready for ``routemq upgrade``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from routemq_cli.commands.output import action, fail


def new(
    name: Annotated[
        str, typer.Argument(help="Directory of the new app; its last part is the app's slug.")
    ],
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Accept the default of every unanswered question.")
    ] = False,
    data: Annotated[
        list[str] | None,
        typer.Option("--data", "-d", metavar="KEY=VALUE", help="Answer a question (repeatable)."),
    ] = None,
    no_git: Annotated[
        bool, typer.Option("--no-git", help="Do not run git init and the first commit.")
    ] = False,
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            metavar="SRC",
            help="Render this template (git URL, gh:owner/repo or path), not the bundled one.",
        ),
    ] = None,
    vcs_ref: Annotated[
        str | None,
        typer.Option(
            "--vcs-ref",
            metavar="REF",
            help="Render this tag or commit from git (--template, else the recorded source).",
        ),
    ] = None,
) -> None:
    """Create a new RouteMQ app: code, tests, Docker and Kubernetes files, and a git repo."""
    from routemq_cli import templating

    target = Path(name).expanduser()
    try:
        answers: dict[str, Any] = dict(templating.parse_data(data or []))
    except ValueError as error:
        fail(str(error))
    answers.setdefault("project_slug", target.name)
    problem = templating.slug_error(str(answers["project_slug"]))
    if problem:
        fail(problem, hint="e.g. routemq new my_app")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        fail(
            f"{target} already exists and is not an empty directory",
            hint="choose a new name, or empty that directory first",
        )
    known = templating.questions()
    if template is None:
        unknown = sorted(set(answers) - set(known))
        if unknown:
            fail(
                f"unknown question(s) in --data: {', '.join(unknown)}",
                hint=f"the questions are: {', '.join(sorted(known))}",
            )
    if vcs_ref is not None and template is None:
        template = templating.template_source()

    user_defaults = _user_defaults(str(answers["project_slug"]), known)
    interactive = not defaults and sys.stdin.isatty()
    existed = target.exists()
    # `git init` runs while copier renders: creating the repository then costs almost nothing.
    git_init = None if no_git else _start_git_init(target)
    try:
        version = _render(target, answers, template, vcs_ref, interactive, user_defaults)
    except (Exception, KeyboardInterrupt) as error:
        if git_init is not None:
            git_init.communicate()
        _remove_partial(target, existed)
        fail(f"could not create {target}: {_describe(error)}")

    templating.prune_empty_dirs(target)
    for path in templating.app_files(target):
        action("CREATE", str(path))
    committed = False if no_git else _git_first_commit(target, version, git_init)
    _print_next_steps(target, version, committed, no_git)


def _user_defaults(slug: str, known: dict[str, Any]) -> dict[str, Any]:
    """Defaults that fit this user better than the template's own (still only defaults)."""
    # The app's name doubles as its display name ("my_app" → "My App").
    proposed: dict[str, Any] = {"project_name": slug.replace("_", " ").title()}
    # The app targets the Python that created it, so it installs right here.
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running in known.get("python_version", {}).get("choices", ()):
        proposed["python_version"] = running
    return proposed


def _render(
    target: Path,
    answers: dict[str, Any],
    template: str | None,
    vcs_ref: str | None,
    interactive: bool,
    user_defaults: dict[str, Any],
) -> str:
    """Render the app and return the template version it records."""
    import copier

    from routemq_cli import templating

    if template is not None:
        worker = copier.run_copy(
            template,
            target,
            data=answers,
            user_defaults=user_defaults,
            vcs_ref=vcs_ref,
            defaults=not interactive,
            quiet=True,
        )
        if worker.template.commit is None:
            typer.secho(
                f"warning: {template} is not a git repository, so the app records no template "
                "version and `routemq upgrade` cannot update it",
                fg="yellow",
                err=True,
            )
            return "(unversioned)"
        return worker.template.commit

    version = templating.installed_version()
    tag = templating.version_tag(version)
    with templating.plain_template_copy() as root:
        copier.run_copy(
            str(root),
            target,
            data={"routemq_version": version, **answers},
            user_defaults=user_defaults,
            defaults=not interactive,
            quiet=True,
        )
        templating.record_source(target, root, templating.template_source(), tag)
    return tag


def _describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[-1] if "Validation error" not in text else text


def _remove_partial(target: Path, existed: bool) -> None:
    """Leave the disk as it was: nothing of a failed render stays behind."""
    if not target.exists():
        return
    if existed:
        for child in target.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    else:
        shutil.rmtree(target)


def _start_git_init(target: Path) -> subprocess.Popen[str] | None:
    if shutil.which("git") is None:
        return None
    target.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        ["git", "init", "--quiet"],
        cwd=target,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _git_first_commit(target: Path, version: str, git_init: subprocess.Popen[str] | None) -> bool:
    if git_init is None:
        typer.secho("warning: git was not found; no repository was created", fg="yellow", err=True)
        return False
    _, init_errors = git_init.communicate()
    results = [(["git", "init"], git_init.returncode, init_errors)]
    message = f"Create {target.name} from the RouteMQ template {version}"
    for step in (["git", "add", "--all"], ["git", "commit", "--quiet", "-m", message]):
        if results[-1][1] != 0:
            break
        done = subprocess.run(step, cwd=target, capture_output=True, text=True)
        results.append((step, done.returncode, done.stderr))
    step, returncode, errors = results[-1]
    if returncode == 0:
        return True
    typer.secho(f"warning: `{' '.join(step[:2])}` failed: {errors.strip()}", fg="yellow", err=True)
    typer.secho(
        "hint: commit the app yourself; `routemq upgrade` needs a clean git repository",
        fg="yellow",
        err=True,
    )
    return False


def _print_next_steps(target: Path, version: str, committed: bool, no_git: bool) -> None:
    typer.echo("")
    typer.secho(f"Created the RouteMQ app {target.name} (template {version})", bold=True)
    if committed:
        typer.echo("Its files are in a new git repository, with a first commit.")
    elif no_git:
        typer.echo("Run `git init` and commit it before `routemq upgrade`.")
    typer.echo("\nNext:")
    for line in (
        f"cd {target}",
        "python -m venv .venv && . .venv/bin/activate",
        'pip install -e ".[dev]"',
        "pytest                    # the app's tests, no broker needed",
        "python main.py --workers  # run it against MQTT_BROKER from .env",
    ):
        typer.echo(f"  {line}")
