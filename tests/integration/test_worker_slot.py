"""A worker slot (``run_slot``) in a forked process against a real mosquitto.

Handlers write what they see to a journal file shared with the test; an observer client watches
the dead-letter topics; mosquitto's debug log shows the order of the PUBACKs it received.
"""

from __future__ import annotations

import asyncio
import functools
import json
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from routemq_runtime.config import Config
from routemq_runtime.routing import Router
from routemq_runtime.worker import EXIT_OK, SlotSpec, run_slot, slot_client_id
from tests.support.mosquitto import Mosquitto
from tests.support.observer import Observer
from tests.support.polling import poll, wait_for
from tests.support.publishing import NumberedPublisher

pytestmark = pytest.mark.integration

FORK = multiprocessing.get_context("fork")
PROTOCOLS = ["5", "3.1.1"]


# -- helpers ---------------------------------------------------------------------------------


class Journal:
    """An append-only file of JSON lines, written by handlers in the slot process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, event: str, **data: Any) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps({"event": event, **data}) + "\n")

    def read(self, event: str | None = None) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        entries = [json.loads(line) for line in self.path.read_text().splitlines() if line]
        return [e for e in entries if event is None or e["event"] == event]

    def wait_for(self, event: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        found = poll(lambda: len(self.read(event)) >= count and self.read(event), timeout)
        if not found:
            raise AssertionError(
                f"expected {count} {event!r} entries within {timeout}s, got {self.read(event)}"
            )
        return found


def _child(spec: SlotSpec, router: Router) -> None:
    code = run_slot(spec, router)
    sys.stdout.flush()
    os._exit(code)


class SlotProcess:
    """``run_slot`` in a forked child, as the supervisor runs it."""

    def __init__(self, spec: SlotSpec, router: Router) -> None:
        self.spec = spec
        self.router = router
        self.process: Any = None

    def start(self) -> SlotProcess:
        if self.spec.ready_path:
            self.spec.ready_path.unlink(missing_ok=True)
        self.process = FORK.Process(target=_child, args=(self.spec, self.router))
        self.process.start()
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        assert self.spec.ready_path is not None

        def ready() -> bool:
            if not self.process.is_alive() and not self.spec.ready_path.exists():
                raise AssertionError(f"slot exited with {self.process.exitcode} before ready")
            return self.spec.ready_path.exists()

        wait_for(ready, timeout, "the slot to be ready")

    def terminate(self, timeout: float = 15.0) -> int:
        os.kill(self.process.pid, signal.SIGTERM)
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
            raise AssertionError(f"slot did not stop within {timeout}s of SIGTERM")
        return self.process.exitcode

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(5)

    def stop_quietly(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
            self.process.join(5)


def build_spec(
    broker: Mosquitto,
    router: Router,
    tmp_path: Path,
    protocol: str,
    *,
    mqtt_transport: str,
    concurrency: int = 10,
    client_id: str | None = None,
    group: str | None = None,
    **config: Any,
) -> SlotSpec:
    settings = {
        "mqtt_broker": broker.host,
        "mqtt_port": broker.port,
        "mqtt_protocol": protocol,
        "retry_base_delay": 0.05,
        "retry_max_delay": 0.1,
        "drain_timeout": 10.0,
        "app_name": "t" + uuid.uuid4().hex[:8],
        "mqtt_transport": mqtt_transport,
        **config,
    }
    cfg = Config(**settings)
    route = router.routes[0]
    return SlotSpec(
        slot_id=f"{route.key}-0",
        index=0,
        route_patterns=tuple(r.pattern for r in router.routes),
        shared=route.shared,
        group=group or "g" + uuid.uuid4().hex[:6],
        client_id=client_id or slot_client_id(cfg, route.key, 0),
        config=cfg,
        concurrency=concurrency,
        heartbeat_path=tmp_path / "heartbeat",
        ready_path=tmp_path / "ready",
    )


SpecMaker = Callable[..., SlotSpec]


@pytest.fixture
def make_spec(mqtt_transport: str) -> SpecMaker:
    """``build_spec`` for the transport under test."""
    return functools.partial(build_spec, mqtt_transport=mqtt_transport)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.jsonl")


@pytest.fixture
def observer(mosquitto: Mosquitto) -> Iterator[Observer]:
    watcher = Observer(mosquitto)
    yield watcher
    watcher.close()


class Slots(list[SlotProcess]):
    """The slots a test started; none outlives it."""

    def run(self, spec: SlotSpec, router: Router) -> SlotProcess:
        """Start a slot and wait until it is ready."""
        slot = SlotProcess(spec, router).start()
        self.append(slot)
        slot.wait_ready()
        return slot


@pytest.fixture
def slots() -> Iterator[Slots]:
    started = Slots()
    yield started
    for slot in started:
        slot.stop_quietly()


def puback_order(broker: Mosquitto, client_id: str) -> tuple[list[int], list[int]]:
    """Packet ids mosquitto sent to ``client_id`` and the PUBACKs it got back, in log order."""
    text = broker.log_path.read_text()
    sent = [
        int(m)
        for m in re.findall(
            rf"Sending PUBLISH to {re.escape(client_id)} \(d\d, q1, r\d, m(\d+),", text
        )
    ]
    acked = [
        int(m)
        for m in re.findall(rf"Received PUBACK from {re.escape(client_id)} \(Mid: (\d+)", text)
    ]
    return sent, acked


# -- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_params_and_payload_reach_the_handler(
    make_spec: SpecMaker,
    mosquitto: Mosquitto,
    tmp_path: Path,
    journal: Journal,
    observer: Observer,
    slots,
    protocol,
) -> None:
    async def handle(device_id: int, payload: Any, topic: str, client: Any) -> None:
        if isinstance(payload, bytes):
            payload = {"bytes": payload.decode()}
        journal.write("handled", device_id=device_id, payload=payload, topic=topic)
        client.publish(f"out/{device_id}", {"seen": device_id}, qos=1)

    router = Router()
    router.on("sensors/{device_id:int}/data", handle, qos=1, shared=True, worker_count=2)
    spec = make_spec(mosquitto, router, tmp_path, protocol)
    slot = slots.run(spec, router)
    assert spec.heartbeat_path is not None and spec.heartbeat_path.exists()
    observer.subscribe("out/#")

    observer.publish("sensors/7/data", {"temp": 21.5})
    observer.publish("sensors/8/data", b"{not json")
    handled = journal.wait_for("handled", 2)

    assert {"device_id": 7, "payload": {"temp": 21.5}, "topic": "sensors/7/data"} in [
        {k: e[k] for k in ("device_id", "payload", "topic")} for e in handled
    ]
    # Malformed JSON is not an error: the handler gets the bytes.
    assert {"bytes": "{not json"} in [e["payload"] for e in handled]
    # The handler's publish (from the slot's loop) went out through the slot's client.
    outs = observer.wait_for(lambda m: m.topic.startswith("out/"), 2)
    assert sorted(json.loads(m.payload)["seen"] for m in outs) == [7, 8]
    assert slot.terminate() == EXIT_OK
    assert not spec.ready_path.exists()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_failing_handler_is_retried_then_dead_lettered_and_the_slot_keeps_serving(
    make_spec: SpecMaker,
    mosquitto: Mosquitto,
    tmp_path: Path,
    journal: Journal,
    observer: Observer,
    slots,
    protocol,
) -> None:
    async def handle(device_id: str, payload: Any, context: Any) -> None:
        journal.write("attempt", device_id=device_id, attempt=context.attempt)
        if device_id == "bad":
            raise ValueError(f"cannot handle {device_id}")

    router = Router()
    router.on("jobs/{device_id}", handle, qos=1, shared=True)
    spec = make_spec(mosquitto, router, tmp_path, protocol, retry_max_attempts=3)
    slot = slots.run(spec, router)
    observer.subscribe(f"{spec.config.dlq_prefix}/#")

    observer.publish("jobs/bad", b"\xff\x00raw")
    dead = observer.wait_for(lambda m: m.topic == f"{spec.config.dlq_prefix}/jobs/bad")[0]
    body = json.loads(dead.payload)
    assert body["topic"] == "jobs/bad"
    assert body["attempts"] == 3
    assert body["error"] == "ValueError: cannot handle bad"
    assert body["error_type"] == "ValueError"
    assert body["route"] == "jobs/{device_id}"
    assert body["payload_encoding"] == "base64"
    import base64

    assert base64.b64decode(body["payload"]) == b"\xff\x00raw"
    if protocol == "5":
        props = dict(dead.properties.UserProperty)
        assert props["routemq-attempts"] == "3"
        assert props["routemq-original-topic"] == "jobs/bad"
    attempts = [e["attempt"] for e in journal.read("attempt") if e["device_id"] == "bad"]
    assert attempts == [1, 2, 3]

    # Still serving after the failure.
    observer.publish("jobs/good", {"x": 1})
    journal.wait_for("attempt", 4)
    assert slot.terminate() == EXIT_OK
    # Dead-lettered means acked: a restart with the same id gets nothing again.
    journal.path.unlink()
    slot2 = slots.run(spec, router)
    time.sleep(0.5)
    assert journal.read("attempt") == []
    assert slot2.terminate() == EXIT_OK


def test_message_matching_the_filter_but_no_route_is_dead_lettered(
    make_spec: SpecMaker,
    mosquitto: Mosquitto,
    tmp_path: Path,
    journal: Journal,
    observer: Observer,
    slots,
) -> None:
    async def handle(n: int) -> None:
        journal.write("handled", n=n)

    router = Router()
    # The filter is `counts/+`; `counts/abc` reaches the slot but no route accepts it.
    router.on("counts/{n:int}", handle, qos=1, shared=True)
    spec = make_spec(mosquitto, router, tmp_path, "5")
    slot = slots.run(spec, router)
    observer.subscribe(f"{spec.config.dlq_prefix}/#")
    observer.publish("counts/abc", {"v": 1})
    observer.publish("counts/5", {"v": 2})
    dead = observer.wait_for(lambda m: m.topic == f"{spec.config.dlq_prefix}/counts/abc")[0]
    body = json.loads(dead.payload)
    assert body["error_type"] == "NoRoute"
    assert body["attempts"] == 0
    assert json.loads(body["payload"]) == {"v": 1}
    assert [e["n"] for e in journal.wait_for("handled", 1)] == [5]
    assert slot.terminate() == EXIT_OK


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unfinished_message_is_redelivered_after_kill_and_acks_follow_arrival_order(
    make_spec: SpecMaker,
    mosquitto_factory: Callable[..., Mosquitto],
    tmp_path: Path,
    journal: Journal,
    slots,
    protocol,
) -> None:
    broker = mosquitto_factory(extra_config="log_type debug")
    first_run = tmp_path / "first-run"
    first_run.touch()

    async def handle(n: int) -> None:
        journal.write("start", n=n)
        # On the first run message 0 never finishes; the others finish at once, out of order.
        if n == 0 and first_run.exists():
            await asyncio.sleep(60)
        journal.write("done", n=n)

    router = Router()
    router.on("work/{n:int}", handle, qos=1, shared=True)
    spec = make_spec(broker, router, tmp_path, protocol, concurrency=10)
    slot = slots.run(spec, router)
    watcher = Observer(broker)
    try:
        for n in range(6):
            watcher.publish(f"work/{n}", {"n": n})
        journal.wait_for("done", 5)
        time.sleep(0.3)  # any PUBACK the slot would send is at the broker by now
        sent, acked = puback_order(broker, spec.client_id)
        assert len(sent) == 6
        # 1..5 finished but wait behind 0: nothing is acked while 0 is unfinished.
        assert acked == []
        slot.kill()

        first_run.unlink()
        slot2 = slots.run(spec, router)
        done = journal.wait_for("done", 11)
        # The same client id gets every unacked message back, 0 included: nothing lost.
        assert sorted(e["n"] for e in done[5:]) == [0, 1, 2, 3, 4, 5]
        time.sleep(0.3)
        sent, acked = puback_order(broker, spec.client_id)
        redelivered = sent[6:]
        assert len(redelivered) == 6
        assert acked == redelivered  # every PUBACK, in the order the messages arrived
        assert slot2.terminate() == EXIT_OK
    finally:
        watcher.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ordered_acks_with_concurrent_handlers_finishing_out_of_order(
    make_spec: SpecMaker,
    mosquitto_factory: Callable[..., Mosquitto],
    tmp_path: Path,
    journal: Journal,
    slots,
    protocol,
) -> None:
    broker = mosquitto_factory(extra_config="log_type debug")

    async def handle(n: int) -> None:
        journal.write("start", n=n)
        await asyncio.sleep(0.05 * (10 - n))  # the first to arrive finishes last
        journal.write("done", n=n)

    router = Router()
    router.on("ordered/{n:int}", handle, qos=1, shared=True)
    spec = make_spec(broker, router, tmp_path, protocol, concurrency=20)
    slot = slots.run(spec, router)
    watcher = Observer(broker)
    try:
        for n in range(10):
            watcher.publish(f"ordered/{n}", {"n": n})
        done = journal.wait_for("done", 10)
        assert [e["n"] for e in done] != sorted(e["n"] for e in done)  # really out of order
        starts = journal.read("start")
        assert len(starts) == 10
        # The broker's log tells when it has taken all ten PUBACKs.
        poll(lambda: len(puback_order(broker, spec.client_id)[1]) >= 10, 5)
        sent, acked = puback_order(broker, spec.client_id)
        assert len(sent) == 10
        assert acked == sent
        assert slot.terminate() == EXIT_OK
        # A clean DISCONNECT, not a dropped connection.
        assert f"Received DISCONNECT from {spec.client_id}" in broker.log_path.read_text()
    finally:
        watcher.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sigterm_drains_in_flight_and_loses_nothing(
    make_spec: SpecMaker,
    mosquitto: Mosquitto,
    tmp_path: Path,
    journal: Journal,
    observer: Observer,
    slots,
    protocol,
) -> None:
    async def handle(n: int) -> None:
        journal.write("start", n=n)
        await asyncio.sleep(0.5)
        journal.write("done", n=n)

    router = Router()
    router.on("drain/{n:int}", handle, qos=1, shared=True)
    # Two in flight at a time: on SIGTERM two are finishing and the rest not started.
    spec = make_spec(mosquitto, router, tmp_path, protocol, concurrency=2)
    slot = slots.run(spec, router)
    for n in range(6):
        observer.publish(f"drain/{n}", {"n": n})
    journal.wait_for("start", 2)
    started = time.monotonic()
    assert slot.terminate() == EXIT_OK
    assert time.monotonic() - started < 5
    finished = {e["n"] for e in journal.read("done")}
    assert {e["n"] for e in journal.read("start")} <= finished  # every started one finished

    # The rest were left with the broker for this session and come back after a restart.
    slot2 = slots.run(spec, router)
    deadline = time.monotonic() + 10
    while {e["n"] for e in journal.read("done")} != set(range(6)):
        assert time.monotonic() < deadline, journal.read("done")
        time.sleep(0.05)
    assert slot2.terminate() == EXIT_OK
    handled = [e["n"] for e in journal.read("done")]
    assert sorted(set(handled)) == list(range(6))
    # Drained messages were acked, so nothing that finished before SIGTERM ran twice.
    assert sorted(handled) == list(range(6))


def test_idle_slot_stops_quickly_on_sigterm(
    make_spec: SpecMaker, mosquitto: Mosquitto, tmp_path: Path, slots
) -> None:
    async def handle(payload: Any) -> None:
        return None

    router = Router()
    router.on("idle/#", handle, qos=1)
    spec = make_spec(mosquitto, router, tmp_path, "5")
    assert spec.shared is False
    slot = slots.run(spec, router)
    started = time.monotonic()
    assert slot.terminate() == EXIT_OK
    assert time.monotonic() - started < 2


def test_sync_handler_runs_off_the_loop_and_can_publish(
    make_spec: SpecMaker, mosquitto: Mosquitto, tmp_path: Path, observer: Observer, slots
) -> None:
    def handle(device_id: str, payload: Any, client: Any) -> None:
        assert threading.current_thread() is not threading.main_thread()
        client.publish(f"sync-out/{device_id}", {"thread": threading.current_thread().name}, 1)

    router = Router()
    router.on("sync/{device_id}", handle, qos=1, shared=True)
    spec = make_spec(mosquitto, router, tmp_path, "3.1.1")
    slot = slots.run(spec, router)
    observer.subscribe("sync-out/#")
    observer.publish("sync/a", {"x": 1})
    out = observer.wait_for(lambda m: m.topic == "sync-out/a")[0]
    assert json.loads(out.payload)["thread"] != "MainThread"
    assert slot.terminate() == EXIT_OK


@pytest.mark.slow
def test_backlog_is_taken_in_bounded_portions_and_keepalive_survives_a_stuck_handler(
    make_spec: SpecMaker,
    mosquitto_factory: Callable[..., Mosquitto],
    tmp_path: Path,
    journal: Journal,
    slots,
) -> None:
    # mosquitto sends a whole queued backlog at once on reconnect; the slot holds at most its
    # high-water mark and stops reading. Here the first message blocks the only handler for
    # longer than two keep-alive periods: the slot must still answer pings, or paho drops the
    # connection and the broker redelivers (which would show as duplicates).
    broker = mosquitto_factory(extra_config="log_type debug")
    count = 300
    handled: list[int] = []

    async def handle(n: int) -> None:
        handled.append(n)
        if n == 0:
            await asyncio.sleep(11)
        if len(handled) % 100 == 0:
            journal.write("progress", handled=len(handled), unique=len(set(handled)))

    router = Router()
    router.on("backlog/{n:int}", handle, qos=1, shared=True)
    spec = make_spec(broker, router, tmp_path, "3.1.1", concurrency=1, mqtt_keepalive=5)
    first = slots.run(spec, router)
    assert first.terminate() == EXIT_OK

    with NumberedPublisher(broker, ack_timeout=10) as publisher:
        publisher.publish_raw((f"backlog/{n}", b"{}") for n in range(count))

    second = slots.run(spec, router)
    deadline = time.monotonic() + 40
    while not any(e["handled"] >= count for e in journal.read("progress")):
        assert time.monotonic() < deadline, journal.read("progress")
        time.sleep(0.1)
    final = journal.read("progress")[-1]
    # Exactly once: a dropped connection would have brought redeliveries.
    assert final == {"event": "progress", "handled": count, "unique": count}
    assert second.terminate() == EXIT_OK
    log = broker.log_path.read_text()
    assert log.count(f"as {spec.client_id} ") == 2  # connected twice, never reconnected
    assert "Received PINGREQ from " + spec.client_id in log  # the keep-alive was exercised


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_retired_slot_hands_over_everything_and_ends_its_session(
    make_spec: SpecMaker, mosquitto: Mosquitto, tmp_path: Path, journal: Journal, slots, protocol
) -> None:
    from routemq_runtime.worker import RETIRE_SIGNAL

    async def handle(n: int, context: Any) -> None:
        await asyncio.sleep(0.01)  # slower than the publisher: messages queue up for each slot
        journal.write("done", n=n, worker=context.worker_id)

    router = Router()
    router.on("retire/{n:int}", handle, qos=1, shared=True, worker_count=2)
    group = "g" + uuid.uuid4().hex[:6]
    specs = []
    for index in range(2):
        base = make_spec(mosquitto, router, tmp_path / str(index), protocol, group=group,
                         concurrency=2)  # fmt: skip
        (tmp_path / str(index)).mkdir()
        route_key = router.routes[0].key
        specs.append(
            SlotSpec(
                **{
                    **base.__dict__,
                    "slot_id": f"{route_key}-{index}",
                    "index": index,
                    "client_id": f"{base.client_id[:-2]}-{index}",
                }
            )
        )
    leaving, staying = (SlotProcess(spec, router).start() for spec in specs)
    slots.extend([leaving, staying])
    leaving.wait_ready()
    staying.wait_ready()

    sender = Observer(mosquitto)
    try:
        for n in range(400):
            sender.publish(f"retire/{n}", {"n": n})
            if n == 200:
                os.kill(leaving.process.pid, RETIRE_SIGNAL)
        leaving.process.join(15)
        assert leaving.process.exitcode == EXIT_OK
        # After it left, new messages all go to the remaining slot: none parked for the old one.
        for n in range(400, 500):
            sender.publish(f"retire/{n}", {"n": n})
        deadline = time.monotonic() + 15
        while {e["n"] for e in journal.read("done")} != set(range(500)):
            assert time.monotonic() < deadline, sorted(
                set(range(500)) - {e["n"] for e in journal.read("done")}
            )
            time.sleep(0.05)
    finally:
        sender.close()
    done = journal.read("done")
    by_worker = {e["worker"] for e in done if e["n"] >= 400}
    assert by_worker == {specs[1].slot_id}
    assert {e["worker"] for e in done if e["n"] < 200} == {s.slot_id for s in specs}
    assert staying.terminate() == EXIT_OK

    # The retired slot's session is gone from the broker.
    v5 = protocol == "5"
    probe = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=specs[0].client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else False,
    )
    present: list[bool] = []
    probe.on_connect = lambda c, u, flags, rc, props: present.append(flags.session_present)
    if v5:
        probe.connect(mosquitto.host, mosquitto.port, clean_start=False)
    else:
        probe.connect(mosquitto.host, mosquitto.port)
    deadline = time.monotonic() + 5
    while not present and time.monotonic() < deadline:
        probe.loop(0.05)
    probe.disconnect()
    assert present == [False]


def test_a_message_that_cannot_be_finished_is_redelivered_instead_of_blocking_acks(
    make_spec: SpecMaker,
    mosquitto: Mosquitto,
    tmp_path: Path,
    journal: Journal,
    observer: Observer,
    slots,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If even dead-lettering fails, later acks must not wait behind that message forever."""
    from routemq_runtime.worker import pipeline

    failures = iter([True])

    def flaky_topic(prefix: str, topic: str) -> str:
        if next(failures, False):
            raise ConnectionError("dead-letter publish failed")
        return f"{prefix}/{topic}"

    monkeypatch.setattr(pipeline, "dead_letter_topic", flaky_topic)  # the forked slot inherits it

    async def handle(name: str) -> None:
        journal.write("attempt", name=name)
        if name == "bad":
            raise ValueError("always fails")

    router = Router()
    router.on("jobs/{name}", handle, qos=1, shared=True)
    spec = make_spec(mosquitto, router, tmp_path, "5", retry_max_attempts=1)
    slot = slots.run(spec, router)
    observer.subscribe(f"{spec.config.dlq_prefix}/#")

    observer.publish("jobs/bad", {"n": 0})
    for n in range(5):
        observer.publish(f"jobs/good{n}", {"n": n})
    # The first dead letter fails; the slot reconnects, the broker redelivers, the second works.
    observer.wait_for(lambda m: m.topic == f"{spec.config.dlq_prefix}/jobs/bad")
    journal.wait_for("attempt", 7)
    assert slot.terminate() == EXIT_OK

    # Everything was acked: the same session holds nothing more.
    journal.path.unlink()
    again = slots.run(spec, router)
    time.sleep(0.5)
    assert journal.read("attempt") == []
    assert again.terminate() == EXIT_OK
