"""Drive the worker's own ``MessagePipeline`` from memory: what the pipeline and the handler cost,
without the broker. Shared by the benchmarks next to it (``python bench/x.py`` puts ``bench/``
on the path, and they put the repository root there for ``tests.support``).

Run on its own, it reports the framework's cost per message of a slot (intake, runner, match,
context, injection, payload decoding, the slot's real metrics, ordered acks) around a handler
that does nothing but read its payload, with orjson installed and without it:
``python bench/pipeline_feed.py [--messages N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Run as a script, the repository root is not on the path yet (``tests.support`` lives there).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from routemq_runtime import Config, Router
from routemq_runtime.log import configure_logging
from routemq_runtime.message import InboundMessage
from routemq_runtime.routing import Dispatcher
from routemq_runtime.testing import MemoryPublisher
from routemq_runtime.worker.pipeline import MessagePipeline
from tests.support.fakes import FakeTransport, RecordingMetrics

#: Messages handed over between turns of the loop, as a socket read hands over a batch.
BATCH = 500


def pipeline_rate(
    router: Router,
    inbound: Sequence[InboundMessage],
    config: Config,
    *,
    metrics: Any = None,
    route_label: str | None = None,
) -> float:
    """Messages per second from the first submit until every message is finished and acked.

    ``metrics``: the slot's metrics (a recording fake when None); ``route_label``: as a worker
    passes it when its slot serves one route."""

    async def scenario() -> float:
        pipeline = MessagePipeline(
            Dispatcher(router),
            FakeTransport(),  # type: ignore[arg-type]
            MemoryPublisher(),
            worker_id="bench-0",
            config=config,
            concurrency=100,
            metrics=metrics if metrics is not None else RecordingMetrics(),
            route_label=route_label,
        )
        started = time.perf_counter()
        for n, message in enumerate(inbound, 1):
            pipeline.submit(message)
            if n % BATCH == 0:
                await asyncio.sleep(0)  # the runners take what was handed over
        while not pipeline.settled:
            await asyncio.sleep(0)
        return len(inbound) / (time.perf_counter() - started)

    return asyncio.run(scenario())


def arguments(description: str) -> argparse.Namespace:
    """``--messages`` and ``--rounds``, as every pipeline benchmark takes them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args()


@contextmanager
def logs_to_devnull() -> Iterator[None]:
    """The runtime's own log handler at INFO, writing where nobody reads (a container's stdout
    costs about that)."""
    with open(os.devnull, "w") as sink:
        configure_logging("INFO", worker="bench-0", stream=sink)
        yield


async def _read_payload(device_id: str, payload: Any) -> None:
    return None


def _slot_router(routes: int) -> Router:
    router = Router()
    router.on("sensors/{device_id}/data", _read_payload, qos=1)
    for n in range(1, routes):
        router.on(f"other{n}/{{device_id}}/data", _read_payload, qos=1)
    return router


def _case_rate(routes: int, messages: int, use_orjson: bool, devices: int = 100) -> float:
    # Imported here: prometheus-client is loaded only by this script, not by the other benches.
    from routemq_runtime import message as message_module
    from routemq_runtime.metrics import SlotMetrics

    body = json.dumps({"temperature": 21.5, "humidity": 40}).encode()
    inbound = [
        InboundMessage(f"sensors/d{n % devices}/data", body, 1, False, None, n % 65535 + 1)
        for n in range(messages)
    ]
    label = "sensors/{device_id}/data" if routes == 1 else None
    slot = SlotMetrics("bench-0")
    # Without orjson: payloads decode by json.loads (what a runtime without the extra does).
    installed = getattr(message_module, "_orjson", None)
    message_module._orjson = installed if use_orjson else None
    try:
        return pipeline_rate(
            _slot_router(routes), inbound, Config(), metrics=slot, route_label=label
        )
    finally:
        message_module._orjson = installed


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    cases = {
        "1 route (labelled slot)": (1, True, 100),
        "3 routes (matched on arrival)": (3, True, 100),
        "1 route, json.loads": (1, False, 100),
        # A fleet too large for the match cache: no topic comes back within the run.
        "1 route, json.loads, new topics": (1, False, args.messages),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    with logs_to_devnull():
        for _ in range(args.rounds):
            for name, (routes, use_orjson, devices) in cases.items():
                samples[name].append(_case_rate(routes, args.messages, use_orjson, devices))
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'slot':<34}{'msg/s':>10}{'µs/msg':>9}{'min µs':>9}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<34}{median:>10,.0f}{1e6 / median:>9.2f}{1e6 / max(values):>9.2f}")


if __name__ == "__main__":
    main()
