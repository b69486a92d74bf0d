import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from routemq_runtime import Context, Middleware

logger = logging.getLogger(__name__)


class TimingMiddleware(Middleware):
    """Logs how long each message took to handle, at DEBUG level."""

    async def handle(self, context: Context, call_next: Callable[[Context], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        try:
            return await call_next(context)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.debug("%s handled in %.2f ms", context.topic, elapsed_ms)
