"""Where the current app lives: the working directory, or its nearest parent, with app/routers/."""

from __future__ import annotations

from pathlib import Path

from routemq_cli.generators.errors import GeneratorError

# The runtime's ROUTERS_PACKAGE as a path, and the same upward search as its find_app_dir:
# written out here because make:* must not import the runtime (a test keeps the two equal).
MARKER = Path("app") / "routers"


class AppDirNotFound(GeneratorError):
    """The command runs outside a RouteMQ app."""


def find_app_dir(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / MARKER).is_dir():
            return candidate
    raise AppDirNotFound(
        f"not inside a RouteMQ app: looked for an '{MARKER.as_posix()}/' directory in {here} "
        "and its parents",
        hint="cd into an app created by `routemq new`",
    )
