"""Typed payloads: the handler's ``payload`` annotation is planned when the route is defined and
every message is converted and checked against it (the TestClient runs the same dispatch path)."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import pytest

from routemq_runtime import RouteDefinitionError, Router, message
from routemq_runtime.routing import PayloadValidationError
from routemq_runtime.testing import TestClient


@dataclass
class Position:
    lat: float
    lon: float


@dataclass
class Reading:
    temperature: float
    unit: Literal["C", "F"] = "C"
    tags: list[str] = field(default_factory=list)
    position: Position | None = None


class Sample(TypedDict):
    value: int
    label: str


@dataclass
class Tree:
    name: str
    children: list[Tree]


def client_for(handler: Any, pattern: str = "sensors/{device_id}/data") -> TestClient:
    router = Router()
    router.on(pattern, handler)
    return TestClient(router)


async def echo(payload: Any) -> Any:
    return payload


def typed_echo(annotation: Any) -> Any:
    async def handle(payload):  # type: ignore[no-untyped-def]
        return payload

    handle.__annotations__["payload"] = annotation
    return handle


def test_a_dataclass_payload_is_converted_with_nested_fields_and_defaults() -> None:
    async def handle(device_id: str, payload: Reading) -> Reading:
        return payload

    body = {"temperature": 21, "tags": ["kitchen"], "position": {"lat": 1.5, "lon": 2}}
    outcome = client_for(handle).publish("sensors/k/data", body)

    assert outcome.ok, outcome.error
    assert outcome.result == Reading(21.0, "C", ["kitchen"], Position(1.5, 2.0))
    assert isinstance(outcome.result.temperature, float)


def test_a_bad_payload_fails_with_every_field_error() -> None:
    async def handle(payload: Reading) -> None:
        raise AssertionError("never called with a bad payload")

    body = {"temperature": "hot", "unit": "K", "tags": [1], "position": {"lat": 1}}
    outcome = client_for(handle).publish("sensors/k/data", body)

    error = outcome.error
    assert isinstance(error, PayloadValidationError)
    assert error.topic == "sensors/k/data" and error.route == "sensors/{device_id}/data"
    assert [e.as_dict() for e in error.errors] == [
        {"path": "temperature", "expected": "number", "got": "string 'hot'"},
        {"path": "unit", "expected": "one of 'C', 'F'", "got": "string 'K'"},
        {"path": "tags.0", "expected": "string", "got": "integer 1"},
        {"path": "position.lon", "expected": "number", "got": "nothing (missing)"},
    ]
    assert "temperature: expected number, got string 'hot'" in str(error)


def test_bytes_that_are_not_json_fail_a_json_type() -> None:
    outcome = client_for(typed_echo(Reading)).publish("sensors/k/data", b"\x00garbage")
    [error] = outcome.error.errors
    assert (error.path, error.expected) == ("", "JSON")


@pytest.mark.parametrize("decoder", ["orjson", "json"])
def test_typed_payloads_decode_as_json_loads_does(
    decoder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if decoder == "json":
        monkeypatch.setattr(message, "_orjson", None)
    client = client_for(typed_echo(dict[str, int]))
    big = b'{"id": 123456789012345678901234567890}'
    assert client.publish("sensors/k/data", big).result == {"id": 123456789012345678901234567890}
    assert client.publish("sensors/k/data", b"[Infinity]").error is not None  # not an int
    assert client_for(typed_echo(float)).publish("sensors/k/data", b"Infinity").result == math.inf
    [error] = client.publish("sensors/k/data", b"\x00garbage").error.errors
    assert error.expected == "JSON"


def test_a_typeddict_payload_is_a_checked_dict() -> None:
    client = client_for(typed_echo(Sample))
    assert client.publish("sensors/k/data", {"value": 3, "label": "x"}).result == {
        "value": 3,
        "label": "x",
    }
    errors = client.publish("sensors/k/data", {"value": True}).error.errors
    assert [(e.path, e.got) for e in errors] == [
        ("value", "boolean True"),
        ("label", "nothing (missing)"),
    ]


@pytest.mark.parametrize(
    ("annotation", "sent", "received"),
    [
        (bytes, b"\xff\x00", b"\xff\x00"),
        (str, "héllo", "héllo"),
        (dict, {"a": [1]}, {"a": [1]}),
        (dict[str, int], {"a": 1}, {"a": 1}),
        (list[float], [1, 2.5], [1.0, 2.5]),
        (float, b"21.5", 21.5),
        (int | str, b'"x"', "x"),
        (int | float, b"2", 2),
        (Reading | None, b"null", None),
        (Any, b"not json", b"not json"),
    ],
)
def test_plain_types_get_exactly_that(annotation: Any, sent: Any, received: Any) -> None:
    outcome = client_for(typed_echo(annotation)).publish("sensors/k/data", sent)
    assert outcome.ok, outcome.error
    assert outcome.result == received and type(outcome.result) is type(received)


def test_str_refuses_bytes_that_are_not_utf8() -> None:
    [error] = client_for(typed_echo(str)).publish("sensors/k/data", b"\xff").error.errors
    assert error.expected == "UTF-8 text"


def test_an_untyped_payload_keeps_json_or_bytes() -> None:
    client = client_for(echo)
    assert client.publish("sensors/k/data", {"a": 1}).result == {"a": 1}
    assert client.publish("sensors/k/data", b"\x01raw").result == b"\x01raw"


def test_string_annotations_resolve_in_the_handlers_module() -> None:
    async def handle(payload: Reading, client: NotImportedAtRunTime) -> Reading:  # type: ignore[name-defined] # noqa: F821
        return payload

    assert client_for(handle).publish("sensors/k/data", {"temperature": 1}).ok


def test_middleware_that_replaced_the_payload_is_what_gets_converted() -> None:
    class Unwrap:
        async def handle(self, context: Any, next: Any) -> Any:
            context.payload = context.payload["reading"]
            return await next(context)

    router = Router()
    router.on("r", typed_echo(Reading), middleware=[Unwrap])
    outcome = TestClient(router).publish("r", {"reading": {"temperature": 5}})
    assert outcome.result == Reading(5.0)


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (set[int], "set[int] is not a supported payload type"),
        (complex, "complex is not a supported payload type"),
        (list[bytes], "bytes is supported only as the whole payload"),
        (dict[int, str], "JSON object keys are strings"),
        (Tree, "Tree.children[]: Tree is recursive (Tree -> Tree)"),
        (Reading | Sample, "cannot decide between Reading and Sample: both accept a JSON object"),
        (list[int] | list[str], "both accept a JSON array"),
    ],
)
def test_an_unsupported_annotation_is_refused_when_the_route_is_defined(
    annotation: Any, message: str
) -> None:
    with pytest.raises(RouteDefinitionError) as caught:
        Router().on("sensors/{device_id}/data", typed_echo(annotation))
    text = str(caught.value)
    assert text.startswith("route 'sensors/{device_id}/data': handler ")
    assert "parameter 'payload'" in text and message in text


def test_an_unresolvable_string_annotation_names_route_and_parameter() -> None:
    async def handle(payload: Missing) -> None:  # type: ignore[name-defined] # noqa: F821
        pass

    with pytest.raises(RouteDefinitionError, match=r"parameter 'payload'.*'Missing'"):
        Router().on("x", handle)


def test_pydantic_models_are_validated_by_pydantic() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Model(pydantic.BaseModel):
        count: int
        name: str = "n"

    client = client_for(typed_echo(Model))
    assert client.publish("sensors/k/data", {"count": 3}).result == Model(count=3)
    errors = client.publish("sensors/k/data", {"count": "many"}).error.errors
    assert [(e.path, e.got) for e in errors] == [("count", "string 'many'")]
    assert "valid integer" in errors[0].expected
    [missing] = client.publish("sensors/k/data", {}).error.errors
    assert missing.as_dict() == {"path": "count", "expected": "a value", "got": "nothing (missing)"}


def test_a_pydantic_model_without_pydantic_installed_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Model(pydantic.BaseModel):
        count: int

    monkeypatch.setitem(sys.modules, "pydantic", None)  # `import pydantic` now fails
    with pytest.raises(RouteDefinitionError) as caught:
        Router().on("counts", typed_echo(Model))
    assert "Model is a pydantic model, but pydantic is not installed" in str(caught.value)
    assert "pip install 'routemq-runtime[pydantic]'" in str(caught.value)


def test_planning_happens_once_per_route_not_per_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from routemq_runtime.routing import payloads  # patched below

    client = client_for(typed_echo(Reading))
    monkeypatch.setattr(payloads, "plan_payload", None)  # would fail if called again
    for n in range(3):
        assert client.publish("sensors/k/data", {"temperature": n}).ok
