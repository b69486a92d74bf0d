"""The app in (or above) the working directory, loaded as the runtime loads it: its directory,
router and settings, or one clear line and exit 1 (for ``route:list`` and ``docs:asyncapi``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from routemq_cli.commands.app_dir import find_app_dir
from routemq_cli.commands.output import fail
from routemq_cli.generators.errors import GeneratorError

if TYPE_CHECKING:
    from routemq_runtime.config import Config
    from routemq_runtime.routing import Router


def load_app() -> tuple[Path, Router, Config]:
    try:
        app_dir = find_app_dir()
    except GeneratorError as error:
        fail(error)
    # The runtime loads routers without paho-mqtt, so these commands stay quick.
    from routemq_runtime.app_loader import load_app_router
    from routemq_runtime.config import Config, ConfigError

    try:
        router = load_app_router(app_dir)
    except Exception as error:
        fail(f"could not load the app's routes: {type(error).__name__}: {error}")
    try:
        config = Config.from_env(env_file=app_dir / ".env")
    except ConfigError as error:
        fail(f"invalid configuration: {error}", hint="fix the variables in .env or the environment")
    return app_dir, router, config
