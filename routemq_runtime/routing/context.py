"""What a handler sees of one message, and what it may publish through."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from routemq_runtime.routing.route import Route


class Publisher(Protocol):
    """The publish helper handed to handlers as ``client``."""

    def publish(
        self,
        topic: str,
        payload: Any = None,
        qos: int = 0,
        retain: bool = False,
        properties: Any = None,
    ) -> Any: ...


def decode_payload(raw: bytes) -> Any:
    """JSON when the bytes are JSON, else the bytes themselves (malformed JSON is not an error)."""
    if not raw:
        return raw
    try:
        return json.loads(raw)
    except ValueError:  # includes UnicodeDecodeError for non-UTF-8 bytes
        return raw


def encode_payload(payload: Any) -> bytes:
    """Outgoing payloads: bytes as is, str as UTF-8, None as empty, anything else as JSON."""
    if payload is None:
        return b""
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":")).encode()


class InboundMessage:
    """One message as the transport received it (the plain topic, never a `$share/` prefix)."""

    __slots__ = ("mid", "payload", "properties", "qos", "retain", "topic")

    def __init__(
        self,
        topic: str,
        payload: bytes = b"",
        qos: int = 0,
        retain: bool = False,
        properties: Any = None,
        mid: int | None = None,
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.mid = mid

    def __repr__(self) -> str:
        return f"InboundMessage({self.topic!r}, {len(self.payload)} bytes, qos={self.qos})"


_UNSET: Any = object()


class Context:
    """The full context of one delivery, passed to middleware and (as ``context``) to handlers."""

    __slots__ = (
        "_payload",
        "attempt",
        "client",
        "message",
        "params",
        "route",
        "state",
        "worker_id",
    )

    def __init__(
        self,
        message: InboundMessage,
        route: Route | None,
        params: dict[str, Any],
        client: Publisher | None = None,
        worker_id: str | None = None,
        attempt: int = 1,
    ) -> None:
        self.message = message
        self.route = route
        self.params = params
        self.client = client
        self.worker_id = worker_id
        self.attempt = attempt
        self.state: dict[str, Any] = {}
        self._payload = _UNSET

    @property
    def topic(self) -> str:
        return self.message.topic

    @property
    def raw(self) -> bytes:
        return self.message.payload

    @property
    def payload(self) -> Any:
        # Decoded once, on first use: a handler that never looks at the payload pays nothing.
        if self._payload is _UNSET:
            self._payload = decode_payload(self.message.payload)
        return self._payload

    @payload.setter
    def payload(self, value: Any) -> None:
        self._payload = value

    @property
    def qos(self) -> int:
        return self.message.qos

    @property
    def retain(self) -> bool:
        return self.message.retain

    @property
    def properties(self) -> Any:
        return self.message.properties

    def publish(self, topic: str, payload: Any = None, qos: int = 0, retain: bool = False) -> Any:
        if self.client is None:
            raise RuntimeError("this context has no client to publish with")
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    def __repr__(self) -> str:
        pattern = self.route.pattern if self.route else None
        return f"Context(topic={self.topic!r}, route={pattern!r}, params={self.params!r})"
