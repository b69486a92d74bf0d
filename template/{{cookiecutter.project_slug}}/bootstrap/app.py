"""Builds the app's router; the runtime calls ``load_router()`` at start-up."""

from routemq_runtime import Router, RouterRegistry


def load_router() -> Router:
    # Every module of app/routers that defines `router` is merged in: a new router module
    # needs no registration here.
    return RouterRegistry("app.routers").discover_and_load_routers()
