"""RouterRegistry: discover every router module of a package and merge them."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from types import ModuleType

from routemq_runtime.routing.router import Router

logger = logging.getLogger("routemq.registry")


class RouterLoadError(RuntimeError):
    """A router module could not be imported or defines something that is not a Router."""


class RouterRegistry:
    """``RouterRegistry("app.routers").discover_and_load_routers()`` returns one merged Router.

    A module defining ``router`` contributes its routes; a module that fails to import stops
    start-up with its name and the error, never an empty router.
    """

    def __init__(self, router_directory: str = "app.routers") -> None:
        self.router_directory = router_directory
        self.modules: list[str] = []

    def _import(self, name: str) -> ModuleType:
        try:
            return importlib.import_module(name)
        except Exception as error:
            raise RouterLoadError(
                f"could not import router module {name!r}: {type(error).__name__}: {error}"
            ) from error

    def discover_and_load_routers(self) -> Router:
        package = self._import(self.router_directory)
        merged = Router()
        names = [self.router_directory]
        if hasattr(package, "__path__"):
            prefix = f"{self.router_directory}."
            found = pkgutil.walk_packages(package.__path__, prefix, onerror=self._walk_error)
            names += sorted(info.name for info in found)
        for name in names:
            module = self._import(name)
            router = getattr(module, "router", None)
            if router is None:
                continue
            if not isinstance(router, Router):
                raise RouterLoadError(
                    f"{name}.router is a {type(router).__name__}, not a routemq_runtime.Router"
                )
            merged.include(router)
            self.modules.append(name)
            logger.debug("loaded %d routes from %s", len(router.routes), name)
        return merged

    @staticmethod
    def _walk_error(name: str) -> None:
        raise RouterLoadError(f"could not import router package {name!r}")
