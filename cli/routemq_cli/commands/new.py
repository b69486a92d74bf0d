"""``routemq new NAME``: create an app from the RouteMQ template, ready for ``routemq upgrade``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from routemq_cli import app_install, provenance, templating
from routemq_cli.commands.output import action, fail
from routemq_cli.provenance import Provenance

NameArgument = Annotated[
    str, typer.Argument(help="Directory of the new app; its last part is the app's slug.")
]
DefaultsOption = Annotated[
    bool, typer.Option("--defaults", help="Accept the default of every unanswered question.")
]
DataOption = Annotated[
    list[str] | None,
    typer.Option("--data", "-d", metavar="KEY=VALUE", help="Answer a question (repeatable)."),
]
NoGitOption = Annotated[
    bool, typer.Option("--no-git", help="Do not run git init and the first commit.")
]
NoInstallOption = Annotated[
    bool,
    typer.Option("--no-install", help="Do not create .venv nor install the app and its dev tools."),
]
TemplateOption = Annotated[
    str | None,
    typer.Option(
        "--template",
        metavar="SRC",
        help="Render this template (git URL, gh:owner/repo or path), not the bundled one.",
    ),
]
VcsRefOption = Annotated[
    str | None,
    typer.Option(
        "--vcs-ref",
        metavar="REF",
        help="Render this tag or commit from git (--template, else the recorded source).",
    ),
]


def new(
    name: NameArgument,
    defaults: DefaultsOption = False,
    data: DataOption = None,
    no_git: NoGitOption = False,
    no_install: NoInstallOption = False,
    template: TemplateOption = None,
    vcs_ref: VcsRefOption = None,
) -> None:
    """Create a new RouteMQ app: code, tests, Docker and Kubernetes files, a git repo, and a
    .venv with the app and its dev tools installed."""
    target = Path(name).expanduser()
    answers, known = _checked_answers(target, data or [], template)
    if vcs_ref is not None and template is None:
        tag = templating.version_tag(templating.installed_version())
        template, _ = templating.release_source(templating.template_root(), tag)

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
        if isinstance(error, KeyboardInterrupt):
            fail("cancelled; nothing was created", code=130)
        fail(f"could not create {target}: {_describe(error)}")

    templating.prune_empty_dirs(target)
    for path in templating.app_files(target):
        action("CREATE", str(path))
    origin = provenance.current()
    # Wheels that exist are copied even without an install: the Dockerfile needs them too.
    # Building them from a checkout is left to the install, which needs them at once.
    place = not origin.from_index and (not no_install or origin.runtime.kind == "wheel")
    with_wheels = bool(place and _place_wheels(target, origin))
    committed = False if no_git else _git_first_commit(target, version, git_init)
    installed = False if no_install else _install(target, with_wheels)
    _print_next_steps(target, version, committed, no_git, installed, origin)


def _checked_answers(
    target: Path, data: list[str], template: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers given on the command line and the template's questions; exits on bad ones."""
    try:
        answers: dict[str, Any] = dict(templating.parse_data(data))
    except ValueError as error:
        fail(str(error))
    answers.setdefault("project_slug", target.name)
    problem = templating.slug_error(str(answers["project_slug"]))
    if problem:
        fail(problem, hint="e.g. routemq new my-app")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        fail(
            f"{target} already exists and is not an empty directory",
            hint="choose a new name, or empty that directory first",
        )
    known = templating.questions()
    unknown = sorted(set(answers) - set(known))
    if template is None and unknown:
        fail(
            f"unknown question(s) in --data: {', '.join(unknown)}",
            hint=f"the questions are: {', '.join(sorted(known))}",
        )
    return answers, known


#: Words a display name spells as their owners do ("my_routemq_app" → "My RouteMQ App").
DISPLAY_WORDS = {"routemq": "RouteMQ", "mqtt": "MQTT", "iot": "IoT", "api": "API"}


def display_name(slug: str) -> str:
    """The app's display name, made from its slug as copier makes the slug from the name."""
    words = slug.replace("-", "_").split("_")
    return " ".join(DISPLAY_WORDS.get(w, w.title()) for w in words if w)


def _user_defaults(slug: str, known: dict[str, Any]) -> dict[str, Any]:
    """Defaults that fit this user better than the template's own (still only defaults)."""
    # The app's name doubles as its display name; every other default is the template's.
    return {"project_name": display_name(slug)} if "project_name" in known else {}


def _render(
    target: Path,
    answers: dict[str, Any],
    template: str | None,
    vcs_ref: str | None,
    interactive: bool,
    user_defaults: dict[str, Any],
) -> str:
    """Render the app and return the template version it records."""
    # copier costs about 0.35 s to import: only a render pays for it.
    import copier

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
        source, differs = templating.release_source(root, tag)
        templating.record_source(target, root, source, tag)
    if differs:
        typer.secho(
            f"warning: this template differs from the one released as {tag} in {source}; "
            "bump the version to release a template change, or `routemq upgrade` will merge "
            "against the older one",
            fg="yellow",
            err=True,
        )
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


def _place_wheels(target: Path, origin: Provenance) -> list[Path]:
    try:
        return app_install.place_wheels(target, origin, action)
    except app_install.InstallError as error:
        typer.secho(f"warning: {error}", fg="yellow", err=True)
        return []


def _install(target: Path, with_wheels: bool) -> bool:
    try:
        app_install.install(target, with_wheels, action)
    except app_install.InstallError as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        typer.secho(
            f"hint: the app is in {target}; fix the cause, then install it as shown below",
            fg="yellow",
            err=True,
        )
        return False
    return True


def _print_next_steps(
    target: Path, version: str, committed: bool, no_git: bool, installed: bool, origin: Provenance
) -> None:
    typer.echo("")
    typer.secho(f"Created the RouteMQ app {target.name} (template {version})", bold=True)
    if committed:
        typer.echo("Its files are in a new git repository, with a first commit.")
    elif no_git:
        typer.echo("Run `git init` and commit it before `routemq upgrade`.")
    if installed:
        typer.echo("The app and its dev tools are installed in its .venv.")
        steps = [f"cd {target}", ". .venv/bin/activate"]
    else:
        steps = [f"cd {target}", "python -m venv .venv && . .venv/bin/activate"]
        has_wheels = any((target / app_install.WHEELS_DIR).glob("routemq_*.whl"))
        if not origin.from_index and not has_wheels:
            # RouteMQ comes from a checkout no index holds: install it from there first.
            paths = (str(o.path) for o in (origin.runtime, origin.cli) if o.path is not None)
            steps.append(f"pip install {' '.join(paths)}")
        steps.append(app_install.shown(app_install.install_command(has_wheels)))
    steps += [
        "pytest                    # the app's tests, no broker needed",
        "routemq run --workers     # run it against MQTT_BROKER from .env",
    ]
    typer.echo("\nNext:")
    for line in steps:
        typer.echo(f"  {line}")
