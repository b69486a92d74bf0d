"""What a handler sees of one message, and what it may publish through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routemq_runtime.message import InboundMessage, Publisher, decode_payload

if TYPE_CHECKING:
    from routemq_runtime.routing.route import Route


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
    def payload_decoded(self) -> bool:
        """Whether ``payload`` was read or set already (a typed payload then converts that)."""
        return self._payload is not _UNSET

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
