"""One failed message as the store keeps it, read from a dead letter's JSON envelope."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

#: The envelope's own fields; anything else it carries (validation errors...) is kept as details.
_ENVELOPE = frozenset(
    {
        "id", "topic", "error", "error_type", "attempts", "route", "worker", "qos", "failed_at",
        "payload", "payload_encoding", "traceback", "properties",
    }
)  # fmt: skip


@dataclass
class FailedMessage:
    """A message that failed every attempt. ``id`` is the store's number (0 until stored);
    ``failure_id`` names this failure everywhere (the envelope's ``id``)."""

    failure_id: str
    topic: str
    payload: bytes
    qos: int
    error_type: str
    error: str
    attempts: int
    route: str | None = None
    worker: str | None = None
    failed_at: float = field(default_factory=time.time)
    traceback: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    #: Earlier failures of the same message, oldest first (one entry per retry that failed).
    history: list[dict[str, Any]] = field(default_factory=list)
    #: Handler attempts across every retry, this failure's included.
    total_attempts: int = 0
    id: int = 0

    def __post_init__(self) -> None:
        self.total_attempts = self.total_attempts or self.attempts

    @property
    def digest(self) -> str:
        """What a retried message is recognised by when it fails again: its topic and bytes."""
        return hashlib.sha256(self.topic.encode() + b"\0" + self.payload).hexdigest()

    def summary(self) -> dict[str, Any]:
        """This failure as one entry of a later failure's history."""
        return {
            "failure_id": self.failure_id,
            "failed_at": self.failed_at,
            "attempts": self.attempts,
            "error_type": self.error_type,
            "error": self.error,
            "worker": self.worker,
        }

    def as_json(self) -> dict[str, Any]:
        """Every field, the payload as text when it is UTF-8 and base64 otherwise."""
        try:
            text, encoding = self.payload.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(self.payload).decode("ascii"), "base64"
        return {
            "id": self.id,
            "failure_id": self.failure_id,
            "topic": self.topic,
            "route": self.route,
            "qos": self.qos,
            "error_type": self.error_type,
            "error": self.error,
            "attempts": self.attempts,
            "total_attempts": self.total_attempts,
            "worker": self.worker,
            "failed_at": self.failed_at,
            "payload": text,
            "payload_encoding": encoding,
            "payload_bytes": len(self.payload),
            "properties": self.properties,
            "traceback": self.traceback,
            "details": self.details,
            "history": self.history,
        }


def from_dead_letter(dlq_topic: str, raw: bytes, prefix: str) -> FailedMessage:
    """The failure a dead letter describes. A message on the dead-letter topic that is not an
    envelope (published by hand, cut short) is kept too, as it came, never dropped."""
    base = prefix.rstrip("/") + "/"
    topic = dlq_topic[len(base) :] if dlq_topic.startswith(base) else dlq_topic
    try:
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("the envelope is not a JSON object")
        return _from_envelope(body, topic)
    except (ValueError, TypeError, KeyError, binascii.Error) as error:
        return FailedMessage(
            failure_id=hashlib.sha256(dlq_topic.encode() + b"\0" + raw).hexdigest()[:32],
            topic=topic,
            payload=raw,
            qos=1,
            error_type="UnreadableDeadLetter",
            error=f"not a RouteMQ dead-letter envelope ({type(error).__name__}: {error})",
            attempts=0,
        )


def _from_envelope(body: dict[str, Any], fallback_topic: str) -> FailedMessage:
    text = body["payload"]
    if not isinstance(text, str):
        raise TypeError("payload is not a string")
    if body.get("payload_encoding") == "base64":
        payload = base64.b64decode(text, validate=True)
    else:
        payload = text.encode("utf-8")
    failure_id = body.get("id") or hashlib.sha256(json.dumps(body).encode()).hexdigest()[:32]
    properties = body.get("properties") or {}
    return FailedMessage(
        failure_id=str(failure_id),
        topic=str(body.get("topic") or fallback_topic),
        payload=payload,
        qos=int(body.get("qos", 1)),
        error_type=str(body.get("error_type", "")),
        error=str(body.get("error", "")),
        attempts=int(body.get("attempts", 0)),
        route=body.get("route"),
        worker=body.get("worker"),
        failed_at=float(body.get("failed_at") or time.time()),
        traceback=body.get("traceback"),
        properties=properties if isinstance(properties, dict) else {},
        details={k: v for k, v in body.items() if k not in _ENVELOPE},
    )
