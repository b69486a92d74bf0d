#!/usr/bin/env python3
"""A worker slot's MQTT traffic against Eclipse Paho's strict test broker.

    .venv/bin/python scripts/conformance.py --suite /path/to/paho.mqtt.testing/interoperability

The broker of paho.mqtt.testing (``interoperability/startbroker.py``) checks every packet a
client sends against the MQTT 3.1.1 and 5 statements and logs what breaks one. This script
starts it on a free 127.0.0.1 port, runs the slot client (``MQTT_TRANSPORT=native``, then
``paho`` to compare) through what a slot does, on 3.1.1 and on 5, and reads the broker's log
for violations. It is not part of the test suite: the suite is fetched from GitHub.
Exit status 0 when every step passed and the broker found nothing wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from routemq_runtime.config import Config
from routemq_runtime.message import InboundMessage
from routemq_runtime.transport import Subscription, slot_transport

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strict_broker import BrokerLog, StrictBroker

KEEPALIVE = 5  # the shortest the config allows: the idle step then sees PINGREQ in seconds
# -- the slot and its peer ----------------------------------------------------------------------


class Inbox:
    """Collects messages and acks each, as a worker does, except on topics told to hold one
    back (so a lost connection leaves it unacked and the broker must send it again)."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.transport: Any = None
        self.hold: set[str] = set()

    def __call__(self, message: InboundMessage) -> None:
        self.messages.append(message)
        if message.topic in self.hold:
            self.hold.discard(message.topic)
            return
        if message.qos:
            self.transport.ack(message.mid, message.qos)

    def payloads(self, prefix: str) -> list[bytes]:
        return [m.payload for m in self.messages if m.topic.startswith(prefix)]

    async def wait_for(self, prefix: str, count: int, timeout: float = 10.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.payloads(prefix)) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.payloads(prefix)


