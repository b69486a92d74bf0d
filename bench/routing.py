"""Dispatch throughput through TestClient: 1 route vs 1,000 routes, side by side.

The handler decodes the JSON payload and counts. Each configuration is run several times,
interleaved, and the median rate is reported with the 1,000-route/1-route ratio (goal >= 0.9).

    python bench/routing.py [--messages 50000] [--runs 5] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time

from rate_table import print_rates

from routemq_runtime import Router, __version__
from routemq_runtime.testing import TestClient

PAYLOAD = json.dumps({"device": "d-42", "temperature": 21.5, "humidity": 40, "ts": 1732800000})


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle(self, device_id: int, payload: dict) -> None:
        if payload["temperature"] is not None:
            self.count += 1

    async def handle_fixed(self, payload: dict) -> None:
        if payload["temperature"] is not None:
            self.count += 1


def build_router(route_count: int, counter: Counter) -> Router:
    router = Router()
    router.on("sensors/{device_id:int}/data", counter.handle, qos=1)
    # Siblings that share prefixes with the hot route, so the trie really has to choose.
    for i in range(route_count - 1):
        kind = i % 4
        if kind == 0:
            router.on(f"sensors/{{device_id:int}}/metric{i}", counter.handle)
        elif kind == 1:
            router.on(f"site{i}/{{device_id:int}}/data", counter.handle)
        elif kind == 2:
            router.on(f"sensors/fixed{i}/data", counter.handle_fixed)
        else:
            router.on(f"fleet/{i}/+/{{device_id:int}}/#", counter.handle)
    return router


def topics_for(route_count: int, spread: bool) -> list[str]:
    if not spread or route_count == 1:
        return [f"sensors/{n % 1000}/data" for n in range(1000)]
    # Spread over the `site{i}/{device_id:int}/data` siblings: same depth and conversion work as
    # the hot route, so the only difference from the 1-route case is which route is found.
    sites = [i for i in range(route_count - 1) if i % 4 == 1]
    return [f"site{sites[(n * 7) % len(sites)]}/{n}/data" for n in range(1000)]


async def measure(route_count: int, messages: int, spread: bool) -> float:
    counter = Counter()
    client = TestClient(build_router(route_count, counter))
    topics = topics_for(route_count, spread)
    payload = PAYLOAD.encode()
    started = time.perf_counter()
    for n in range(messages):
        await client.apublish(topics[n % 1000], payload, qos=1)
    elapsed = time.perf_counter() - started
    client.results.clear()
    assert counter.count == messages, (counter.count, messages)
    return messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", help="write results to this file")
    args = parser.parse_args()

    configs = {
        "1 route": (1, False),
        "1,000 routes (hot route)": (1000, False),
        "1,000 routes (topics spread over 250)": (1000, True),
    }
    rates: dict[str, list[float]] = {name: [] for name in configs}
    for run in range(args.runs):
        for name, (count, spread) in configs.items():
            rates[name].append(asyncio.run(measure(count, args.messages, spread)))
        print(f"run {run + 1}/{args.runs} done", flush=True)

    print(f"\nrouting dispatch through TestClient ({args.messages} msgs x {args.runs} runs)")
    print(f"python {platform.python_version()}, routemq-runtime {__version__}\n")
    print_rates(rates, "1 route", "configuration", args.json)


if __name__ == "__main__":
    main()
