"""What the fault drills share: the drill app, its dead letters and the table of results.

The drill app is run exactly as users run theirs (``python -m routemq_runtime run --workers``).
Its one route is served by a few slots; every handler appends ``worker id`` to a file of its own
process with a single ``write`` (which survives a SIGKILL right after it) before it returns, so
once a stream has ended the ledger says exactly which ids were completed, which are missing and
which were completed more than once.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.apps import RecordingApp
from tests.support.mosquitto import Mosquitto
from tests.support.observer import Observer

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
    if os.environ.get("DRILL_PARAM"):  # another pattern for the same topics (a new route key)
        pattern = pattern.replace("{kind}", "{" + os.environ["DRILL_PARAM"] + "}")
    QOS = int(os.environ.get("DRILL_QOS", "1"))
    router.on(pattern, handler, shared=True, worker_count=WORKERS, qos=QOS)
    """
)


class DrillApp(RecordingApp):
    """The drill app: ``workers`` slots of its one route, run with ``--workers``."""

    start_args = ("--workers",)

    def __init__(self, root: Path, broker: Mosquitto, workers: int, **env: str) -> None:
        super().__init__(root, broker, DRILL_ROUTER, DRILL_WORKERS=str(workers), **env)
        self.workers = workers


class DeadLetters(Observer):
    """Subscribed to the drill's dead-letter topics before the stream starts."""

    def __init__(self, broker: Mosquitto, topic_filter: str) -> None:
        super().__init__(broker, prefix="drill-dlq")
        self.subscribe(topic_filter, timeout=10)

    def snapshot(self) -> list[dict[str, Any]]:
        """The dead-letter envelopes so far, with their MQTT 5 user properties."""
        envelopes = []
        for message in self.received():
            envelope = json.loads(message.payload)
            properties = getattr(message.properties, "UserProperty", []) or []
            envelope["_properties"] = dict(properties)
            envelopes.append(envelope)
        return envelopes


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
