"""The dead-letter record: what failed, how often, and the original message, readable on 3.1.1 too.

The payload is a JSON envelope (so any protocol can read it); on MQTT 5 the same facts also travel
as user properties, so a consumer can filter without parsing.
"""

from __future__ import annotations

import base64
import json
import time
import traceback
import uuid
from typing import Any

_MAX_ERROR = 2000
#: A traceback longer than this keeps its end (where the error was raised).
_MAX_TRACEBACK = 20000
#: MQTT 5 properties of the original message that travel in the envelope (the rest, such as a
#: subscription identifier or a topic alias, belong to one delivery, not to the message).
KEPT_PROPERTIES = (
    "PayloadFormatIndicator",
    "MessageExpiryInterval",
    "ContentType",
    "ResponseTopic",
    "CorrelationData",
    "UserProperty",
)


def dead_letter_topic(prefix: str, topic: str) -> str:
    return f"{prefix.rstrip('/')}/{topic}"


def dead_letter_session(app_name: str) -> str:
    """The client id of the persistent session that keeps an app's dead letters
    (``{ROUTEMQ_DLQ_PREFIX}/#``) while nobody reads them: read them as this client id."""
    return f"{app_name}-dead-letters"


def describe_error(error: BaseException | str) -> tuple[str, str]:
    """``(error_type, message)``, the message trimmed to a sane size."""
    if isinstance(error, str):
        return "NoRoute", error[:_MAX_ERROR]
    return type(error).__name__, f"{type(error).__name__}: {error}"[:_MAX_ERROR]


def describe_traceback(error: BaseException | str) -> str | None:
    if isinstance(error, str) or error.__traceback__ is None:
        return None
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return text[-_MAX_TRACEBACK:]


def properties_json(properties: Any) -> dict[str, Any]:
    """The kept MQTT 5 properties as JSON values (bytes as base64, user properties as pairs)."""
    found: dict[str, Any] = {}
    for name in KEPT_PROPERTIES:
        value = getattr(properties, name, None) if properties is not None else None
        if value is None:
            continue
        if isinstance(value, bytes | bytearray):
            value = {"base64": base64.b64encode(bytes(value)).decode("ascii")}
        elif name == "UserProperty":
            value = [[str(k), str(v)] for k, v in value]
        found[name] = value
    return found


def envelope(
    *,
    topic: str,
    payload: bytes,
    error: BaseException | str,
    attempts: int,
    route: str | None,
    worker: str,
    qos: int,
    details: dict[str, Any] | None = None,
    properties: Any = None,
) -> tuple[bytes, list[tuple[str, str]]]:
    """The JSON payload and the MQTT 5 user properties of one dead letter (``details``: more
    fields for the JSON envelope, such as a payload's validation errors; ``properties``: the
    original message's MQTT 5 properties, kept so that a retry can send them again).

    ``id`` names this failure once and for all: a store that receives the same dead letter
    twice (redelivered after a crash) keeps it once."""
    error_type, message = describe_error(error)
    try:
        text, encoding = payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(payload).decode("ascii"), "base64"
    body: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "topic": topic,
        "error": message,
        "error_type": error_type,
        "attempts": attempts,
        "route": route,
        "worker": worker,
        "qos": qos,
        "failed_at": time.time(),
        "payload": text,
        "payload_encoding": encoding,
        "traceback": describe_traceback(error),
        "properties": properties_json(properties),
        **(details or {}),
    }
    user_properties = [
        ("routemq-original-topic", topic),
        ("routemq-error", message),
        ("routemq-error-type", error_type),
        ("routemq-attempts", str(attempts)),
        ("routemq-route", route or ""),
        ("routemq-worker", worker),
    ]
    return json.dumps(body, ensure_ascii=False).encode(), user_properties
