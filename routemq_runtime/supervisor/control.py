"""The design page's handle-level control of a WorkerManager: ``workers``,
``start_single_worker()`` and ``restart_worker()``, over the supervisor's slot table.

The supervisor already restarts a dead worker in its slot (same worker id, same client id, so
it gets its broker session back); these calls wait for that instead of starting a second copy,
and add a worker to a route only when no slot is waiting for its process.
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

from routemq_runtime.supervisor.handles import HandleFile, WorkerHandle, WorkerList, handles_of

if TYPE_CHECKING:
    from routemq_runtime.supervisor.arbiter import Arbiter

_POLL = 0.05


class WorkerControl:
    """Mixed into :class:`~routemq_runtime.supervisor.manager.WorkerManager`."""

    _arbiter: Arbiter | None
    _handle_file: HandleFile | None
    _background_pid: int | None

    @property
    def workers(self) -> WorkerList:
        """Live handles on the worker processes (``.pid``, ``.is_alive()``, ``.worker_id``,
        ``.route``, ``.client_id``), ordered by worker id; from ``run()`` (any thread) and
        after ``start_workers()`` alike. A fresh copy on every read."""
        if self._arbiter is not None:
            return handles_of(self._arbiter.snapshot())
        if self._background_pid is not None and self._handle_file is not None:
            return self._handle_file.read()
        return WorkerList()

    def _next_worker_number(self) -> int:
        """The lowest worker id no slot holds (a restarted slot keeps its own)."""
        taken = (
            {s.spec.worker_number for s in self._arbiter.slots.values()} if self._arbiter else set()
        )
        number = 0
        while number in taken:
            number += 1
        return number

    def start_single_worker(self, route: str | None = None, timeout: float = 30.0) -> WorkerHandle:
        """A running worker more, as on the page; returns its handle.

        A slot whose process died is refilled first (the supervisor restarts it anyway, in the
        same slot). Otherwise ``route`` (a route key or pattern; default: the shared route with
        the fewest workers) gets one more slot, within its bounds; that needs the supervisor in
        this process (``run()``).
        """
        waiting = [h for h in self.workers if not h.is_alive()]
        if waiting and route is None:
            return self._wait_for(waiting[0].slot_id, None, timeout)
        arbiter = self._arbiter
        if arbiter is None:
            raise RuntimeError("start_single_worker() adds workers under run() in this process")
        key = self._route_key(arbiter, route)
        index = arbiter.targets[key]
        if arbiter.scale_route(key, index + 1) == index:
            raise RuntimeError(f"route {key} is at its maximum of {index} worker(s)")
        slot_key = arbiter.settings.slot_key(key)
        return self._wait_for(f"{slot_key}-{index}", None, timeout)

    def restart_worker(self, worker: WorkerHandle, timeout: float = 30.0) -> WorkerHandle:
        """Restart ``worker`` in its slot (killed if still alive); returns the new handle."""
        if worker.is_alive() and worker.pid:
            os.kill(worker.pid, signal.SIGKILL)
        return self._wait_for(worker.slot_id, worker.pid, timeout)

    def _route_key(self, arbiter: Arbiter, route: str | None) -> str:
        shared = {k: p for k, p in arbiter.plans.items() if p.shared}
        if not shared:
            raise RuntimeError("no shared route to add a worker to")
        if route is None:
            return min(shared, key=lambda k: arbiter.targets[k])
        for key, plan in shared.items():
            if route == key or route in plan.patterns:
                return key
        raise KeyError(f"no shared route {route!r}")

    def _wait_for(self, slot_id: str, old_pid: int | None, timeout: float) -> WorkerHandle:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for handle in self.workers:
                if handle.slot_id == slot_id and handle.pid != old_pid and handle.is_alive():
                    return handle
            time.sleep(_POLL)
        raise TimeoutError(f"worker {slot_id} did not start within {timeout:.0f} s")
