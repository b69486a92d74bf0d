"""WorkerHealthMonitor: the design page's asyncio health loop over ``WorkerManager.workers``.

The supervisor already restarts a dead worker in its slot within its backoff; the monitor
notices the death, logs it as the page does and waits for (and returns) the replacement, so
code written for the page runs unchanged and nothing is started twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from routemq_runtime.supervisor.handles import WorkerHandle

if TYPE_CHECKING:
    from routemq_runtime.supervisor.manager import WorkerManager


class WorkerHealthMonitor:
    """Checks every worker each ``interval`` seconds (30, as on the page)."""

    def __init__(self, worker_manager: WorkerManager, interval: float = 30.0) -> None:
        self.worker_manager = worker_manager
        self.interval = interval
        #: Per worker id: pid, alive, state, restarts and when it was last checked.
        self.health_checks: dict[int, dict[str, Any]] = {}
        self.restarted: list[WorkerHandle] = []
        self.running = True
        self.logger = logging.getLogger("routemq.supervisor.monitor")

    async def monitor_workers(self) -> None:
        """Check, restart the dead, sleep; until ``running`` is set to False."""
        while self.running:
            await self.check_workers()
            await asyncio.sleep(self.interval)

    async def check_workers(self) -> list[WorkerHandle]:
        """One pass: the replacements of the workers found dead."""
        replaced = []
        for worker in self.worker_manager.workers:
            alive = worker.is_alive()
            self.health_checks[worker.worker_id] = {
                "pid": worker.pid,
                "alive": alive,
                "state": worker.state,
                "restarts": worker.restarts,
                "checked": time.time(),
            }
            if not alive:
                self.logger.error("Worker %s died, restarting...", worker.pid)
                replaced.append(await self.restart_worker(worker))
        return replaced

    async def restart_worker(self, failed_worker: WorkerHandle) -> WorkerHandle:
        """The page's steps; the new process fills the same slot (same id, same session)."""
        self.worker_manager.workers.remove(failed_worker)
        # Waiting for the supervisor blocks: off the event loop.
        new_worker = await asyncio.to_thread(self.worker_manager.restart_worker, failed_worker)
        self.worker_manager.workers.append(new_worker)
        self.restarted.append(new_worker)
        return new_worker
