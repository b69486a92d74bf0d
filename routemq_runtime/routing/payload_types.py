"""Checked conversion of decoded JSON into the types a handler declares, and their JSON Schema.

One node per kind of type (scalar, list, dict, dataclass, TypedDict, union, literal, pydantic
model). A tree of nodes is built once per route by :mod:`routemq_runtime.routing.payloads`;
converting a message walks the tree, collecting every mismatch (field path, expected, got) rather
than stopping at the first one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The JSON Schema references of named types point into the AsyncAPI document's components.
REF_PREFIX = "#/components/schemas/"

_JSON_NAMES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
    list: "array",
    dict: "object",
}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One mismatch: where (``readings.0.value``; empty for the payload itself), what was expected
    and what arrived."""

    path: str
    expected: str
    got: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "expected": self.expected, "got": self.got}

    def __str__(self) -> str:
        return f"{self.path or '(payload)'}: expected {self.expected}, got {self.got}"


class PayloadValidationError(ValueError):
    """A payload does not fit the handler's declared type. A permanent failure: the same bytes
    would fail again, so the worker dead-letters the message without retrying."""

    def __init__(self, topic: str, route: str | None, errors: list[FieldError]) -> None:
        self.topic = topic
        self.route = route
        self.errors = errors
        details = "; ".join(str(error) for error in errors)
        super().__init__(f"invalid payload on {topic!r}: {details}")


def describe(value: Any) -> str:
    """``string 'hot'``: the JSON kind and a short repr of what arrived."""
    kind = _JSON_NAMES.get(type(value), type(value).__name__)
    text = repr(value)
    return f"{kind} {text[:60]}{'...' if len(text) > 60 else ''}"


def join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


#: Returned by a node for a value it rejected (the reason is in ``errors``).
INVALID: Any = object()


class Node:
    """Converts one decoded JSON value; appends to ``errors`` and returns INVALID on mismatch."""

    expected = "any value"

    def convert(self, value: Any, path: str, errors: list[FieldError]) -> Any:
        return value

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {}

    def fail(self, value: Any, path: str, errors: list[FieldError]) -> Any:
        errors.append(FieldError(path, self.expected, describe(value)))
        return INVALID

    def kinds(self) -> frozenset[type]:
        """The JSON value types (after decoding) this node may accept; unions dispatch on them."""
        return frozenset(_JSON_NAMES)


class ScalarNode(Node):
    def __init__(self, kind: type) -> None:
        self.kind = kind
        self.expected = _JSON_NAMES[kind]

    def convert(self, value: Any, path: str, errors: list[FieldError]) -> Any:
        kind = type(value)
        if kind is self.kind:
            return value
        if self.kind is float and kind is int:  # JSON does not tell 2 from 2.0
            return float(value)
        return self.fail(value, path, errors)

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": self.expected}

    def kinds(self) -> frozenset[type]:
        return frozenset({self.kind, int} if self.kind is float else {self.kind})


class LiteralNode(Node):
    def __init__(self, choices: tuple[Any, ...]) -> None:
        self.choices = choices
        self.expected = "one of " + ", ".join(repr(c) for c in choices)

    def convert(self, value: Any, path: str, errors: list[FieldError]) -> Any:
        if any(value == c and type(value) is type(c) for c in self.choices):
            return value
        return self.fail(value, path, errors)

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"enum": list(self.choices)}

    def kinds(self) -> frozenset[type]:
        return frozenset(type(c) for c in self.choices)


class ListNode(Node):
    expected = "array"

    def __init__(self, item: Node) -> None:
        self.item = item

    def convert(self, value: Any, path: str, errors: list[FieldError]) -> Any:
        if type(value) is not list:
            return self.fail(value, path, errors)
        item = self.item
        return [item.convert(v, join(path, i), errors) for i, v in enumerate(value)]

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": self.item.schema(defs)}

    def kinds(self) -> frozenset[type]:
        return frozenset({list})


class DictNode(Node):
    expected = "object"

    def __init__(self, values: Node) -> None:
        self.values = values

    def convert(self, value: Any, path: str, errors: list[FieldError]) -> Any:
        if type(value) is not dict:
            return self.fail(value, path, errors)
        values = self.values
        return {k: values.convert(v, join(path, k), errors) for k, v in value.items()}

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": self.values.schema(defs)}

    def kinds(self) -> frozenset[type]:
        return frozenset({dict})


