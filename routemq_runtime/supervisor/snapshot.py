"""Read-only copies of the slot table, for the health endpoint.

The health server answers on its own thread while the loop mutates the table; it reads a
frozen snapshot the loop publishes once per pass instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from routemq_runtime.supervisor.slot import Slot


@dataclass(frozen=True)
class SlotView:
    """A read-only copy of one slot, for the health endpoint (which runs on another thread)."""

    slot_id: str
    route_key: str
    index: int
    client_id: str
    pid: int | None
    state: str
    restarts: int
    adopted: bool = False
    worker_id: int = -1
    patterns: tuple[str, ...] = ()
    shared: bool = True


@dataclass(frozen=True)
class Snapshot:
    tick: float
    stopping: bool
    slots: tuple[SlotView, ...]
    #: The broker passed the start-up checks and no own leftover session waits to be retired.
    broker_checked: bool = True


def take_snapshot(
    slots: Iterable[Slot], tick: float, stopping: bool, broker_checked: bool = True
) -> Snapshot:
    """A snapshot of ``slots``, ordered by route and index."""
    views = tuple(
        SlotView(
            s.slot_id,
            s.route_key,
            s.index,
            s.spec.client_id,
            s.pid,
            s.state,
            s.deaths.total,
            s.adopted,
            s.spec.worker_number,
            s.spec.route_patterns,
            s.spec.shared,
        )
        for s in sorted(slots, key=lambda s: (s.route_key, s.index))
    )
    return Snapshot(tick, stopping, views, broker_checked)
