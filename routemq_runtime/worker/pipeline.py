"""From a received PUBLISH to its PUBACK: bounded concurrency, retries, dead letters, ordered acks.

Messages are taken in arrival order by a pool of at most ``concurrency`` runner coroutines on the
slot's loop. A runner handles message after message without a loop turn while handlers finish
without waiting on anything, so fast handlers cost no task per message; when a handler awaits,
the next runner wakes up and takes the next message.

Acknowledgements go out in arrival order, each only once its message was handled or
dead-lettered: a message that finished early waits for those before it. After a lost connection
the broker redelivers every unacknowledged message, so acks still owed on the old connection are
dropped (their packet ids may be reused by new deliveries).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from routemq_runtime.message import InboundMessage
from routemq_runtime.metrics import UNROUTED
from routemq_runtime.routing import PayloadValidationError
from routemq_runtime.transport.backoff import backoff_delay
from routemq_runtime.worker.dead_letter import dead_letter_topic, envelope
from routemq_runtime.worker.publisher import reply_properties

if TYPE_CHECKING:
    from routemq_runtime.config import Config
    from routemq_runtime.metrics import SlotMetrics
    from routemq_runtime.routing import Dispatcher, DispatchResult, Match, Publisher
    from routemq_runtime.transport import MqttTransport

log = logging.getLogger("routemq.worker")


class Delivery:
    """One received message and its place in the ack order."""

    __slots__ = ("done", "generation", "match", "message")

    def __init__(self, message: InboundMessage, generation: int, match: Match | None) -> None:
        self.message = message
        self.generation = generation
        # Matched on arrival when the route labels the metrics; None: dispatch matches it.
        self.match = match
        self.done = False


class MessagePipeline:
    def __init__(
        self,
        dispatcher: Dispatcher,
        transport: MqttTransport,
        publisher: Publisher,
        *,
        worker_id: str,
        config: Config,
        concurrency: int,
        metrics: SlotMetrics,
        route_label: str | None = None,
        worker_number: int | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.transport = transport
        self.publisher = publisher
        self.worker_id = worker_id
        self.config = config
        self.concurrency = concurrency
        self.metrics = metrics
        # A slot serving one route labels every message with it without matching twice.
        self._route_label = route_label
        # Routes whose return value was dropped for want of MQTT 5 (said once per route).
        self._unanswerable: set[str] = set()
        # Decided once: the check costs nothing per message when the lines are off.
        self._log_messages = config.log_messages or log.isEnabledFor(logging.DEBUG)
        self._log_received = log.isEnabledFor(logging.DEBUG)
        # The design page's words: "Worker 3 received: ..." / "Worker 3 finished processing".
        self._worker_label = f"Worker {worker_id if worker_number is None else worker_number}"

        self.handled = 0
        self.dead_lettered = 0
        self._taking = True
        self._generation = 0
        self._waiting: deque[Delivery] = deque()
        self._acks: deque[Delivery] = deque()
        self._parked: list[asyncio.Future[None]] = []
        self._runners: set[asyncio.Task[None]] = set()
        self._starting = 0
        self._busy = 0
        self._busy_since = 0.0
        self._idle = asyncio.Event()
        self._idle.set()
        # Unfinished messages held before reading pauses (and resumes at half of it).
        self.high_water = max(64, 4 * concurrency)
        self._low_water = self.high_water // 2

    # -- intake (called from paho's on_message: only enqueues) ---------------------------------

    def submit(self, message: InboundMessage) -> None:
        if not self._taking:
            return  # not acked: the broker keeps it for this session
        label = self._route_label
        match = None
        if label is None:
            match = self.dispatcher.match(message.topic)
            label = match.route.pattern if match else UNROUTED
        delivery = Delivery(message, self._generation, match)
        if message.qos:
            self._acks.append(delivery)
        self._waiting.append(delivery)
        self.metrics.received(label)
        if self._log_received:
            log.debug("%s received: %s", self._worker_label, message.topic)
        if not self._starting:
            self._wake_runner()
        if len(self._acks) >= self.high_water or len(self._waiting) >= self.high_water:
            self.transport.pause_reading()

    def _maybe_resume(self) -> None:
        if len(self._acks) <= self._low_water and len(self._waiting) <= self._low_water:
            self.transport.resume_reading()

    def connection_lost(self) -> None:
        """The broker will redeliver every unacked message: forget acks owed on that connection."""
        self._generation += 1
        self._acks.clear()
        # Not started yet and redelivered anyway: drop them rather than handle them twice.
        kept = [d for d in self._waiting if not d.message.qos]
        self._waiting.clear()
        self._waiting.extend(kept)

    def stop_taking(self) -> int:
        """Stop starting messages; those received but not started stay unacked (the broker
        redelivers them to this session). Returns how many were left."""
        self._taking = False
        left = len(self._waiting)
        self._waiting.clear()
        for fut in self._parked:
            if not fut.done():
                fut.cancel()
        self._parked.clear()
        return left

    async def drain(self, timeout: float) -> bool:
        """Wait until every started message is finished (and acked). False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def settled(self) -> bool:
        """Nothing received is unfinished or unacked."""
        return not self._busy and not self._waiting and not self._acks

    async def wait_settled(self, timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.settled:
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    @property
    def in_flight(self) -> int:
        return self._busy + len(self._waiting)

    # -- runners -------------------------------------------------------------------------------

    def _wake_runner(self) -> None:
        if self._parked:
            self._starting += 1
            self._parked.pop().set_result(None)
        elif len(self._runners) < self.concurrency:
            self._starting += 1
            task = asyncio.get_running_loop().create_task(self._run())
            self._runners.add(task)
            task.add_done_callback(self._runners.discard)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self._starting -= 1
        waiting = self._waiting
        while self._taking:
            while waiting and self._taking:
                delivery = waiting.popleft()
                if self.transport.reading_paused:
                    self._maybe_resume()
                # Another runner is woken only once the previous one has started, so a run of
                # fast handlers stays on this runner.
                if waiting and not self._starting:
                    self._wake_runner()
                await self._handle(delivery)
            fut = loop.create_future()
            self._parked.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                return
            self._starting -= 1

    # -- one message ---------------------------------------------------------------------------

    async def _handle(self, delivery: Delivery) -> None:
        if not self._busy:
            self._busy_since = time.perf_counter()
            self._idle.clear()
        self._busy += 1
        message = delivery.message
        try:
            # The common case inline (one coroutine per message, no _dispatch call); failures go
            # to _recover.
            started = time.perf_counter()
            result = await self.dispatcher.dispatch(
                message, client=self.publisher, worker_id=self.worker_id, match=delivery.match
            )
            route = result.route
            if route is not None and result.error is None:
                pattern = route.parsed.text
                metrics = self.metrics
                metrics.observe(pattern, time.perf_counter() - started)
                metrics.processed(pattern, "ok")
                self.handled += 1
                if result.result is not None:
                    self._reply(message, result.result, pattern)
                if self._log_messages:
                    self._log_handled(message, result, started, 1)
                self._complete(delivery)
            elif await self._recover(delivery, result, started):
                self._complete(delivery)
        except Exception:
            # Neither handled nor dead-lettered (e.g. the dead letter could not be published):
            # it must not be acked, and every later ack waits behind it, so start the session
            # over and let the broker deliver it again.
            log.exception("failed to finish message on %r", message.topic)
            self.transport.reset_connection("a message could not be finished")
        finally:
            self._busy -= 1
            if not self._busy:
                self.metrics.busy(time.perf_counter() - self._busy_since)
                self._idle.set()

    def _dispatch(self, delivery: Delivery, attempt: int) -> Awaitable[DispatchResult]:
        return self.dispatcher.dispatch(
            delivery.message,
            client=self.publisher,
            worker_id=self.worker_id,
            attempt=attempt,
            match=delivery.match,
        )

    async def _recover(self, delivery: Delivery, result: DispatchResult, started: float) -> bool:
        """Retry a failed message with backoff; dead-letter it when it keeps failing or matches
        no route. True when it may be acked."""
        message = delivery.message
        metrics = self.metrics
        attempt = 1
        while True:
            route = result.route
            if route is None:
                log.error("no route matches topic %r; dead-lettering it", message.topic)
                metrics.processed(UNROUTED, "dead_lettered")
                return await self._dead_letter(
                    message, f"no route matches topic {message.topic!r}", 0, None, "no_route"
                )
            pattern = route.parsed.text
            metrics.observe(pattern, time.perf_counter() - started)
            error = result.error
            if error is None:
                metrics.processed(pattern, "ok")
                self.handled += 1
                if result.result is not None:
                    self._reply(message, result.result, pattern)
                if self._log_messages:
                    self._log_handled(message, result, started, attempt)
                return True
            metrics.error(pattern, type(error).__name__)
            if isinstance(error, PayloadValidationError):
                return await self._reject(message, error, pattern)
            if attempt >= self.config.retry_max_attempts:
                log.error(
                    "handler for %r failed %d time(s) on %r; dead-lettering it",
                    pattern,
                    attempt,
                    message.topic,
                    exc_info=error,
                )
                metrics.processed(pattern, "dead_lettered")
                return await self._dead_letter(message, error, attempt, pattern, "handler_error")
            await self._back_off(pattern, message, attempt, error)
            attempt += 1
            started = time.perf_counter()
            result = await self._dispatch(delivery, attempt)

    def _log_handled(
        self, message: InboundMessage, result: DispatchResult, started: float, attempt: int
    ) -> None:
        assert result.route is not None
        handler = ".".join(result.route.handler_name.split(".")[-2:])
        retried = f" (attempt {attempt})" if attempt > 1 else ""
        elapsed = (time.perf_counter() - started) * 1000
        log.info(
            "%s finished processing %s -> %s in %.1f ms%s",
            self._worker_label,
            message.topic,
            handler,
            elapsed,
            retried,
        )

    async def _reject(
        self, message: InboundMessage, error: PayloadValidationError, pattern: str
    ) -> bool:
        """A payload that does not fit the handler's type fails the same way every time: no
        retries, dead-lettered at once with the field errors."""
        log.warning(
            "route %r (worker %s) rejected the payload on %r; dead-lettering it: %s",
            pattern,
            self.worker_id,
            message.topic,
            error,
        )
        self.metrics.processed(pattern, "dead_lettered")
        details = {"validation_errors": [e.as_dict() for e in error.errors]}
        return await self._dead_letter(message, error, 1, pattern, "invalid_payload", details)

    def _reply(self, message: InboundMessage, value: object, pattern: str) -> None:
        """MQTT 5 request/response: the handler's value goes to the Response Topic with the
        request's Correlation Data, published before the request is acked."""
        topic = message.response_topic
        if topic is None:
            if message.properties is None and pattern not in self._unanswerable:
                self._unanswerable.add(pattern)
                log.debug("route %r returns values; MQTT 3.1.1 cannot send them back", pattern)
            return
        try:
            properties = reply_properties(message.correlation_data)
            self.publisher.publish(topic, value, message.qos, False, properties)
        except Exception:  # the request itself succeeded: it is acked all the same
            log.exception("could not send route %r's reply to %r", pattern, topic)

    async def _back_off(
        self, pattern: str, message: InboundMessage, attempt: int, error: BaseException
    ) -> None:
        config = self.config
        delay = backoff_delay(attempt, config.retry_base_delay, config.retry_max_delay)
        log.warning(
            "handler for %r failed on %r (attempt %d/%d): %s: %s; retrying in %.2fs",
            pattern,
            message.topic,
            attempt,
            config.retry_max_attempts,
            type(error).__name__,
            error,
            delay,
        )
        self.metrics.retried(pattern)
        await asyncio.sleep(delay)

    async def _dead_letter(
        self,
        message: InboundMessage,
        error: BaseException | str,
        attempts: int,
        route: str | None,
        reason: str,
        details: dict[str, object] | None = None,
    ) -> bool:
        body, user_properties = envelope(
            topic=message.topic,
            payload=message.payload,
            error=error,
            attempts=attempts,
            route=route,
            worker=self.worker_id,
            qos=message.qos,
            details=details,
            properties=message.properties,
        )
        topic = dead_letter_topic(self.config.dlq_prefix, message.topic)
        # QoS 1 and confirmed before the original is acked: the message is never in neither place.
        await self.transport.publish_confirmed(
            topic, body, qos=1, properties=self.transport.build_properties(user_properties)
        )
        self.metrics.dead_lettered(route or UNROUTED, reason)
        self.dead_lettered += 1
        return True

    def _complete(self, delivery: Delivery) -> None:
        delivery.done = True
        if not delivery.message.qos or delivery.generation != self._generation:
            return
        acks = self._acks
        ack = self.transport.ack
        while acks and acks[0].done:
            head = acks.popleft().message
            ack(head.mid, head.qos)
        if self.transport.reading_paused:
            self._maybe_resume()
