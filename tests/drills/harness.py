"""What the fault drills share: a drill app, a numbered publisher, the ledger of handled ids.

The drill app is run exactly as users run theirs (``python -m routemq_runtime run --workers``).
Its one route is served by a few slots; every handler appends ``worker id`` to a file of its own
process with a single ``write`` (which survives a SIGKILL right after it) before it returns, so
once a stream has ended the ledger says exactly which ids were completed, which are missing and
which were completed more than once.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from tests.integration.test_supervisor_processes import Supervised, wait_for
from tests.support.mosquitto import Mosquitto, free_port

REPO = Path(__file__).resolve().parents[2]

DRILL_ROUTER = textwrap.dedent(
    """
    import asyncio
    import os
    import time

    from routemq_runtime import Router

    OUT = os.environ["RECORD_DIR"]
    PREFIX = os.environ["TOPIC_PREFIX"]
    WORKERS = int(os.environ["DRILL_WORKERS"])
    DELAY = float(os.environ.get("HANDLER_DELAY", "0"))
    FAIL_MOD = int(os.environ.get("FAIL_MOD", "0"))
    BLOCK_IDS = {int(i) for i in os.environ.get("BLOCK_IDS", "").split(",") if i}
    BLOCK_SECONDS = float(os.environ.get("BLOCK_SECONDS", "0"))
    _fd = {}


    def record(line):
        # One O_APPEND write per id, before the handler returns (and so before its ack).
        pid = os.getpid()
        if pid not in _fd:
            path = os.path.join(OUT, f"{pid}.log")
            _fd[pid] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(_fd[pid], (line + "\\n").encode())


    async def numbered(payload, context):
        n = payload["id"]
        if FAIL_MOD and n % FAIL_MOD == 7:
            raise RuntimeError(f"drill failure for id {n}")
        if DELAY:
            await asyncio.sleep(DELAY)
        record(f"{context.worker_id} {n}")


    def blocking(payload, context):
        # A plain function: RouteMQ runs it on a thread, the slot's loop keeps the connection.
        n = payload["id"]
        if n in BLOCK_IDS:
            time.sleep(BLOCK_SECONDS)
        record(f"{context.worker_id} {n}")


    async def raw(kind, n, payload, context):
        if isinstance(payload, bytes) and payload:
            # What this app cannot read goes to the dead-letter topic, with its bytes.
            raise ValueError(f"{kind} payload of {len(payload)} bytes is not JSON")
        size = len(payload.get("blob", "")) if isinstance(payload, dict) else len(payload)
        record(f"{context.worker_id} {n} {kind} {type(payload).__name__} {size}")


    router = Router()
    HANDLER = os.environ.get("DRILL_HANDLER", "numbered")
    if HANDLER == "payload":
        pattern, handler = f"{PREFIX}/payload/{{kind}}/{{n:int}}", raw
    else:
        pattern, handler = f"{PREFIX}/jobs/{{kind}}", {"numbered": numbered, "blocking": blocking}[
            HANDLER
        ]
    router.on(pattern, handler, shared=True, worker_count=WORKERS, qos=1)
    """
)


class Ledger:
    """The ids the handlers recorded, one file per process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def lines(self) -> list[list[str]]:
        out = []
        for path in self.directory.glob("*.log"):
            out += [line.split() for line in path.read_text().splitlines() if line]
        return out

    def ids(self) -> Counter[int]:
        return Counter(int(parts[1]) for parts in self.lines())

    def count(self) -> int:
        return sum(self.ids().values())

    def wait_for(self, expected: set[int], timeout: float) -> Counter[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = self.ids()
            if expected <= set(ids):
                return ids
            time.sleep(0.1)
        return self.ids()


class DrillApp:
    """A drill app directory and its runs under the supervisor."""

    def __init__(self, root: Path, broker: Mosquitto, workers: int, **env: str) -> None:
        (root / "app" / "routers").mkdir(parents=True)
        (root / "app" / "__init__.py").write_text("")
        (root / "app" / "routers" / "__init__.py").write_text("")
        (root / "app" / "routers" / "drill.py").write_text(DRILL_ROUTER)
        self.root = root
        self.broker = broker
        self.workers = workers
        tag = uuid.uuid4().hex[:6]
        # Own app name (client ids), group and topics: no session of another drill collects
        # this drill's messages on the shared broker.
        self.prefix = f"d{tag}"
        self.ledger = Ledger(root / "records")
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MQTT_", "WORKER_", "ROUTEMQ_", "PROMETHEUS_"))
        }
        self.env = {
            **base,
            "PYTHONPATH": str(REPO),
            "RECORD_DIR": str(self.ledger.directory),
            "TOPIC_PREFIX": self.prefix,
            "DRILL_WORKERS": str(workers),
            "MQTT_BROKER": broker.host,
            "MQTT_PORT": str(broker.port),
            "MQTT_GROUP_NAME": f"g{tag}",
            "ROUTEMQ_APP_NAME": f"drill{tag}",
            "ROUTEMQ_HEALTH_HOST": "127.0.0.1",
            "ROUTEMQ_DLQ_PREFIX": f"dlq{tag}",
            **env,
        }
        self.runs: list[Supervised] = []

    def topic(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    @property
    def dlq_filter(self) -> str:
        return f"{self.env['ROUTEMQ_DLQ_PREFIX']}/#"

    def start(self) -> Supervised:
        argv = [sys.executable, "-m", "routemq_runtime", "run", "--workers"]
        argv += ["--app-dir", str(self.root)]
        port = free_port()
        env = {**self.env, "ROUTEMQ_HEALTH_PORT": str(port)}
        run = Supervised(argv, env, self.root, port, f"run-{len(self.runs)}.log")
        self.runs.append(run)
        return run

    def output(self) -> str:
        return "".join(run.output() for run in self.runs)

    def cleanup(self) -> None:
        for run in self.runs:
            run.cleanup()


class StreamPublisher:
    """QoS 1 publisher of numbered JSON messages; waits for every PUBACK."""

    def __init__(self, broker: Mosquitto) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"drill-pub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
        )
        self.client.max_inflight_messages_set(100)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, topic: str, ids: Iterable[int], per_second: float = 0) -> None:
        infos = []
        gap = 1.0 / per_second if per_second else 0.0
        started = time.monotonic()
        for n, i in enumerate(ids):
            infos.append(self.client.publish(topic, json.dumps({"id": i}), qos=1))
            if gap:
                delay = started + n * gap - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        for info in infos:
            info.wait_for_publish(30)

    def publish_raw(self, items: Iterable[tuple[str, bytes]]) -> None:
        infos = [self.client.publish(topic, payload, qos=1) for topic, payload in items]
        for info in infos:
            info.wait_for_publish(30)

    def in_background(self, topic: str, ids: Iterable[int], per_second: float = 0):
        thread = threading.Thread(target=self.publish, args=(topic, list(ids), per_second))
        thread.start()
        return thread

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class DeadLetters:
    """Subscribed to the drill's dead-letter topics before the stream starts."""

    def __init__(self, broker: Mosquitto, topic_filter: str) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"drill-dlq-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic_filter, qos=1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise AssertionError(f"no SUBACK for {topic_filter}")

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        envelope = json.loads(message.payload)
        envelope["_properties"] = dict(getattr(message.properties, "UserProperty", []) or [])
        with self._lock:
            self.envelopes.append(envelope)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.envelopes)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class DrillResult:
    name: str
    published: int
    completed: int = 0
    dead_lettered: int = 0
    missing: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_ledger(
        cls, name: str, published: set[int], ids: Counter[int], dead: set[int] = frozenset()
    ) -> DrillResult:
        done = set(ids)
        return cls(
            name=name,
            published=len(published),
            completed=len(done & published),
            dead_lettered=len(dead & published),
            missing=len(published - done - dead),
            duplicates=sum(n - 1 for n in ids.values() if n > 1),
        )

    def row(self) -> str:
        return (
            f"| {self.name} | {self.published} | {self.completed} | {self.dead_lettered} "
            f"| {self.missing} | {self.duplicates} | {self.seconds:.1f} | {'; '.join(self.notes)} |"
        )


def wait_slots(run: Supervised, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    return run.wait_ready(count=count, timeout=timeout)


def wait_count(ledger: Ledger, at_least: int, timeout: float = 20.0) -> None:
    wait_for(lambda: ledger.count() >= at_least, timeout, f"{at_least} handled messages")
