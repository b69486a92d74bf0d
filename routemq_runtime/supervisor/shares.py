"""Sharing a total number of worker processes out over the shared routes.

``num_workers`` / ``WORKER_COUNT`` / ``--num-workers`` name the worker processes of one
instance (one pod), as on the original design page; each shared route takes a part in
proportion to its own ``worker_count``, and never less than one (a route nobody subscribes to
would lose its messages).
"""

from __future__ import annotations

from collections.abc import Sequence


def share_out(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder), at least 1 each.

    When ``total`` is smaller than the number of weights every part is 1, so the sum is then
    larger than ``total``; otherwise the parts add up to ``total`` exactly.
    """
    if not weights:
        return []
    if total <= len(weights):
        return [1] * len(weights)
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    parts = [int(x) for x in exact]
    # Ties go to the earlier route: the order routes were declared in is the only stable one.
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    # A route whose share rounded to zero takes one from the largest part.
    for i, part in enumerate(parts):
        if part == 0:
            largest = max(range(len(parts)), key=lambda j: parts[j])
            parts[largest] -= 1
            parts[i] = 1
    return parts
