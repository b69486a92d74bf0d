"""Load an app directory's router without touching MQTT (used by `run` and `route:list`)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from routemq_runtime.routing import Router, RouterLoadError, RouterRegistry

ROUTERS_PACKAGE = "app.routers"
#: What makes a directory an app: its routers package.
ROUTERS_DIR = Path(*ROUTERS_PACKAGE.split("."))


class AppNotFoundError(FileNotFoundError):
    """The directory is not a RouteMQ app (it has no app/routers package)."""


def find_app_dir(start: str | Path = ".") -> Path:
    """The directory, or the nearest parent, that contains ``app/routers/``."""
    here = Path(start).resolve()
    for candidate in (here, *here.parents):
        if (candidate / ROUTERS_DIR).is_dir():
            return candidate
    raise AppNotFoundError(
        f"no RouteMQ app found: looked for an 'app/routers/' directory in {here} and its parents"
    )


def prepare_app_path(app_dir: str | Path) -> Path:
    """Make the app's packages importable and load its ``.env`` (the real environment wins)."""
    app_dir = Path(app_dir).resolve()
    if not (app_dir / ROUTERS_DIR).is_dir():
        raise AppNotFoundError(f"{app_dir} is not a RouteMQ app: it has no app/routers/ directory")
    path = str(app_dir)
    if path in sys.path:
        sys.path.remove(path)
    sys.path.insert(0, path)
    env_file = app_dir / ".env"
    if env_file.is_file():
        from dotenv import load_dotenv

        load_dotenv(env_file, override=False)
    return app_dir


def load_app_router(app_dir: str | Path = ".") -> Router:
    """The app's merged Router: ``bootstrap/app.py``'s ``load_router()`` when it defines one."""
    app_dir = prepare_app_path(app_dir)
    if (app_dir / "bootstrap" / "app.py").is_file():
        try:
            bootstrap = importlib.import_module("bootstrap.app")
        except Exception as error:
            raise RouterLoadError(
                f"could not import bootstrap.app: {type(error).__name__}: {error}"
            ) from error
        load_router = getattr(bootstrap, "load_router", None)
        if callable(load_router):
            router = load_router()
            if not isinstance(router, Router):
                raise RouterLoadError(
                    f"bootstrap.app.load_router() returned {type(router).__name__}, not a Router"
                )
            return router
    return RouterRegistry(ROUTERS_PACKAGE).discover_and_load_routers()
