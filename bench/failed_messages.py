"""What keeping failures costs the happy path: one worker pipeline handling messages of which
0 % and 1 % fail (one attempt each, then dead-lettered), side by side in alternating rounds.

Storing is not on this path: the worker publishes the dead letter (QoS 1, confirmed) as before,
and the app's keeper stores it in the supervisor process. What the worker pays per failure is
the envelope: its id, traceback and the message's properties. The transport is in memory, so
the numbers are the pipeline's, not the broker's.

Run: ``python bench/failed_messages.py [--messages N] [--rounds N]``.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline_feed import arguments, logs_to_devnull, pipeline_rate

from routemq_runtime import Config, Router
from routemq_runtime.message import InboundMessage


def router(fail_every: int) -> Router:
    routes = Router()

    def process(n: int, payload: dict) -> None:
        if fail_every and n % fail_every == 7:
            raise RuntimeError(f"failure for {n}")

    routes.on("jobs/{n:int}", process, qos=1)
    return routes


def rate(messages: int, fail_every: int) -> float:
    """Messages per second through the pipeline."""
    config = Config(retry_max_attempts=1)
    body = json.dumps({"temperature": 21.5}).encode()
    inbound = [
        InboundMessage(f"jobs/{n}", body, 1, False, None, n % 65535 + 1) for n in range(messages)
    ]

    return pipeline_rate(router(fail_every), inbound, config)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    with logs_to_devnull():
        samples: dict[int, list[float]] = {0: [], 100: []}
        for _ in range(args.rounds):
            for fail_every in samples:
                samples[fail_every].append(rate(args.messages, fail_every))
    ok, failing = statistics.median(samples[0]), statistics.median(samples[100])
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'failing':<10}{'msg/s':>10}{'x 0 %':>8}{'µs/msg':>9}")
    for case, value in (("0 %", ok), ("1 %", failing)):
        print(f"{case:<10}{value:>10,.0f}{value / ok:>8.2f}{1e6 / value:>9.1f}")


if __name__ == "__main__":
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    main()
