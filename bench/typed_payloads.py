"""Typed payloads vs the untyped path, side by side: dispatch of one JSON reading per message.

Contenders (same ~100-byte body, same route, same work in the handler):
  untyped     ``payload`` unannotated: JSON decoded (the path every existing app takes)
  dict        ``payload: dict``: decoded and checked to be an object
  dataclass   ``payload: Reading`` (a dataclass of four typed fields), converted and checked
  typeddict   ``payload: ReadingDict`` (a TypedDict), checked
  pydantic    ``payload: ReadingModel`` (pydantic 2, validated from the raw bytes); skipped when
              pydantic is not installed

Each contender runs several times, interleaved; the median rate and its ratio to ``untyped`` are
printed as a Markdown table.

    python bench/typed_payloads.py [--messages 50000] [--runs 5] [--only untyped] [--json FILE]

``--only untyped`` with ``PYTHONPATH`` pointing at another checkout measures that version's
untyped path (to see that typed payloads did not slow it down).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from dataclasses import dataclass
from typing import Any, TypedDict

from rate_table import print_rates

from routemq_runtime import __version__
from routemq_runtime.routing import Dispatcher, InboundMessage, Router

BODY = json.dumps({"device": "d-42", "temperature": 21.5, "humidity": 40, "ts": 1732800000})


@dataclass
class Reading:
    device: str
    temperature: float
    humidity: float
    ts: int


class ReadingDict(TypedDict):
    device: str
    temperature: float
    humidity: float
    ts: int


def handlers() -> dict[str, Any]:
    seen = []

    async def untyped(device_id: str, payload):  # type: ignore[no-untyped-def]
        seen.append(payload["temperature"])

    async def as_dict(device_id: str, payload: dict) -> None:
        seen.append(payload["temperature"])

    async def as_dataclass(device_id: str, payload: Reading) -> None:
        seen.append(payload.temperature)

    async def as_typeddict(device_id: str, payload: ReadingDict) -> None:
        seen.append(payload["temperature"])

    found: dict[str, Any] = {
        "untyped": untyped,
        "dict": as_dict,
        "dataclass": as_dataclass,
        "typeddict": as_typeddict,
    }
    try:
        import pydantic  # optional: the runtime's [pydantic] extra
    except ImportError:
        return found

    class ReadingModel(pydantic.BaseModel):
        device: str
        temperature: float
        humidity: float
        ts: int

    async def as_pydantic(device_id: str, payload: ReadingModel) -> None:
        seen.append(payload.temperature)

    # A class local to this function cannot be named by a string annotation: give the type.
    as_pydantic.__annotations__["payload"] = ReadingModel
    found["pydantic"] = as_pydantic
    return found


async def measure(handler: Any, messages: int) -> float:
    router = Router()
    router.on("sensors/{device_id}/data", handler, qos=1)
    dispatcher = Dispatcher(router)
    body = BODY.encode()
    inbound = [InboundMessage(f"sensors/d-{n}/data", body, 1, False, None, n) for n in range(100)]
    started = time.perf_counter()
    for n in range(messages):
        result = await dispatcher.dispatch(inbound[n % 100])
        if result.error is not None:
            raise result.error
    return messages / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", action="append", help="run just these contenders")
    parser.add_argument("--json", help="write results to this file")
    args = parser.parse_args()

    contenders = handlers()
    if args.only:
        contenders = {name: contenders[name] for name in args.only}
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for run in range(args.runs):
        for name, handler in contenders.items():
            rates[name].append(asyncio.run(measure(handler, args.messages)))
        print(f"run {run + 1}/{args.runs} done", flush=True)

    load = os.getloadavg()[0]
    print(f"\ndispatch of a ~100-byte JSON reading ({args.messages} msgs x {args.runs} runs)")
    print(f"python {platform.python_version()}, routemq-runtime {__version__}, load {load:.2f}\n")
    baseline = "untyped" if "untyped" in rates else next(iter(rates))
    print_rates(rates, baseline, "payload", args.json)


if __name__ == "__main__":
    main()
