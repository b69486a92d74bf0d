"""Test an app without a broker: the worker's dispatch path with an in-memory transport.

>>> client = TestClient(router)
>>> outcome = client.publish("sensors/42/data", {"temperature": 21.5})
>>> assert outcome.ok and outcome.route.pattern == "sensors/{device_id}/data"
>>> assert client.published[0].topic == "alerts/42"

MQTT 5 request/response: give a ``response_topic`` and the handler's return value comes back as
``outcome.reply`` (also recorded in ``client.published``), as a worker would publish it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from routemq_runtime.routing import (
    Dispatcher,
    DispatchResult,
    InboundMessage,
    PayloadValidationError,
    Router,
    decode_payload,
    encode_payload,
)

__all__ = [
    "MemoryPublisher",
    "NoRouteError",
    # What a typed payload that does not fit raises, for asserting on ``outcome.error``.
    "PayloadValidationError",
    "PublishedMessage",
    "RequestProperties",
    "TestClient",
]


class NoRouteError(LookupError):
    """Raised by ``TestClient.publish(..., raise_exceptions=True)`` when no route matches."""


@dataclass(frozen=True)
class PublishedMessage:
    topic: str
    raw: bytes
    qos: int = 0
    retain: bool = False
    properties: Any = None

    @property
    def payload(self) -> Any:
        """JSON-decoded when the bytes are JSON, else the bytes."""
        return decode_payload(self.raw)


class RequestProperties:
    """The MQTT 5 properties of a request: where to answer, and what to answer with."""

    def __init__(self, response_topic: str, correlation_data: bytes | None = None) -> None:
        self.ResponseTopic = response_topic
        self.CorrelationData = correlation_data

    def __repr__(self) -> str:
        return f"RequestProperties({self.ResponseTopic!r}, {self.CorrelationData!r})"


class MemoryPublisher:
    """Records what handlers publish; the ``client`` handlers receive in tests."""

    def __init__(self) -> None:
        self.published: list[PublishedMessage] = []

    def publish(
        self,
        topic: str,
        payload: Any = None,
        qos: int = 0,
        retain: bool = False,
        properties: Any = None,
    ) -> PublishedMessage:
        message = PublishedMessage(topic, encode_payload(payload), qos, retain, properties)
        self.published.append(message)
        return message


class TestClient:
    """Publish messages into a router as the worker would, and see what happened.

    ``publish`` returns the :class:`DispatchResult` (route, params, result or exception). With
    ``raise_exceptions=True`` a handler's exception is re-raised, and a message that matches no
    route raises :class:`NoRouteError`.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        router: Router,
        *,
        worker_id: str = "test-0",
        raise_exceptions: bool = False,
    ) -> None:
        self.router = router
        self.dispatcher = Dispatcher(router)
        self.transport = MemoryPublisher()
        self.worker_id = worker_id
        self.raise_exceptions = raise_exceptions
        self.results: list[DispatchResult] = []
        self._runner: asyncio.Runner | None = None

    @property
    def published(self) -> list[PublishedMessage]:
        return self.transport.published

    async def apublish(
        self,
        topic: str,
        payload: Any = None,
        qos: int = 0,
        retain: bool = False,
        properties: Any = None,
        *,
        response_topic: str | None = None,
        correlation_data: bytes | None = None,
    ) -> DispatchResult:
        """The async form, for tests that already run an event loop."""
        if response_topic is not None:
            properties = RequestProperties(response_topic, correlation_data)
        message = InboundMessage(topic, encode_payload(payload), qos, retain, properties)
        result = await self.dispatcher.dispatch(
            message, client=self.transport, worker_id=self.worker_id
        )
        self.results.append(result)
        reply_to = message.response_topic
        if result.ok and result.result is not None and reply_to is not None:
            reply = {"CorrelationData": message.correlation_data}
            result.reply = self.transport.publish(reply_to, result.result, qos, False, reply)
        if self.raise_exceptions:
            if not result.matched:
                raise NoRouteError(f"no route matches topic {topic!r}")
            if result.error is not None:
                raise result.error
        return result

    def publish(
        self,
        topic: str,
        payload: Any = None,
        qos: int = 0,
        retain: bool = False,
        properties: Any = None,
        *,
        response_topic: str | None = None,
        correlation_data: bytes | None = None,
    ) -> DispatchResult:
        if self._runner is None:
            self._runner = asyncio.Runner()
        request = self.apublish(
            topic,
            payload,
            qos,
            retain,
            properties,
            response_topic=response_topic,
            correlation_data=correlation_data,
        )
        return self._runner.run(request)

    @property
    def loop_open(self) -> bool:
        """Whether ``publish`` left an event loop open (``close()`` or ``with`` closes it)."""
        return self._runner is not None

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def __enter__(self) -> TestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
