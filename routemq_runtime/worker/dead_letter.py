"""The dead-letter record: what failed, how often, and the original message, readable on 3.1.1 too.

The payload is a JSON envelope (so any protocol can read it); on MQTT 5 the same facts also travel
as user properties, so a consumer can filter without parsing.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

_MAX_ERROR = 2000


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
) -> tuple[bytes, list[tuple[str, str]]]:
    """The JSON payload and the MQTT 5 user properties of one dead letter (``details``: more
    fields for the JSON envelope, such as a payload's validation errors)."""
    error_type, message = describe_error(error)
    try:
        text, encoding = payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(payload).decode("ascii"), "base64"
    body: dict[str, Any] = {
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
