"""Worker throughput against a bare paho subscriber, on one real mosquitto.

Each scenario drains a backlog that was queued into a persistent session while the consumer was
offline, so the publisher is never the bottleneck. Every consumer runs in its own forked process
and measures from its first to its last message.

  baseline       bare paho (MQTT 3.1.1, loop_forever, json.loads per message, automatic QoS 1 ack)
  slot-3.1.1     one RouteMQ slot, full path: JSON decode, route match, async handler, ordered ack
  slot-5         the same on MQTT 5
  slot-*-paho    the same two with MQTT_TRANSPORT=paho (the others use the default, native)
  io-bound       one slot, handler `await asyncio.sleep(0.001)`, concurrency 500
  cpu-1/cpu-2    a CPU-bound handler on one slot vs two slots of one shared route
  slot-spawned   one slot in a fresh interpreter instead of a forked one
  slot-spawned-no-orjson  the same where `import orjson` fails (the runtime's fallback JSON)

    python bench/throughput.py            # 200k messages, 3 runs, medians and ratios
    python bench/throughput.py --quick    # 20k messages, 1 run

CPU µs/msg is the consumer process's CPU time from its first to its last message, per message.

Numbers on a shared machine are noisy; compare the ratios, which are measured side by side.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
#: Set in the environment of one spawned consumer: it re-imports this file before its target runs,
#: so orjson has to be blocked here, ahead of every import of routemq_runtime.
NO_ORJSON = "ROUTEMQ_BENCH_NO_ORJSON"
if os.environ.get(NO_ORJSON):
    sys.modules["orjson"] = None  # type: ignore[assignment]

import paho.mqtt.client as mqtt  # noqa: E402

from routemq_runtime.config import Config  # noqa: E402
from routemq_runtime.routing import Router  # noqa: E402
from routemq_runtime.transport import slot_transport  # noqa: E402
from routemq_runtime.worker import SlotSpec, run_slot, slot_client_id  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402

PATTERN = "bench/{device_id}/data"
FILTER = "bench/+/data"
GROUP = "bench"
FORK = multiprocessing.get_context("fork")
# A fresh interpreter, as a worker started on its own (not forked from a supervisor) would be.
SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Address:
    host: str
    port: int


@dataclass(frozen=True)
class SlotRun:
    """How the slots of one scenario run."""

    protocol: str = "3.1.1"
    transport: str = "native"
    handler: str = "plain"
    slots: int = 1
    spawned: bool = False
    orjson: bool = True


SCENARIOS: dict[str, SlotRun | None] = {
    "baseline": None,
    "slot-3.1.1": SlotRun(),
    "slot-3.1.1-paho": SlotRun(transport="paho"),
    "slot-5": SlotRun(protocol="5"),
    "slot-5-paho": SlotRun(protocol="5", transport="paho"),
    "io-bound": SlotRun(handler="io"),
    "cpu-1": SlotRun(handler="cpu"),
    "cpu-2": SlotRun(handler="cpu", slots=2),
    "slot-spawned": SlotRun(spawned=True),
    "slot-spawned-no-orjson": SlotRun(spawned=True, orjson=False),
}


def payload_for(i: int) -> bytes:
    # About 100 bytes of JSON, like a small sensor reading.
    body = {"device": f"dev-{i % 100:03d}", "seq": i, "temp": 21.5, "hum": 40.25, "ok": True}
    text = json.dumps(body)
    return (text[:-1] + ', "pad": "' + "x" * max(0, 100 - len(text) - 11) + '"}').encode()


def orjson_state() -> str:
    """Whether this process has orjson: loaded (by the runtime), not loaded, or blocked."""
    if "orjson" not in sys.modules:
        return "orjson not loaded"
    return "orjson blocked" if sys.modules["orjson"] is None else "orjson loaded"


def memory_kib() -> dict[str, int]:
    """RSS, peak RSS and USS (pages this process alone holds) in KiB."""
    values: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    uss = 0
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Private_Clean", "Private_Dirty"):
            uss += int(rest.split()[0])
    return {"rss": values.get("VmRSS", 0), "hwm": values.get("VmHWM", 0), "uss": uss}


# -- backlog ---------------------------------------------------------------------------------


def prime_session(
    broker: Mosquitto, client_id: str, topic_filter: str, protocol: str, qos: int = 1
) -> None:
    """Create the consumer's persistent session, subscribed at ``qos``, then leave it offline."""
    v5 = protocol == "5"
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else False,
    )
    subscribed: list[bool] = []
    client.on_subscribe = lambda *args: subscribed.append(True)
    if v5:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        client.connect(broker.host, broker.port, clean_start=True, properties=props)
    else:
        client.connect(broker.host, broker.port)
    client.subscribe(topic_filter, qos)
    deadline = time.monotonic() + 10
    while not subscribed and time.monotonic() < deadline:
        client.loop(0.05)
    if not subscribed:
        raise RuntimeError(f"broker did not confirm the subscription of {client_id}")
    client.disconnect()
    client.loop(0.05)


