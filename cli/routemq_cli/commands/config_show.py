"""``config:show``: the settings the app would run with, where each comes from, secrets masked."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from routemq_cli.commands.app_dir import find_app_dir
from routemq_cli.commands.output import fail, table
from routemq_cli.generators.errors import GeneratorError


def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print the settings as JSON.")] = False,
) -> None:
    """Show every setting the app would run with and where it comes from (secrets masked)."""
    try:
        app_dir = find_app_dir()
    except GeneratorError as error:
        fail(error)
    # Heavy imports inside the command: other commands must not pay for them.
    from dotenv import dotenv_values

    from routemq_runtime.config import Config, ConfigError

    env_file = app_dir / ".env"
    try:
        config = Config.from_env(env_file=env_file)
    except ConfigError as error:
        fail(str(error), hint="fix the variables in .env or the environment")
    dotenv = dotenv_values(env_file) if env_file.is_file() else {}

    def source(name: str) -> str:
        # The same precedence as Config.from_env: the real environment wins over .env.
        for variable, label in ((name, "environment"), (f"{name}_FILE", "environment (file)")):
            if variable in os.environ:
                return label
        for variable, label in ((name, ".env"), (f"{name}_FILE", ".env (file)")):
            if dotenv.get(variable) is not None:
                return label
        return "default"

    settings = [
        {"variable": name, "value": value, "source": source(name)}
        for name, value in config.redacted().items()
    ]
    if as_json:
        import json

        typer.echo(json.dumps(settings, indent=2))
        return
    rows = [
        [s["variable"], "-" if s["value"] is None else str(s["value"]), s["source"]]
        for s in settings
    ]
    typer.echo(table(["VARIABLE", "VALUE", "SOURCE"], rows))
