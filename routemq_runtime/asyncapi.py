"""An AsyncAPI 3.0 document of an app: what it subscribes to, and what each message must look like.

Built from the router and the settings, for the teams that publish to the app: the broker (never
its password), one channel per route (the topic pattern, its parameters and their types), a
receive operation per route (QoS, shared group, worker count, and the reply when the handler
returns one) and the payload schemas from the handlers' type hints (JSON Schema).
"""

from __future__ import annotations

from typing import Any

from routemq_runtime.config import Config
from routemq_runtime.routing import Route, Router
from routemq_runtime.routing.hints import NO_ANNOTATION, return_annotation
from routemq_runtime.routing.pattern import LITERAL, MULTI, PARAM
from routemq_runtime.routing.payloads import PayloadPlan, PayloadTypeError, plan_payload

ASYNCAPI_VERSION = "3.0.0"
MQTT_BINDING = "0.2.0"
UNTYPED_PAYLOAD = {"description": "JSON when the bytes are JSON, else the raw bytes"}
_PARAM_TYPES = {"str": "string", "int": "integer", "float": "number"}


def asyncapi_document(
    router: Router, config: Config, *, title: str | None = None, version: str = "0.1.0"
) -> dict[str, Any]:
    """The document as plain data, ready for ``json.dumps`` or a YAML dumper."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for route in router.routes:
        key = route.key
        plan = getattr(route.invoker, "payload_plan", None)
        messages[key] = _message(f"{route.pattern} payload", plan, schemas)
        channels[key] = _channel(route)
        operation = _operation(route, config.mqtt_group_name)
        reply = _reply_plan(route)
        if reply is not False:
            reply_key = f"{key}-reply"
            messages[reply_key] = _message(f"reply of {route.pattern}", reply, schemas)
            messages[key]["bindings"] = {"mqtt": _request_binding()}
            channels[reply_key] = {
                "address": None,
                "description": "The requester's MQTT 5 Response Topic.",
                "messages": {"reply": {"$ref": f"#/components/messages/{reply_key}"}},
            }
            operation["reply"] = {
                "address": {
                    "location": "$message.header#/responseTopic",
                    "description": "Sent to the request's Response Topic, with its Correlation "
                    "Data, after the handler succeeded.",
                },
                "channel": {"$ref": f"#/channels/{reply_key}"},
                "messages": [{"$ref": f"#/channels/{reply_key}/messages/reply"}],
            }
        operations[f"receive-{key}"] = operation
    components: dict[str, Any] = {"messages": messages}
    if schemas:
        components["schemas"] = schemas
    server, security = _server(config)
    if security:
        components["securitySchemes"] = security
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": title or config.app_name,
            "version": version,
            "description": "The MQTT topics this RouteMQ app subscribes to.",
        },
        "defaultContentType": "application/json",
        "servers": {"broker": server},
        "channels": channels,
        "operations": operations,
        "components": components,
    }


def _server(config: Config) -> tuple[dict[str, Any], dict[str, Any]]:
    v5 = str(config.mqtt_protocol) == "5"
    binding: dict[str, Any] = {
        "cleanSession": False,
        "keepAlive": config.mqtt_keepalive,
        "bindingVersion": MQTT_BINDING,
    }
    if v5:
        binding["sessionExpiryInterval"] = config.mqtt_session_expiry
    server: dict[str, Any] = {
        "host": f"{config.mqtt_broker}:{config.mqtt_port}",
        "protocol": "secure-mqtt" if config.mqtt_tls else "mqtt",
        "protocolVersion": "5" if v5 else "3.1.1",
        "bindings": {"mqtt": binding},
    }
    if not config.mqtt_username:
        return server, {}
    # Only that credentials are needed: neither the username nor the password is published.
    server["security"] = [{"$ref": "#/components/securitySchemes/userPassword"}]
    scheme = {"type": "userPassword", "description": "MQTT username and password."}
    return server, {"userPassword": scheme}


def _address(route: Route) -> tuple[str, dict[str, Any]]:
    """The topic with ``{name}`` for every named parameter, and those parameters."""
    levels, parameters = [], {}
    for level in route.parsed.levels:
        if level.kind == LITERAL:
            levels.append(level.text)
        elif level.name is None:
            levels.append(level.filter)
        elif level.kind == PARAM:
            kind = _PARAM_TYPES.get(level.convertor.name, "string")
            levels.append("{" + level.name + "}")
            parameters[level.name] = {
                "description": f"One topic level, {'an' if kind == 'integer' else 'a'} {kind}.",
                "x-routemq-type": kind,
            }
        elif level.kind == MULTI:
            levels.append("{" + level.name + "}")
            parameters[level.name] = {
                "description": "The rest of the topic: one or more levels, '/' included.",
                "x-routemq-type": "path",
            }
    return "/".join(levels), parameters


def _channel(route: Route) -> dict[str, Any]:
    address, parameters = _address(route)
    channel: dict[str, Any] = {
        "address": address,
        "title": route.pattern,
        "messages": {"request": {"$ref": f"#/components/messages/{route.key}"}},
        "x-routemq-filter": route.filter,
    }
    if parameters:
        channel["parameters"] = parameters
    return channel


def _operation(route: Route, group: str) -> dict[str, Any]:
    return {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{route.key}"},
        "summary": f"Handled by {route.handler_name}.",
        "messages": [{"$ref": f"#/channels/{route.key}/messages/request"}],
        "bindings": {"mqtt": {"qos": route.qos, "retain": False, "bindingVersion": MQTT_BINDING}},
        "x-routemq": {
            "shared": route.shared,
            "group": group if route.shared else None,
            "subscription": route.subscription(group),
            "workerCount": route.worker_count,
        },
    }


def _message(title: str, plan: PayloadPlan | None, schemas: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"title": title}
    if plan is None:
        message["payload"] = dict(UNTYPED_PAYLOAD)
        return message
    if plan.content_type:
        message["contentType"] = plan.content_type
    message["payload"] = plan.schema(schemas)
    return message


def _request_binding() -> dict[str, Any]:
    return {
        "responseTopic": {"type": "string", "description": "Where the reply goes (MQTT 5)."},
        "correlationData": {"type": "string", "format": "binary"},
        "bindingVersion": MQTT_BINDING,
    }


def _reply_plan(route: Route) -> PayloadPlan | bool | None:
    """The plan describing the handler's return type; None for an untyped reply, False for no
    reply at all (no return annotation, or ``-> None``)."""
    annotation = return_annotation(route.handler)
    if annotation is NO_ANNOTATION or annotation is None or annotation is type(None):
        return False
    try:
        return plan_payload(annotation)
    except PayloadTypeError:  # a return type we cannot describe is still a reply
        return None