def forget_session(broker: Mosquitto, client_id: str) -> None:
    """Remove a consumer's session, so that later backlogs are not also queued for it."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=True,
    )
    client.connect(broker.host, broker.port)
    client.loop(0.2)
    client.disconnect()
    client.loop(0.1)


def publish_backlog(
    broker: Mosquitto,
    count: int,
    topic: str = "bench/dev-{device:03d}/data",
    outstanding: int = 20_000,
    timeout: float = 120.0,
) -> float:
    """Publish ``count`` QoS 1 messages, ~100-byte JSON, to ``topic`` (formatted with
    ``device``, one of 100); returns the rate.

    Up to 1,000 are in flight; at most ``outstanding`` are unconfirmed at any time, because paho
    keys them by their 16-bit packet id: past 65,535 they would overwrite each other and never be
    confirmed.
    """
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    acked = [0]

    def on_publish(*args: Any) -> None:
        acked[0] += 1

    client.on_publish = on_publish
    client.connect(broker.host, broker.port)
    payloads = [payload_for(i) for i in range(100)]
    topics = [topic.format(device=i) for i in range(100)]
    started = time.perf_counter()
    # No network thread: publish() writes directly, loop() collects PUBACKs now and then.
    for i in range(count):
        client.publish(topics[i % 100], payloads[i % 100], qos=1)
        if i % 200 == 0:
            client.loop(0)
        while i - acked[0] >= outstanding:
            client.loop(0.01)
    deadline = time.monotonic() + timeout
    while acked[0] < count and time.monotonic() < deadline:
        client.loop(0.01)
    elapsed = time.perf_counter() - started
    client.disconnect()
    if acked[0] < count:
        raise RuntimeError(f"broker confirmed only {acked[0]} of {count} messages")
    return count / elapsed


# -- consumers (each in a forked child; results come back through a pipe) -------------------


def _baseline_consumer(broker: Address, client_id: str, count: int, conn: Any) -> None:
    times: list[float] = []
    cpu: list[float] = []
    seen = [0]

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        json.loads(msg.payload)
        seen[0] += 1
        if seen[0] == 1:
            times.append(time.perf_counter())
            cpu.append(time.process_time())
        if seen[0] == count:
            times.append(time.perf_counter())
            cpu.append(time.process_time())
            client.disconnect()

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=False,
    )
    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.loop_forever()
    conn.send(
        {
            "seconds": times[1] - times[0],
            "cpu_s": cpu[1] - cpu[0],
            "count": seen[0],
            "memory": memory_kib(),
            "client": "paho-mqtt",
            "orjson": orjson_state(),
        }
    )


def _slot_consumer(
    broker: Address,
    client_id: str,
    count: int,
    protocol: str,
    handler_kind: str,
    concurrency: int,
    transport: str,
    conn: Any,
    index: int = 0,
) -> None:
    import asyncio

    first = [0.0]
    last = [0.0]
    seen = [0]
    # Read once at the first message and once by the watchdog: a clock read per message would
    # cost a system call in the measured path.
    cpu = [0.0, 0.0]

    async def handle(device_id: str, payload: Any) -> None:
        seen[0] += 1
        if seen[0] == 1:
            first[0] = time.perf_counter()
            cpu[0] = time.process_time()
        last[0] = time.perf_counter()

    async def handle_io(device_id: str, payload: Any) -> None:
        seen[0] += 1
        if seen[0] == 1:
            first[0] = time.perf_counter()
            cpu[0] = time.process_time()
        await asyncio.sleep(0.001)
        last[0] = time.perf_counter()

    async def handle_cpu(device_id: str, payload: Any) -> None:
        seen[0] += 1
        if seen[0] == 1:
            first[0] = time.perf_counter()
            cpu[0] = time.process_time()
        burn_cpu()
        last[0] = time.perf_counter()

    def watchdog() -> None:
        # Stops the slot once its share arrived (or nothing came for 3 s): a thread, so that the
        # handlers stay as small as the baseline's callback.
        while not first[0]:
            time.sleep(0.05)
        while seen[0] < count and time.perf_counter() - max(last[0], first[0]) < 3:
            time.sleep(0.05)
        cpu[1] = time.process_time()
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watchdog, daemon=True).start()
    handler = {"plain": handle, "io": handle_io, "cpu": handle_cpu}[handler_kind]
    router = Router()
    router.on(PATTERN, handler, qos=1, shared=True, worker_count=2)
    config = Config(
        mqtt_broker=broker.host,
        mqtt_port=broker.port,
        mqtt_protocol=protocol,
        log_level="WARNING",
        worker_concurrency=concurrency,
        mqtt_transport=transport,
    )
    route = router.routes[0]
    spec = SlotSpec(
        slot_id=f"{route.key}-{index}",
        index=index,
        route_patterns=(route.pattern,),
        shared=True,
        group=GROUP,
        client_id=client_id,
        config=config,
        concurrency=concurrency,
    )
    code = run_slot(spec, router)
    conn.send(
        {
            "seconds": last[0] - first[0],
            "cpu_s": cpu[1] - cpu[0],
            "count": seen[0],
            "memory": memory_kib(),
            "exit": code,
            "client": slot_transport(config).__name__,
            "orjson": orjson_state(),
        }
    )


def burn_cpu() -> int:
    total = 0
    for i in range(30_000):  # about 1 ms: the broker's share of the CPU stays small
        total += i * i
    return total


def run_consumers(
    targets: list[tuple[Callable[..., None], tuple[Any, ...]]],
    context: Any = FORK,
    env: dict[str, str] | None = None,
) -> list[dict]:
    """Run the consumers side by side; ``env`` is added to the environment they start with."""
    pipes, processes = [], []
    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    try:
        for target, args in targets:
            parent, child = context.Pipe(duplex=False)
            proc = context.Process(target=target, args=(*args, child))
            proc.start()
            child.close()
            pipes.append(parent)
            processes.append(proc)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    results = []
    for parent, proc in zip(pipes, processes, strict=True):
        if not parent.poll(600):
            proc.kill()
            raise RuntimeError("consumer did not finish in 600 s")
        results.append(parent.recv())
        proc.join(30)
    return results


# -- scenarios -------------------------------------------------------------------------------


def consumers(
    slot: SlotRun | None, address: Address, ids: list[str], count: int, args: argparse.Namespace
) -> list[dict]:
    if slot is None:
        return run_consumers([(_baseline_consumer, (address, ids[0], count))])
    concurrency = args.io_concurrency if slot.handler == "io" else args.concurrency
    # Two slots of one shared route split the backlog round-robin.
    share = count // slot.slots
    targets = [
        (
            _slot_consumer,
            (address, cid, share, slot.protocol, slot.handler, concurrency, slot.transport),
        )
        for cid in ids
    ]
    env = {} if slot.orjson else {NO_ORJSON: "1"}
    return run_consumers(targets, SPAWN if slot.spawned else FORK, env)


def scenario(
    broker: Mosquitto, name: str, count: int, run: int, args: argparse.Namespace
) -> dict[str, Any]:
    slot = SCENARIOS[name]
    config = Config(app_name="bench")
    ids = [slot_client_id(config, f"{name}-r{run}", i) for i in range(slot.slots if slot else 1)]
    protocol = slot.protocol if slot else "3.1.1"
    topic_filter = f"$share/{GROUP}/{FILTER}"
    for client_id in ids:
        prime_session(broker, client_id, topic_filter, protocol)
    publish_rate = publish_backlog(broker, count)
    results = consumers(slot, Address(broker.host, broker.port), ids, count, args)
    for client_id in ids:
        forget_session(broker, client_id)
    seconds = max(r["seconds"] for r in results)
    total = sum(r["count"] for r in results)
    if total != count:
        raise RuntimeError(f"{name}: consumers saw {total} of {count} messages")
    return {
        "name": name,
        "rate": total / seconds,
        "cpu_us": sum(r["cpu_s"] for r in results) / total * 1e6,
        "rss_mib": max(r["memory"]["rss"] for r in results) / 1024,
        "uss_mib": max(r["memory"]["uss"] for r in results) / 1024,
        "publish_rate": publish_rate,
        "client": results[0]["client"],
        "orjson": results[0]["orjson"],
    }


def print_medians(results: dict[str, list[dict[str, Any]]]) -> None:
    medians = {n: statistics.median(r["rate"] for r in rs) for n, rs in results.items() if rs}
    base = medians.get("baseline")
    print(f"  {'scenario':<23} {'msg/s':>9}  {'x bare paho':<11} {'CPU us/msg':>10}  "
          "RSS / USS MiB  client, orjson")  # fmt: skip
    for name, rate in medians.items():
        runs = results[name]
        cpu = statistics.median(r["cpu_us"] for r in runs)
        rss = statistics.median(r["rss_mib"] for r in runs)
        uss = statistics.median(r["uss_mib"] for r in runs)
        ratio = f"{rate / base:.2f}x" if base else "—"
        print(
            f"  {name:<23} {rate:>9,.0f}  {ratio:<11} {cpu:>10.1f}  {rss:5.1f} / {uss:4.1f}    "
            f"{runs[0]['client']}, {runs[0]['orjson']}"
        )
    if "cpu-1" in medians and "cpu-2" in medians:
        print(f"  cpu-2 / cpu-1 = {medians['cpu-2'] / medians['cpu-1']:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20k messages, 1 run")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--io-concurrency", type=int, default=500)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.runs = 20_000, 1
    names = args.scenarios.split(",")
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    broker = Mosquitto(max_inflight=1000).start()
    results: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    try:
        for run in range(args.runs):
            for name in names:
                cpu = name in ("cpu-1", "cpu-2")
                count = max(2_000, args.messages // 40) if cpu else args.messages
                res = scenario(broker, name, count, run, args)
                results[name].append(res)
                print(
                    f"run {run + 1} {name:<23} {res['rate']:>9,.0f} msg/s  "
                    f"{res['cpu_us']:5.1f} us CPU/msg  "
                    f"RSS {res['rss_mib']:.1f} MiB, USS {res['uss_mib']:.1f} MiB  "
                    f"[backlog published at {res['publish_rate']:,.0f} msg/s]",
                    flush=True,
                )
    finally:
        broker.cleanup()
    print(
        f"\nmedians over {args.runs} run(s), {args.messages:,} messages, ~100-byte JSON, QoS 1 "
        f"(cpu-1/cpu-2: {max(2_000, args.messages // 40):,} messages, ~1 ms handler)"
    )
    print_medians(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
