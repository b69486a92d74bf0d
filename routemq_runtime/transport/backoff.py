"""Exponential backoff with jitter, shared by reconnects and handler retries."""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int, base: float, maximum: float, rng: random.Random | None = None
) -> float:
    """Delay before retry number ``attempt`` (1-based): ``base * 2**(attempt-1)`` capped at
    ``maximum``, then scaled by a random factor in [0.5, 1.0] so that many clients that failed
    together do not retry together."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    ceiling = min(maximum, base * (2 ** min(attempt - 1, 62)))
    return ceiling * (0.5 + 0.5 * (rng or random).random())
