"""Pure routing: patterns, matching, middleware, injection and dispatch. No sockets."""

from routemq_runtime.message import InboundMessage, Publisher, decode_payload, encode_payload
from routemq_runtime.routing.context import Context
from routemq_runtime.routing.dispatch import Dispatcher, DispatchResult
from routemq_runtime.routing.middleware import Middleware
from routemq_runtime.routing.pattern import RouteDefinitionError, parse_pattern
from routemq_runtime.routing.payload_types import FieldError, PayloadValidationError
from routemq_runtime.routing.registry import RouterLoadError, RouterRegistry
from routemq_runtime.routing.route import Match, Route
from routemq_runtime.routing.router import Router

__all__ = [
    "Context",
    "DispatchResult",
    "Dispatcher",
    "FieldError",
    "InboundMessage",
    "Match",
    "Middleware",
    "PayloadValidationError",
    "Publisher",
    "Route",
    "RouteDefinitionError",
    "Router",
    "RouterLoadError",
    "RouterRegistry",
    "decode_payload",
    "encode_payload",
    "parse_pattern",
]