class Peer:
    """A paho-mqtt client on the other side: publishes to the slot, takes what it publishes."""

    def __init__(self, port: int, v5: bool, prefix: str) -> None:
        protocol = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"{prefix}-peer", protocol=protocol
        )
        self.received: list[bytes] = []
        self.client.on_message = lambda _c, _u, message: self.received.append(message.payload)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        self.client.subscribe(f"{prefix}/out/#", qos=2)[0]

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        self.client.publish(topic, payload, qos=qos).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def session_present(port: int, v5: bool, client_id: str) -> bool:
    """Whether the broker still holds a session for the client id (connects without ending it
    on 5; on 3.1.1 a persistent connect stores one again, which no later step depends on)."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        **({} if v5 else {"clean_session": False}),
    )
    flags: list[bool] = []
    client.on_connect = lambda _c, _u, f, _rc, _p=None: flags.append(f.session_present)
    client.connect("127.0.0.1", port, clean_start=False) if v5 else client.connect(
        "127.0.0.1", port
    )
    client.loop_start()
    deadline = time.monotonic() + 5
    while not flags and time.monotonic() < deadline:
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()
    return bool(flags and flags[0])


# -- the scenario -------------------------------------------------------------------------------


@dataclass
class Run:
    """One client on one protocol version against a fresh broker."""

    transport_name: str
    protocol: str
    port: int
    prefix: str = field(default_factory=lambda: "conf-" + uuid.uuid4().hex[:6])
    inbox: Inbox = field(default_factory=Inbox)
    steps: list[tuple[str, bool, str]] = field(default_factory=list)
    transport: Any = None
    peer: Any = None

    @property
    def v5(self) -> bool:
        return self.protocol == "5"

    @property
    def client_id(self) -> str:
        return f"{self.prefix}-slot"

    def config(self) -> Config:
        return Config(
            mqtt_broker="127.0.0.1",
            mqtt_port=self.port,
            mqtt_protocol=self.protocol,
            mqtt_transport=self.transport_name,
            mqtt_keepalive=KEEPALIVE,
            mqtt_session_expiry=600,
        )

    def open(self) -> Any:
        self.transport = slot_transport(self.config())(
            self.config(),
            self.client_id,
            [Subscription(f"{self.prefix}/q{qos}/#", qos) for qos in (0, 1, 2)],
            self.inbox,
            receive_maximum=10,
            reconnect_base_delay=0.1,
            reconnect_max_delay=0.5,
        )
        self.inbox.transport = self.transport
        self.transport.start()
        return self.transport

    async def step(self, name: str, action: Callable[[], Awaitable[str]]) -> bool:
        try:
            detail = await asyncio.wait_for(action(), 30)
            ok = not detail.startswith("FAIL")
        except Exception as error:  # a step that raises is a failed step, the next ones run
            ok, detail = False, f"FAIL {type(error).__name__}: {error}"
        self.steps.append((name, ok, detail.removeprefix("FAIL ")))
        return ok


def expect(got: list[bytes], wanted: list[bytes]) -> str:
    if sorted(got) == sorted(wanted):
        return f"{len(got)} as expected"
    return f"FAIL got {got}, wanted {wanted}"


async def connect(run: Run) -> str:
    run.open()
    await run.transport.wait_ready(10)
    run.peer = Peer(run.port, run.v5, run.prefix)
    return "connected, SUBSCRIBE QoS 0/1/2 granted"


async def receive(run: Run) -> str:
    wanted = []
    for qos in (0, 1, 2):
        for n in range(3):
            payload = f"in-{qos}-{n}".encode()
            await asyncio.to_thread(run.peer.publish, f"{run.prefix}/q{qos}/{n}", payload, qos)
            wanted.append(payload)
    got = await run.inbox.wait_for(f"{run.prefix}/q", len(wanted))
    await asyncio.sleep(0.3)  # a redelivery of an acked message would show up here
    return expect(run.inbox.payloads(f"{run.prefix}/q"), wanted) if got else "FAIL nothing"


async def publish(run: Run, qos: int) -> str:
    # More at once than the broker's Receive Maximum (2): the client must hold some back.
    reconnects = run.transport.reconnects
    payloads = [f"out-{qos}-{n}".encode() for n in range(5)]
    await asyncio.gather(
        *(run.transport.publish_confirmed(f"{run.prefix}/out/{qos}", p, qos=qos) for p in payloads)
    )
    deadline = time.monotonic() + 5
    while len([p for p in run.peer.received if p.startswith(f"out-{qos}".encode())]) < 5:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    if run.transport.reconnects != reconnects:
        dropped = run.transport.reconnects - reconnects
        return f"FAIL all confirmed, but the broker closed the connection {dropped} time(s)"
    return expect([p for p in run.peer.received if p.startswith(f"out-{qos}".encode())], payloads)


async def idle(run: Run) -> str:
    reconnects = run.transport.reconnects
    await asyncio.sleep(KEEPALIVE * 1.3)
    if not run.transport.connected or run.transport.reconnects != reconnects:
        return "FAIL the connection did not survive an idle keep-alive period"
    return f"still connected after {KEEPALIVE * 1.3:g}s idle (keep-alive {KEEPALIVE}s)"


async def offline_queue(run: Run) -> str:
    await run.transport.close(5)
    wanted = []
    for qos in (1, 2):
        payload = f"queued-{qos}".encode()
        await asyncio.to_thread(run.peer.publish, f"{run.prefix}/q{qos}/queued", payload, qos)
        wanted.append(payload)
    run.open()
    await run.transport.wait_ready(10)
    got = await run.inbox.wait_for(f"{run.prefix}/q1/queued", 1)
    got += await run.inbox.wait_for(f"{run.prefix}/q2/queued", 1)
    return expect(got, wanted).replace("as expected", "queued while offline, delivered")


async def redelivery(run: Run) -> str:
    """A message received but not acked when the connection drops comes again (DUP)."""
    topic = f"{run.prefix}/q1/held"
    run.inbox.hold.add(topic)
    await asyncio.to_thread(run.peer.publish, topic, b"held", 1)
    await run.inbox.wait_for(topic, 1)
    run.transport.reset_connection("conformance: drop the connection with an ack owed")
    got = await run.inbox.wait_for(topic, 2)
    await run.transport.wait_ready(10)
    return expect(got, [b"held", b"held"]).replace("as expected", "deliveries, acked the second")


async def barrier(run: Run) -> str:
    ok = await run.transport.barrier(5)
    return "UNSUBACK for a filter never subscribed" if ok else "FAIL no UNSUBACK"


async def unsubscribe_all(run: Run) -> str:
    ok = await run.transport.unsubscribe_all(5)
    return "UNSUBACK" if ok else "FAIL no UNSUBACK"


async def close_forgetting(run: Run) -> str:
    await run.transport.close(5, forget_session=True)
    run.peer.close()
    present = await asyncio.to_thread(session_present, run.port, run.v5, run.client_id)
    return "FAIL the broker kept the session" if present else "session ended on the broker"


STEPS: list[tuple[str, Callable[[Run], Awaitable[str]]]] = [
    ("CONNECT (persistent session), SUBSCRIBE QoS 0/1/2", connect),
    ("receive QoS 0/1/2, ack", receive),
    ("publish_confirmed QoS 1, 5 at once", lambda run: publish(run, 1)),
    ("publish_confirmed QoS 2, 5 at once", lambda run: publish(run, 2)),
    ("idle past the keep-alive", idle),
    ("DISCONNECT, reconnect, receive what was queued", offline_queue),
    ("connection lost with an ack owed, redelivered", redelivery),
    ("barrier", barrier),
    ("unsubscribe_all", unsubscribe_all),
    ("close(forget_session=True)", close_forgetting),
]


async def scenario(run: Run) -> None:
    for number, (name, action) in enumerate(STEPS):
        if not await run.step(name, lambda action=action: action(run)) and number == 0:
            break  # not connected: nothing else can run


# -- report -------------------------------------------------------------------------------------


def run_one(suite: Path, workdir: Path, transport: str, protocol: str) -> tuple[Run, BrokerLog]:
    broker = StrictBroker(suite, workdir, f"{transport}-{protocol}").start()
    run = Run(transport, protocol, broker.port)
    try:
        asyncio.run(scenario(run))
    finally:
        if run.peer is not None:
            with contextlib.suppress(Exception):
                run.peer.close()
        broker.stop()
    return run, BrokerLog(broker.log().splitlines())


def report(run: Run, log: BrokerLog, log_path: Path, statements: bool) -> bool:
    violations, broker_side = log.findings()
    passed = all(ok for _, ok, _ in run.steps) and not violations
    print(f"\n== MQTT_TRANSPORT={run.transport_name}  MQTT {run.protocol}: "
          f"{'OK' if passed else 'FAIL'}  (broker log {log_path})")  # fmt: skip
    for name, ok, detail in run.steps:
        print(f"  {'OK  ' if ok else 'FAIL'} {name}: {detail}")
    print(f"  slot CONNECT as the broker read it: {log.connect(run.client_id)}")
    sent = ", ".join(f"{kind} {n}" for kind, n in log.sent_by(run.client_id).items())
    print(f"  packets the broker read from the slot: {sent}")
    print(f"  spec statements the broker logged: {len(log.statements())} "
          f"({'; '.join(log.coverage()) or 'no summary'})")  # fmt: skip
    if statements:
        print("    " + " ".join(log.statements()))
    print(f"  violations: {len(violations) or 'none'}")
    for finding in violations:
        print(f"    {finding}")
    if broker_side:
        print(f"  broker errors of its own making, not counted: {len(broker_side)}")
        for finding in broker_side:
            print(f"    {finding}")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--suite", type=Path, required=True,
                        help="the interoperability folder of paho.mqtt.testing")  # fmt: skip
    parser.add_argument("--transports", default="native,paho")
    parser.add_argument("--protocols", default="3.1.1,5")
    parser.add_argument("--statements", action="store_true",
                        help="list the spec statements the broker logged")  # fmt: skip
    parser.add_argument("--verbose", action="store_true", help="the clients' own log too")
    args = parser.parse_args()
    suite = args.suite.resolve()
    if not (suite / "startbroker.py").is_file():
        parser.error(f"no startbroker.py in {suite}")
    # The transports warn about each reconnect; the scenario causes those on purpose.
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="  client log: %(levelname)s %(message)s")  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="routemq-conformance-"))
    print(f"strict broker: {suite / 'startbroker.py'}, a fresh one per run on 127.0.0.1")
    print("steps: " + "; ".join(name for name, _ in STEPS))
    results = []
    for transport in args.transports.split(","):
        for protocol in args.protocols.split(","):
            run, log = run_one(suite, workdir, transport, protocol)
            log_path = workdir / f"broker-{transport}-{protocol}.log"
            results.append(report(run, log, log_path, args.statements))
    print(f"\n{sum(results)} of {len(results)} runs passed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
