"""Drive the worker's own ``MessagePipeline`` from memory: what the pipeline and the handler cost,
without the broker. Shared by the benchmarks next to it (``python bench/x.py`` puts ``bench/``
on the path, and they put the repository root there for ``tests.support``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from routemq_runtime import Config, Router
from routemq_runtime.log import configure_logging
from routemq_runtime.message import InboundMessage
from routemq_runtime.routing import Dispatcher
from routemq_runtime.testing import MemoryPublisher
from routemq_runtime.worker.pipeline import MessagePipeline
from tests.support.fakes import FakeTransport, RecordingMetrics

#: Messages handed over between turns of the loop, as a socket read hands over a batch.
BATCH = 500


def pipeline_rate(router: Router, inbound: Sequence[InboundMessage], config: Config) -> float:
    """Messages per second from the first submit until every message is finished and acked."""

    async def scenario() -> float:
        pipeline = MessagePipeline(
            Dispatcher(router),
            FakeTransport(),  # type: ignore[arg-type]
            MemoryPublisher(),
            worker_id="bench-0",
            config=config,
            concurrency=100,
            metrics=RecordingMetrics(),  # type: ignore[arg-type]
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