class RecordNode(Node):
    """A dataclass (built by calling it) or a TypedDict (a plain dict): named, typed fields.
    Keys the type does not declare are ignored, as pydantic does by default."""

    expected = "object"

    def __init__(self, cls: type, build: bool) -> None:
        self.cls = cls
        self.build = build
        self.fields: list[tuple[str, Node, bool]] = []  # (name, node, required): set by the planner

    def convert(self, value: Any, path: str, errors: list[FieldError]) -> Any:
        if type(value) is not dict:
            return self.fail(value, path, errors)
        before = len(errors)
        out: dict[str, Any] = {}
        for name, node, required in self.fields:
            if name in value:
                out[name] = node.convert(value[name], join(path, name), errors)
            elif required:
                errors.append(FieldError(join(path, name), node.expected, "nothing (missing)"))
        if len(errors) != before:
            return INVALID
        return self.cls(**out) if self.build else out

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        name = self.cls.__name__
        if name not in defs:
            defs[name] = {}  # reserved first: a type met again while building refers to itself
            properties = {field: node.schema(defs) for field, node, _ in self.fields}
            required = [field for field, _, needed in self.fields if needed]
            defs[name] = {"type": "object", "title": name, "properties": properties}
            if required:
                defs[name]["required"] = required
        return {"$ref": REF_PREFIX + name}

    def kinds(self) -> frozenset[type]:
        return frozenset({dict})


class UnionNode(Node):
    """``A | B``: the member is chosen by the JSON kind of the value, so at most one member may
    accept each kind (the planner refuses unions it could not decide)."""

    def __init__(self, members: list[Node]) -> None:
        self.members = members
        self.by_kind = {kind: m for m in members for kind in m.kinds()}
        # float members also take JSON integers; an int member wins those.
        for member in members:
            if isinstance(member, ScalarNode) and member.kind is int:
                self.by_kind[int] = member
        self.expected = " or ".join(m.expected for m in members)

    def convert(self, value: Any, path: str, errors: list[FieldError]) -> Any:
        member = self.by_kind.get(type(value))
        if member is None:
            return self.fail(value, path, errors)
        return member.convert(value, path, errors)

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"anyOf": [m.schema(defs) for m in self.members]}

    def kinds(self) -> frozenset[type]:
        return frozenset(self.by_kind)


class PydanticNode(Node):
    """A pydantic model (v2): pydantic validates; its errors are reported as field errors."""

    expected = "object"

    def __init__(self, model: type, validation_error: type[Exception]) -> None:
        self.model = model
        self.validation_error = validation_error

    def convert(self, value: Any, path: str, errors: list[FieldError]) -> Any:
        try:
            return self.model.model_validate(value)  # type: ignore[attr-defined]
        except self.validation_error as error:
            errors.extend(pydantic_errors(error, path))
            return INVALID

    def from_json(self, raw: bytes, errors: list[FieldError]) -> Any:
        # pydantic parses and validates in one pass: faster than json.loads, then validate.
        try:
            return self.model.model_validate_json(raw)  # type: ignore[attr-defined]
        except self.validation_error as error:
            errors.extend(pydantic_errors(error, ""))
            return INVALID

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        name = self.model.__name__
        if name not in defs:
            schema = self.model.model_json_schema(ref_template=REF_PREFIX + "{model}")  # type: ignore[attr-defined]
            defs.update(schema.pop("$defs", {}))
            defs[name] = schema
        return {"$ref": REF_PREFIX + name}

    def kinds(self) -> frozenset[type]:
        return frozenset({dict})


def pydantic_errors(error: Any, path: str) -> list[FieldError]:
    found = []
    for entry in error.errors(include_url=False):
        where = path
        for key in entry.get("loc", ()):
            where = join(where, key)
        if entry.get("type") == "missing":
            found.append(FieldError(where, "a value", "nothing (missing)"))
            continue
        expected = str(entry.get("msg", "a valid value")).removeprefix("Input should be ")
        found.append(FieldError(where, expected, describe(entry.get("input"))))
    return found
