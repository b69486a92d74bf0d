"""One MQTT message as every layer sees it, and how payloads turn into bytes and back.

Neutral ground: the transport produces :class:`InboundMessage`, routing hands it to handlers,
tests build it by hand. It imports nothing of ours.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Protocol

try:
    import orjson as _orjson
except ImportError:  # the optional extra, ``routemq-runtime[orjson]``
    _orjson = None


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


# Digits and "-" read as "0", every other byte as " ": a run of 20 is a number orjson may read
# otherwise than json (past 64 bits it gives a float where json gives the exact int).
_NUMBER_BYTES = bytes(48 if chr(b) in "0123456789-" else 32 for b in range(256))
_LONG_NUMBER = b"0" * 20
# The first byte of everything json.loads accepts: JSON's first characters and whitespace (also
# UTF-16/32 little-endian without a BOM begins with them), the null byte of big-endian ones and
# the first byte of each byte order mark.
_JSON_START = frozenset(b' \t\n\r{["-0123456789tfnNI\x00\xef\xfe\xff')


def decode_json(raw: bytes) -> Any:
    """The JSON in ``raw``, by orjson when it is installed, else by ``json.loads``; raises
    ValueError when it is not JSON. Either way the result is what ``json.loads`` gives."""
    if _orjson is None or not isinstance(raw, bytes):  # str and bytearray as json takes them
        return json.loads(raw)
    if _LONG_NUMBER not in raw.translate(_NUMBER_BYTES):
        try:
            return _orjson.loads(raw)
        except ValueError:
            # orjson refuses some of what json reads: NaN and Infinity, numbers beyond a float
            # (1e400), UTF-16/32 and BOMs, lone surrogates. Bytes that cannot start any of
            # those (binary, plain text) fail here without being parsed twice.
            if not raw or raw[0] not in _JSON_START:
                raise
    return json.loads(raw)


def decode_payload(raw: bytes) -> Any:
    """JSON when the bytes are JSON, else the bytes themselves (malformed JSON is not an error)."""
    if not raw:
        return raw
    try:
        return decode_json(raw)
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
    return json.dumps(payload, separators=(",", ":"), default=_jsonable).encode()


def _jsonable(value: Any) -> Any:
    """Typed models as JSON: called by ``json.dumps`` only for what it cannot encode itself, so
    plain dicts and lists pay nothing for it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)  # a pydantic model
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


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

    @property
    def response_topic(self) -> str | None:
        """MQTT 5 request/response: where the handler's answer goes (None: no answer wanted)."""
        return getattr(self.properties, "ResponseTopic", None)

    @property
    def correlation_data(self) -> bytes | None:
        """MQTT 5: what the requester matches the answer with; sent back unchanged."""
        return getattr(self.properties, "CorrelationData", None)

    def __repr__(self) -> str:
        return f"InboundMessage({self.topic!r}, {len(self.payload)} bytes, qos={self.qos})"
