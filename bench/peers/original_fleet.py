"""The original RouteMQ's ``WorkerManager`` running a pod of shared routes, idle.

``--routes`` shared routes of ``--workers`` workers each, started the way its application starts
them (``WorkerManager.start_workers``: one forked ``multiprocessing.Process`` per unit of
``worker_count``). Its workers subscribe to every shared route each. The router is built here
rather than discovered from an ``app.routers`` package; nothing else is changed. Runs until
SIGTERM, then stops its workers.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from routemq.router import Router
from routemq.worker_manager import WorkerManager, WorkerProcess


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--routes", type=int, default=8)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--group", default="fleet")
    args = p.parse_args()
    os.environ.update(MQTT_BROKER="127.0.0.1", MQTT_PORT=str(args.port), LOG_LEVEL="WARNING")

    async def handle(device_id: str, payload: Any, client: Any) -> None:
        pass

    router = Router()
    for i in range(args.routes):
        router.on(f"fleet/r{i}/{{device_id}}/data", handle, qos=1, shared=True,
                  worker_count=args.workers)  # fmt: skip

    def setup_router(self: WorkerProcess) -> None:
        self.router = router

    WorkerProcess.setup_router = setup_router  # type: ignore[method-assign]
    manager = WorkerManager(router, group_name=args.group, router_directory="")
    manager.start_workers()
    # After the fork: the workers keep the default SIGTERM, which stop_workers() sends them.
    stopping = []
    signal.signal(signal.SIGTERM, lambda *a: stopping.append(1))
    sys.stdout.write(f"STARTED {manager.get_worker_count()}\n")
    sys.stdout.flush()
    while not stopping:
        time.sleep(1)  # the package leaves the main loop to the application
    manager.stop_workers()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
