"""One FastStream worker on its MQTT broker (``faststream[mqtt]``, whose client is zmqtt).

Each route is a ``@broker.subscriber`` on the shared group with a ``{device_id}`` path parameter;
the handler takes the JSON body as a ``dict``, which FastStream decodes and validates. Messages are
acknowledged after the handler (FastStream's default ``AckPolicy.ACK``). Per-message log lines are
moved to DEBUG so that, like the other systems, nothing is logged per message. The I/O-bound
workload uses ``max_workers`` handlers in flight, the knob FastStream offers for concurrency.
"""

from __future__ import annotations

import asyncio
import logging
import os
from importlib.metadata import version
from typing import Any

from faststream import Path
from faststream.mqtt import MQTTBroker, QoS
from workload import (
    HOT_PATTERN,
    IO_DELAY,
    Tally,
    burn_cpu,
    parser,
    report,
    route_patterns,
    wait_for_go,
)


def build_broker(args: Any, tally: Tally, finished: asyncio.Event) -> MQTTBroker:
    broker = MQTTBroker(
        f"mqtt://{args.host}:{args.port}",
        client_id=args.client_id,
        clean_session=False,
        version="5.0" if args.protocol == "5" else "3.1.1",
        session_expiry_interval=3600 if args.protocol == "5" else 0,
        log_level=logging.DEBUG,
        # A resumed session's backlog arrives before the subscribers are registered; zmqtt holds
        # at most 1,000 such messages by default and drops the connection past that (QoS 0).
        session_replay_buffer_size=0,
    )

    async def plain(body: dict, device_id: str = Path()) -> None:
        if tally.tick():
            finished.set()

    async def io_bound(body: dict, device_id: str = Path()) -> None:
        await asyncio.sleep(IO_DELAY)
        if tally.tick():
            finished.set()

    async def cpu_bound(body: dict, device_id: str = Path()) -> None:
        burn_cpu()
        if tally.tick():
            finished.set()

    async def stamped(body: dict, device_id: str = Path()) -> None:
        if tally.stamp(body) | tally.tick():
            finished.set()

    async def other(body: dict) -> None:
        raise AssertionError("only the hot route receives messages")

    handler = {"plain": plain, "io": io_bound, "cpu": cpu_bound, "latency": stamped}[args.handler]
    workers = args.concurrency if args.handler == "io" else 1
    for pattern in route_patterns(args.routes):
        subscriber = broker.subscriber(
            pattern, qos=QoS(args.qos), shared=args.group, max_workers=workers
        )
        subscriber(handler if pattern == HOT_PATTERN else other)
    return broker


async def serve(args: Any, tally: Tally, broker: MQTTBroker, finished: asyncio.Event) -> str:
    """Run until the limit; returns an error text when the backlog could not be drained."""

    async def watch_idle() -> None:
        while tally.idle_for() < args.idle and not finished.is_set():
            await asyncio.sleep(1.0)
        finished.set()

    watcher = asyncio.create_task(watch_idle())
    starting = asyncio.create_task(broker.start())
    waiting = asyncio.create_task(finished.wait())
    await asyncio.wait({starting, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if starting.done() and starting.exception() is not None:
        error = starting.exception()
        return f"broker.start() failed: {type(error).__name__}: {error}"
    await waiting
    watcher.cancel()
    if tally.count < tally.limit and not tally.latency_out:
        state = "still waiting for broker.start()" if not starting.done() else "started"
        return f"no message for {args.idle:.0f} s after {tally.count} ({state})"
    await broker.stop()
    return ""


def main() -> int:
    args = parser(__doc__.splitlines()[0]).parse_args()
    tally = Tally.from_args(args)
    finished = asyncio.Event()
    broker = build_broker(args, tally, finished)
    wait_for_go(tally)
    error = asyncio.run(serve(args, tally, broker, finished))
    report(tally, faststream=version("faststream"), zmqtt=version("zmqtt"), error=error)
    # A stalled connection can hold up interpreter shutdown; the result is out already.
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
