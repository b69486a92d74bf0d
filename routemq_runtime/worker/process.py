"""The worker process serving one slot: transport + dispatch + retries/dead letters + heartbeat.

``run_slot`` is what the supervisor calls in a forked child. It returns the process exit code:
0 after a drain on SIGTERM/SIGINT (or after retiring on :data:`RETIRE_SIGNAL`),
:data:`EXIT_BOOT_ERROR` when restarting cannot help (unknown route, broker refusing the
credentials or a subscription).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from routemq_runtime.lifecycle import EXIT_BOOT_ERROR, EXIT_FAILED, EXIT_OK, RETIRE_SIGNAL
from routemq_runtime.log import configure_from_config
from routemq_runtime.message import InboundMessage
from routemq_runtime.routing import Dispatcher, Route, Router
from routemq_runtime.worker.inherited_loop import forget_inherited_loop
from routemq_runtime.worker.spec import SlotSpec

if TYPE_CHECKING:
    from routemq_runtime.transport import MqttTransport

log = logging.getLogger("routemq.worker")

_TICK = 1.0


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def _remove(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class Worker:
    """What runs in a worker process: the slot's transport, pipeline, heartbeat and drain."""

    def __init__(self, spec: SlotSpec, routes: list[Route]) -> None:
        # Here, not at the top: prometheus-client loads only in a process that runs a slot,
        # after the supervisor chose the metrics dir (it reads it on import).
        from routemq_runtime.metrics import SlotMetrics
        from routemq_runtime.worker.pipeline import MessagePipeline
        from routemq_runtime.worker.publisher import SlotPublisher

        self.spec = spec
        self.routes = routes
        #: The design page's names: the integer worker id and this worker's logger.
        self.worker_id = spec.worker_number
        self.logger = log
        self.metrics = SlotMetrics(spec.slot_id, spec.worker_number)
        self.router = self.setup_router()
        self.setup_client()
        self.pipeline = MessagePipeline(
            Dispatcher(self.router),
            self.transport,
            SlotPublisher(self.transport),
            worker_id=spec.slot_id,
            config=spec.config,
            concurrency=spec.concurrency,
            metrics=self.metrics,
            route_label=routes[0].pattern if len(routes) == 1 else None,
            worker_number=spec.worker_number if spec.worker_number >= 0 else None,
        )
        self._stop: asyncio.Event | None = None
        self._stop_signal: int | None = None
        self._retiring = False
        self.session_ended = False
        self._reported_reconnects = 0

    # -- hooks a subclass may override (the design page's WorkerProcess) ---------------------

    def setup_router(self) -> Router:
        """The router this worker dispatches with: its slot's routes only."""
        return Router().only(self.routes)

    def setup_client(self) -> None:
        """Build ``self.client`` (``self.transport``): one MQTT connection, stable client id."""
        # Here: paho-mqtt loads only in a process that runs a slot.
        from routemq_runtime.transport import Subscription, slot_transport

        spec = self.spec
        group = spec.group if spec.shared else None
        subscriptions = [
            Subscription(route.subscription(group), route.qos) for route in self.routes
        ]
        # A subclass's _on_message gets every message; the plain path skips the extra call.
        overridden = type(self)._on_message is not Worker._on_message
        self.transport = slot_transport(spec.config)(
            spec.config,
            spec.client_id,
            [] if spec.adopted else subscriptions,
            self._receive if overridden else self._submit,
            # MQTT 5 lets the broker know how many unacked messages this slot takes at once.
            receive_maximum=spec.concurrency,
            on_ready=self._on_ready,
            on_connection_lost=self._on_connection_lost,
            unsubscribe=spec.stale_filters,
            once=spec.adopted,
        )

    @property
    def client(self) -> MqttTransport:
        return self.transport

    def _on_message(self, client: object, userdata: object, msg: InboundMessage) -> None:
        """Take one message (``msg.topic``, ``msg.payload``): queue it for the handlers.

        Runs on the network thread and only queues (handling and the ack happen later)."""
        self.pipeline.submit(msg)

    # -- transport callbacks -------------------------------------------------------------------

    def _submit(self, message: InboundMessage) -> None:
        self.pipeline.submit(message)

    def _receive(self, message: InboundMessage) -> None:
        self._on_message(self.transport, None, message)

    def _on_ready(self, ready: bool) -> None:
        if ready and not self._retiring:
            if self.spec.ready_path is not None:
                _touch(self.spec.ready_path)
        else:
            _remove(self.spec.ready_path)

    def _on_connection_lost(self) -> None:
        self.pipeline.connection_lost()

    # -- lifecycle -----------------------------------------------------------------------------

    def request_stop(self, signum: int | None = None) -> None:
        if self._stop is not None and not self._stop.is_set():
            self._stop_signal = signum
            self._stop.set()

    def request_retire(self) -> None:
        if self._stop is not None and not self._stop.is_set():
            self._retiring = True
            self.request_stop(RETIRE_SIGNAL)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        # Plain `def` handlers run in this pool: as many at once as the slot takes messages
        # (threads are started only when needed).
        loop.set_default_executor(
            ThreadPoolExecutor(self.spec.concurrency, thread_name_prefix="routemq-handler")
        )
        self._stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig)
        loop.add_signal_handler(RETIRE_SIGNAL, self.request_retire)
        spec = self.spec
        log.info(
            "slot %s starting: client id %r, routes %s, concurrency %d, MQTT %s",
            spec.slot_id,
            spec.client_id,
            ", ".join(spec.route_patterns),
            spec.concurrency,
            spec.config.mqtt_protocol,
        )
        # The heartbeat goes on while draining: a slot finishing its work is alive.
        ticker = loop.create_task(self._tick())
        self.transport.start()
        try:
            if spec.adopted:
                return await self._adopt()
            await self._stop.wait()
            if self.transport.fatal_error is not None:
                await self.transport.close(timeout=1.0)
                self._finish()
                return EXIT_BOOT_ERROR
            if self._retiring:
                return await self._retire()
            return await self._drain()
        finally:
            ticker.cancel()

    async def _adopt(self) -> int:
        """Retire a session some gone slot left behind; exit 0 only once it has ended."""
        try:
            await self.transport.wait_ready(self.spec.config.drain_timeout)
        except Exception as error:  # unreachable or refused (owner back?): try another time
            log.warning("could not take over session %r: %s", self.spec.client_id, error)
            await self.transport.close(timeout=1.0)
            return EXIT_FAILED
        self._retiring = True
        await self._retire()
        return EXIT_OK if self.session_ended else EXIT_FAILED

    async def _retire(self) -> int:
        """Leave for good (scaled down): unsubscribe, handle what the broker still holds for
        this session, then end the session so that nothing more is queued for it.

        Every round waits until all received messages are handled and acked, then sends a
        barrier (an UNSUBSCRIBE the broker answers after processing those acks, and after
        sending whatever its queue still had room to send). A round that brings no new message
        means the session is empty. If that does not happen within the drain budget, the slot
        stops as on SIGTERM and keeps its session, so that nothing is lost.
        """
        config = self.spec.config
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.drain_timeout

        def left() -> float:
            return max(0.0, deadline - loop.time())

        log.info("retiring: unsubscribing, then handling what the broker still holds for it")
        if await self.transport.unsubscribe_all(left()):
            while left() > 0 and await self.pipeline.wait_settled(left()):
                before = self.transport.received
                if not await self.transport.barrier(left()):
                    break
                if self.transport.received == before and self.pipeline.settled:
                    await self.transport.close(timeout=min(5.0, left() + 1), forget_session=True)
                    self.session_ended = self.transport.fatal_error is None
                    self._finish()
                    log.info(
                        "slot %s retired: %d handled, %d dead-lettered; session ended",
                        self.spec.slot_id,
                        self.pipeline.handled,
                        self.pipeline.dead_lettered,
                    )
                    return EXIT_OK
        log.warning("could not empty the session in time; stopping and keeping it instead")
        return await self._drain()

    async def _drain(self) -> int:
        config = self.spec.config
        name = signal.Signals(self._stop_signal).name if self._stop_signal else "stop"
        left = self.pipeline.stop_taking()
        busy = self.pipeline.in_flight
        log.info(
            "%s: draining %d in-flight message(s); %d not started stay with the broker",
            name,
            busy,
            left,
        )
        if not await self.pipeline.drain(config.drain_timeout):
            log.warning(
                "drain budget of %.1fs spent with %d message(s) unfinished; the broker keeps them",
                config.drain_timeout,
                self.pipeline.in_flight,
            )
        await self.transport.close(timeout=min(5.0, config.drain_timeout))
        self._finish()
        log.info(
            "slot %s stopped: %d handled, %d dead-lettered",
            self.spec.slot_id,
            self.pipeline.handled,
            self.pipeline.dead_lettered,
        )
        return EXIT_OK

    def _finish(self) -> None:
        _remove(self.spec.ready_path)
        self._flush_metrics()

    def _flush_metrics(self) -> None:
        reconnects = self.transport.reconnects
        for _ in range(reconnects - self._reported_reconnects):
            self.metrics.reconnected()
        self._reported_reconnects = reconnects
        self.metrics.flush()

    async def _tick(self) -> None:
        heartbeat = self.spec.heartbeat_path
        while True:
            if heartbeat is not None:
                _touch(heartbeat)
            try:
                self._flush_metrics()
            except Exception:  # metrics must never stop the heartbeat
                log.exception("metrics flush failed")
            if self.transport.fatal_error is not None:
                self.request_stop()
            await asyncio.sleep(_TICK)


