"""The supervisor's HTTP port: liveness, readiness and Prometheus metrics.

- ``/livez``: the supervisor loop is ticking and every running slot's heartbeat is fresh. It
  never looks at the broker: a broker outage must not make Kubernetes restart healthy pods.
- ``/readyz``: every slot is running, connected and subscribed (its ready file exists).
- ``/metrics``: every process's metrics, merged by prometheus-client's multiprocess collector.

Both probes answer with a small JSON body describing the slots, for humans with ``curl``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from routemq_runtime.supervisor.snapshot import Snapshot

logger = logging.getLogger("routemq.health")

#: The supervisor loop wakes at least once a second; this much silence means it is stuck.
LOOP_STALL_SECONDS = 10.0


class HealthSource(Protocol):
    """What the endpoints read: the table as the loop last published it, and the slots' files.

    Every member is safe to call from the server's thread."""

    group_name: str
    heartbeat_timeout: float

    def snapshot(self) -> Snapshot: ...

    def heartbeat_age(self, slot_id: str, now: float) -> float: ...

    def is_ready(self, slot_id: str) -> bool: ...


def liveness(source: HealthSource) -> tuple[bool, dict[str, Any]]:
    snap = source.snapshot()
    loop_age = time.monotonic() - snap.tick
    stale = []
    now = time.time()
    for view in snap.slots:
        if view.pid is None or view.state != "running":
            continue
        age = source.heartbeat_age(view.slot_id, now)
        if age > source.heartbeat_timeout:
            stale.append({"slot": view.slot_id, "heartbeat_age": round(age, 1)})
    ok = loop_age < LOOP_STALL_SECONDS and not stale
    return ok, {"live": ok, "loop_age": round(loop_age, 3), "stale_slots": stale}


def readiness(source: HealthSource) -> tuple[bool, dict[str, Any]]:
    snap = source.snapshot()
    slots = []
    # Sessions being retired for slots that are gone are no slots of this app's.
    retiring = [view.client_id for view in snap.slots if view.adopted]
    for view in snap.slots:
        if view.adopted:
            continue
        ready = view.pid is not None and view.state == "running" and source.is_ready(view.slot_id)
        slots.append(
            {
                "slot": view.slot_id,
                "route": view.route_key,
                "index": view.index,
                "client_id": view.client_id,
                "pid": view.pid,
                "state": view.state,
                "ready": ready,
                "restarts": view.restarts,
            }
        )
    serving = [s for s in slots if s["state"] != "retiring"]
    ok = not snap.stopping and bool(serving) and all(s["ready"] for s in serving)
    ok = ok and snap.broker_checked
    body = {"ready": ok, "stopping": snap.stopping, "broker_checked": snap.broker_checked}
    body["retiring_sessions"] = retiring
    return ok, {**body, "group": source.group_name, "slots": slots}


def failed_counts(source: HealthSource) -> dict[str, int] | None:
    """Stored failed messages per route; None when the app keeps no store or it cannot be read."""
    # Here: only a supervisor with a health port reads the store.
    from routemq_runtime.failed.store import StoreError, open_store, store_path

    config = getattr(source, "config", None)
    path = store_path(config) if config is not None else None
    if path is None:
        return None
    if not path.exists():
        return {}
    try:
        with open_store(path) as store:
            return store.counts()
    except StoreError as error:
        logger.warning("cannot count failed messages: %s", error)
        return None


def render_metrics(failed: dict[str, int] | None = None) -> tuple[bytes, str]:
    # Here, not at the top: prometheus-client picks multiprocess mode when first imported, and
    # the supervisor sets PROMETHEUS_MULTIPROC_DIR before that.
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    # A fresh registry per scrape: the collector reads every process's files each time.
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    if failed is not None:
        from routemq_runtime.metrics import FailedMessagesCollector  # after the multiproc dir

        registry.register(FailedMessagesCollector(failed))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # A probe that connects and says nothing must not hold a thread forever.
    timeout = 5

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        source = self.server.source
        try:
            if path == "/livez":
                ok, body = liveness(source)
                self._json(200 if ok else 503, body)
            elif path == "/readyz":
                ok, body = readiness(source)
                body["failed_messages"] = failed_counts(source)
                self._json(200 if ok else 503, body)
            elif path == "/metrics":
                data, content_type = render_metrics(failed_counts(source))
                self._send(200, data, content_type)
            else:
                self._json(404, {"error": f"no such endpoint: {path}"})
        except Exception as error:
            logger.exception("health endpoint %s failed", path)
            self._json(500, {"error": f"{type(error).__name__}: {error}"})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode() + b"\n", "application/json")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], source: HealthSource) -> None:
        self.source = source
        super().__init__(address, _Handler)


class HealthServer:
    """Serves the endpoints from a daemon thread of the supervisor process."""

    def __init__(self, source: HealthSource, port: int, host: str) -> None:
        self.host = host
        self.port = port
        try:
            self._server = _Server((self.host, port), source)
        except OSError as error:
            raise OSError(
                error.errno, f"cannot listen on health port {self.host}:{port}: {error.strerror}"
            ) from error
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="routemq-health",
            daemon=True,
        )
        self._thread.start()
        logger.info(
            "health endpoint on http://%s:%d (/livez /readyz /metrics)", self.host, self.port
        )

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=2)
            self._thread = None
        self._server.server_close()

    def close_in_child(self) -> None:
        """In a forked slot: let go of the listening socket (the thread did not survive fork)."""
        self._server.socket.close()
