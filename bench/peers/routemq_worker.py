"""One RouteMQ worker slot: the runtime's full path (route match, JSON payload injection, async
handler, retries and ordered acknowledgement after success), exactly as the supervisor runs it.

The slot serves every route of the router (1 or 1,000), subscribed through the shared group.
``--transport`` is its ``MQTT_TRANSPORT``; ``--no-orjson`` makes ``import orjson`` fail in this
process, as where orjson is not installed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from typing import Any

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


def hot_handler(kind: str, tally: Tally) -> Any:
    """The handler of the hot route for ``--handler kind``."""

    def done() -> None:
        # SIGTERM is how the supervisor stops a slot: it drains in-flight handlers first.
        os.kill(os.getpid(), signal.SIGTERM)

    async def plain(device_id: str, payload: Any) -> None:
        if tally.tick():
            done()

    async def io_bound(device_id: str, payload: Any) -> None:
        await asyncio.sleep(IO_DELAY)
        if tally.tick():
            done()

    async def cpu_bound(device_id: str, payload: Any) -> None:
        burn_cpu()
        if tally.tick():
            done()

    async def stamped(device_id: str, payload: Any) -> None:
        if tally.stamp(payload) | tally.tick():
            done()

    return {"plain": plain, "io": io_bound, "cpu": cpu_bound, "latency": stamped}[kind]


async def other(payload: Any) -> None:
    raise AssertionError("only the hot route receives messages")


def main() -> int:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--transport", choices=("native", "paho"), default="native")
    cli.add_argument("--no-orjson", action="store_true", help="make `import orjson` fail")
    args = cli.parse_args()
    if args.no_orjson:
        sys.modules["orjson"] = None  # type: ignore[assignment]
    # Here, after the line above: the runtime must not have looked for orjson yet.
    from routemq_runtime import Router, __version__
    from routemq_runtime.config import Config
    from routemq_runtime.transport import slot_transport
    from routemq_runtime.worker import SlotSpec, run_slot

    budget = os.environ.get("ROUTEMQ_BENCH_READ_BUDGET")
    if budget:
        # Diagnosis only: how many packets the slot reads per readable socket before handling.
        from routemq_runtime.transport import bridge

        bridge.READ_BUDGET = int(budget)
    tally = Tally.from_args(args)
    handler = hot_handler(args.handler, tally)
    router = Router()
    for pattern in route_patterns(args.routes):
        router.on(pattern, handler if pattern == HOT_PATTERN else other, qos=args.qos, shared=True)
    config = Config(
        mqtt_broker=args.host,
        mqtt_port=args.port,
        mqtt_protocol=args.protocol,
        worker_concurrency=args.concurrency,
        log_level="WARNING",
        mqtt_transport=args.transport,
    )
    spec = SlotSpec(
        slot_id=args.client_id,
        index=0,
        route_patterns=tuple(route.pattern for route in router.routes),
        shared=True,
        group=args.group,
        client_id=args.client_id,
        config=config,
        concurrency=args.concurrency,
    )
    idle = (tally, args.idle, signal.SIGTERM)
    threading.Thread(target=stop_when_idle, args=idle, daemon=True).start()
    wait_for_go(tally)
    code = run_slot(spec, router)
    orjson = sys.modules.get("orjson", False)
    report(
        tally,
        exit=code,
        routemq=__version__,
        transport=slot_transport(config).__name__,
        orjson="blocked" if orjson is None else "loaded" if orjson else "not loaded",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