def run_slot(spec: SlotSpec, router: Router, worker_class: type[Worker] = Worker) -> int:
    """Serve ``spec`` in this process with a ``worker_class`` until SIGTERM/SIGINT; returns
    the exit code."""
    number = spec.worker_number if spec.worker_number >= 0 else None
    configure_from_config(spec.config, worker=spec.slot_id, worker_number=number)
    try:
        routes = [router.find(pattern) for pattern in spec.route_patterns]
    except KeyError as error:
        log.error("slot %s: %s (routes known: %s)", spec.slot_id, error.args[0], len(router))
        return EXIT_BOOT_ERROR
    forget_inherited_loop()
    try:
        worker = worker_class(spec, routes)
    except OSError as error:  # ssl.SSLError too: TLS files are loaded when the client is built
        files = spec.config.tls_files()
        named = ", ".join(f"{k}={v!r}" for k, v in files.items() if v) or "no TLS files set"
        log.error("slot %s cannot load its TLS settings (%s): %s", spec.slot_id, named, error)
        return EXIT_BOOT_ERROR
    try:
        return asyncio.run(worker.run())
    except Exception as error:
        from routemq_runtime.transport import TransportError  # loaded by Worker() already

        if isinstance(error, TransportError | ValueError):
            log.error("slot %s cannot start: %s", spec.slot_id, error)
            return EXIT_BOOT_ERROR
        raise
