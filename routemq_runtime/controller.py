"""Controllers group related handlers, Laravel style.

Handlers may be ``async def process(self, device_id, payload)`` (an instance is created once per
worker process, on first use, so ``__init__`` can open per-process resources) or static methods
in the original RouteMQ style.
"""

from __future__ import annotations

import logging


class Controller:
    """Base class for controllers; gives each one a logger named after it."""

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(f"routemq.controllers.{type(self).__name__}")
