"""Waiting for a condition in tests: poll a check until it holds or the time is up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(check: Callable[[], T], timeout: float, interval: float = 0.02) -> T | None:
    """Call ``check`` until it returns something truthy and return that; ``None`` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    return None


def wait_for(
    check: Callable[[], T], timeout: float = 10.0, what: str = "condition", interval: float = 0.02
) -> T:
    """Like :func:`poll`, but a timeout fails the test, naming ``what`` it waited for."""
    result = poll(check, timeout, interval)
    if not result:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")
    return result


async def until(check: Callable[[], object], timeout: float = 2.0, interval: float = 0.0) -> None:
    """On a running loop: yield to it until ``check()`` holds; a timeout fails the test."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"condition not met within {timeout} s"
        await asyncio.sleep(interval)
