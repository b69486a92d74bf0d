"""What ``ROUTEMQ_LOG_MESSAGES=true`` costs: one worker pipeline handling messages with the
per-message INFO line off and on, side by side in one run (alternating rounds).

The pipeline is the worker's own (``MessagePipeline``) with an in-memory transport, so the
numbers are the pipeline's and the log line's, not the broker's. The log goes through the
runtime's own handler and format to /dev/null, as a container's stdout would take it.

Run: ``python bench/log_messages.py [--messages N] [--rounds N]``.
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


def router() -> Router:
    routes = Router()

    def process(device_id: str, payload: dict) -> None:
        return None

    routes.on("sensors/{device_id}/data", process, qos=1)
    return routes


def rate(messages: int, log_messages: bool) -> float:
    """Messages per second through the pipeline."""
    config = Config(log_messages=log_messages)
    body = json.dumps({"temperature": 21.5}).encode()
    inbound = [
        InboundMessage(f"sensors/d{n % 100}/data", body, 1, False, None, n % 65535 + 1)
        for n in range(messages)
    ]

    return pipeline_rate(router(), inbound, config)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    with logs_to_devnull():
        logging.getLogger("routemq.worker").setLevel(logging.INFO)
        samples: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(args.rounds):
            for case in ("off", "on"):
                samples[case].append(rate(args.messages, case == "on"))
    off, on = statistics.median(samples["off"]), statistics.median(samples["on"])
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'ROUTEMQ_LOG_MESSAGES':<22}{'msg/s':>10}{'x off':>8}{'µs/msg':>9}")
    for case, value in (("false (default)", off), ("true", on)):
        print(f"{case:<22}{value:>10,.0f}{value / off:>8.2f}{1e6 / value:>9.1f}")
    print(f"the line costs {1e6 / on - 1e6 / off:.1f} µs per message")


if __name__ == "__main__":
    main()
