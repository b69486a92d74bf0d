"""``docs:asyncapi``: the app's AsyncAPI 3.0 document (built by the runtime), as JSON or YAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from routemq_cli.commands.app_routes import load_app
from routemq_cli.commands.output import action, fail


def docs_asyncapi(
    as_yaml: Annotated[bool, typer.Option("--yaml", help="Write YAML instead of JSON.")] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of standard output."),
    ] = None,
) -> None:
    """Write an AsyncAPI 3.0 document of the app: broker, topics, payload schemas, replies."""
    app_dir, router, config = load_app()
    # Heavy imports inside the command: other commands must not pay for them.
    from routemq_runtime.asyncapi import asyncapi_document

    title, version = app_identity(app_dir, config.app_name)
    document = asyncapi_document(router, config, title=title, version=version)
    text = render_yaml(document) if as_yaml else json.dumps(document, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    action("CREATE", str(output))


def app_identity(app_dir: Path, fallback: str) -> tuple[str, str]:
    """The app's name and version from its ``pyproject.toml`` (settings' app name otherwise)."""
    import tomllib  # only this command reads the app's project file

    try:
        project = tomllib.loads((app_dir / "pyproject.toml").read_text()).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        project = {}
    return str(project.get("name") or fallback), str(project.get("version") or "0.1.0")


def render_yaml(document: dict[str, Any]) -> str:
    try:
        import yaml  # PyYAML comes with copier; only --yaml needs it
    except ImportError:
        fail("--yaml needs PyYAML", hint="pip install pyyaml, or leave out --yaml for JSON")
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
