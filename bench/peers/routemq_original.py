"""One worker of the original RouteMQ (the ``routemq`` distribution on PyPI), run as its
``WorkerManager`` runs each worker: ``WorkerProcess.run()`` with paho's network thread, a
dispatch event loop in a second thread, and the router's ``dispatch``.

Two things are changed, both about session identity and neither on the message path: the router
is built here rather than discovered from an ``app.routers`` package, and the worker connects
with a fixed client id and ``clean_session=False``. The shipped worker uses a random client id
with a clean session, which cannot resume the queued backlog every system drains here.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import threading
import types
from importlib.metadata import version
from typing import Any

import paho.mqtt.client as paho
import routemq.mqtt_utils
import routemq.worker_manager
from routemq.router import Router
from routemq.worker_manager import WorkerProcess
from workload import (
    HOT_PATTERN,
    IO_DELAY,
    Tally,
    burn_cpu,
    parser,
    report,
    route_patterns,
    stop_when_idle,
    wait_for_go,
)


def main() -> int:
    args = parser(__doc__.splitlines()[0]).parse_args()
    if args.protocol != "3.1.1":
        raise SystemExit("routemq_original: its workers speak MQTT 3.1.1 only")
    tally = Tally.from_args(args)

    def done() -> None:
        # The worker's main loop stops on KeyboardInterrupt, as with Ctrl+C.
        os.kill(os.getpid(), signal.SIGINT)

    async def plain(device_id: str, payload: Any, client: Any) -> None:
        if tally.tick():
            done()

    async def io_bound(device_id: str, payload: Any, client: Any) -> None:
        await asyncio.sleep(IO_DELAY)
        if tally.tick():
            done()

    async def cpu_bound(device_id: str, payload: Any, client: Any) -> None:
        burn_cpu()
        if tally.tick():
            done()

    async def stamped(device_id: str, payload: Any, client: Any) -> None:
        if tally.stamp(payload) | tally.tick():
            done()

    async def other(payload: Any, client: Any, **params: str) -> None:
        raise AssertionError("only the hot route receives messages")

    handler = {"plain": plain, "io": io_bound, "cpu": cpu_bound, "latency": stamped}[args.handler]
    router = Router()
    for pattern in route_patterns(args.routes):
        router.on(pattern, handler if pattern == HOT_PATTERN else other, qos=args.qos, shared=True)

    routemq.worker_manager.build_worker_client_id = lambda worker_id, prefix: args.client_id
    routemq.mqtt_utils.mqtt_client = types.SimpleNamespace(
        Client=functools.partial(paho.Client, clean_session=False)
    )

    class BenchWorker(WorkerProcess):
        def setup_router(self) -> None:
            self.router = router

    shared_routes = [
        {"topic": r.topic, "mqtt_topic": r.mqtt_topic, "qos": r.qos, "worker_count": 1}
        for r in router.routes
    ]
    broker = {"broker": args.host, "port": str(args.port), "client_id_prefix": "bench"}
    worker = BenchWorker(0, "", shared_routes, broker, args.group)
    idle = (tally, args.idle, signal.SIGINT)
    threading.Thread(target=stop_when_idle, args=idle, daemon=True).start()
    routemq.worker_manager.configure_logging(log_to_console=True)
    wait_for_go(tally)
    worker.run()
    report(tally, routemq=version("routemq"), paho=version("paho-mqtt"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
