"""Which slots a router needs: one per unit of each shared route's count, one for the rest.

Pure: no processes, no files. A *slot* is a place with a stable identity (route key + index)
that a worker process fills; when the process dies, its replacement fills the same slot, so it
reconnects with the same client id and receives what the broker kept for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from routemq_runtime.routing import Router
from routemq_runtime.routing.pattern import unique_key
from routemq_runtime.supervisor.shares import share_out

#: Key of the slot that serves every non-shared route with ordinary subscriptions.
DIRECT_KEY = "direct"


class PlanError(ValueError):
    """The router cannot be served as configured (no routes, bad counts)."""


@dataclass(frozen=True)
class RoutePlan:
    """How one shared route (or the group of non-shared routes) is served.

    ``count`` is the number of slots wanted now; ``minimum``/``maximum`` bound scaling.
    Non-shared routes always get exactly one slot: a second ordinary subscriber would receive
    every message again.
    """

    key: str
    patterns: tuple[str, ...]
    shared: bool
    count: int
    minimum: int = 1
    maximum: int = 1

    @property
    def scalable(self) -> bool:
        return self.shared

    def clamp(self, count: int) -> int:
        if not self.shared:
            return 1
        return max(self.minimum, min(self.maximum, count))


def _positive(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PlanError(f"{what} must be a positive integer, got {value!r}")
    return value


def plan_routes(
    router: Router,
    *,
    num_workers: int | None = None,
    auto_scale: bool = False,
    min_count: int = 1,
    max_count: int = 10,
) -> list[RoutePlan]:
    """Plan the slots for ``router``.

    ``num_workers``, when given, is the number of shared-route worker processes in total: it is
    shared out over the shared routes in proportion to their ``worker_count``, at least one
    each (:func:`share_out`). Without it each shared route gets its own ``worker_count``.
    With ``auto_scale`` the starting count is clamped to ``[min_count, max_count]`` and scaling
    stays inside those bounds; without it the bounds are the starting count and ``max_count``
    (manual scaling with SIGTTIN/SIGTTOU never goes below one slot).
    """
    num_workers = _positive(num_workers, "the number of workers")
    min_count = _positive(min_count, "WORKER_MIN_COUNT") or 1
    max_count = _positive(max_count, "WORKER_MAX_COUNT") or 1
    if min_count > max_count:
        raise PlanError(
            f"WORKER_MIN_COUNT ({min_count}) is greater than WORKER_MAX_COUNT ({max_count})"
        )
    routes = list(router.routes)
    if not routes:
        raise PlanError("the router has no routes: nothing to serve")

    shared = [r for r in routes if r.shared]
    direct = [r for r in routes if not r.shared]
    taken: set[str] = set()
    plans: list[RoutePlan] = []
    weights = [route.worker_count for route in shared]
    counts = share_out(num_workers, weights) if num_workers else weights
    for route, count in zip(shared, counts, strict=True):
        key = unique_key(route.key, taken)
        taken.add(key)
        if auto_scale:
            lo, hi = min_count, max_count
            count = max(lo, min(hi, count))
        else:
            lo, hi = 1, max(count, max_count)
        plans.append(RoutePlan(key, (route.pattern,), True, count, lo, hi))
    if direct:
        key = unique_key(DIRECT_KEY, taken)
        plans.append(RoutePlan(key, tuple(r.pattern for r in direct), False, 1, 1, 1))
    return plans


def slot_id(route_key: str, index: int) -> str:
    """The stable name of a slot: file names, logs and the worker id handlers see."""
    return f"{route_key}-{index}"
