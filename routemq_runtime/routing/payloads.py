"""Typed payloads: a handler's ``payload: Model`` annotation, planned when the route is defined.

``bytes`` gets the raw bytes, ``str`` the UTF-8 text; ``dict``, ``list``, scalars, ``Literal``,
unions, dataclasses, ``TypedDict``s and pydantic models (the optional ``routemq-runtime[pydantic]``
extra) get the JSON body converted and checked. The plan is made once, so a type the converter
cannot handle (an unsupported class, a recursive dataclass, a union it could not decide between)
is refused at ``router.on(...)``; per message only the checks themselves run.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import TYPE_CHECKING, Any

from routemq_runtime.message import decode_json
from routemq_runtime.routing.payload_types import (
    INVALID,
    DictNode,
    FieldError,
    ListNode,
    LiteralNode,
    Node,
    PayloadValidationError,
    PydanticNode,
    RecordNode,
    ScalarNode,
    UnionNode,
    describe,
)

if TYPE_CHECKING:
    from routemq_runtime.routing.context import Context

#: Annotations that keep the untyped behaviour: JSON when the bytes are JSON, else the bytes.
UNTYPED: tuple[Any, ...] = (Any, object)
PYDANTIC_EXTRA = "pip install 'routemq-runtime[pydantic]'"
_SCALARS = (str, int, float, bool, type(None))


class PayloadTypeError(TypeError):
    """An annotation the converter cannot plan (the injector adds the route and parameter)."""


class PayloadPlan:
    """Turns one message's payload into the declared type, or raises PayloadValidationError."""

    content_type: str | None = None

    def load(self, ctx: Context) -> Any:
        raise NotImplementedError

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {}

    @staticmethod
    def reject(ctx: Context, errors: list[FieldError]) -> PayloadValidationError:
        route = ctx.route.pattern if ctx.route is not None else None
        return PayloadValidationError(ctx.message.topic, route, errors)


class BytesPlan(PayloadPlan):
    content_type = "application/octet-stream"

    def load(self, ctx: Context) -> Any:
        return ctx.message.payload

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "string", "format": "binary"}


class TextPlan(PayloadPlan):
    content_type = "text/plain"

    def load(self, ctx: Context) -> Any:
        raw = ctx.message.payload
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.reject(ctx, [FieldError("", "UTF-8 text", describe(raw))]) from None

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "string"}


class JsonPlan(PayloadPlan):
    content_type = "application/json"

    def __init__(self, node: Node) -> None:
        self.node = node
        # pydantic reads JSON itself, faster than decoding followed by validation.
        self._from_json = node.from_json if isinstance(node, PydanticNode) else None

    def load(self, ctx: Context) -> Any:
        errors: list[FieldError] = []
        if ctx.payload_decoded:  # middleware read or replaced the payload: convert that
            value = self.node.convert(ctx.payload, "", errors)
        elif self._from_json is not None:
            value = self._from_json(ctx.message.payload, errors)
        else:
            raw = ctx.message.payload
            try:
                decoded = decode_json(raw) if raw else None
            except ValueError:
                raise self.reject(ctx, [FieldError("", "JSON", describe(raw))]) from None
            value = self.node.convert(decoded, "", errors)
        if value is INVALID or errors:
            raise self.reject(ctx, errors)
        return value

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return self.node.schema(defs)


def plan_payload(annotation: Any) -> PayloadPlan | None:
    """The plan for a ``payload`` annotation; None keeps the untyped behaviour."""
    if annotation in UNTYPED:
        return None
    if annotation is bytes:
        return BytesPlan()
    if annotation is str:
        return TextPlan()
    return JsonPlan(_Planner().node(annotation, annotation_name(annotation)))


def annotation_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")


class _Planner:
    """Builds the node tree; ``_open`` holds the records being planned, to refuse recursion."""

    def __init__(self) -> None:
        self._open: list[type] = []
        self._done: dict[type, Node] = {}

    def node(self, tp: Any, where: str) -> Node:
        if tp in UNTYPED:
            return Node()
        if tp is None or tp in _SCALARS:
            return ScalarNode(type(None) if tp is None else tp)
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Annotated:
            return self.node(args[0], where)
        if origin is typing.Literal:
            if not all(type(a) in _SCALARS for a in args):
                raise PayloadTypeError(f"{where}: Literal values must be str, int, bool or None")
            return LiteralNode(args)
        if origin is typing.Union or origin is types.UnionType:
            return self._union(args, where)
        if tp is list or origin is list:
            return ListNode(self.node(args[0], f"{where}[]") if args else Node())
        if tp is dict or origin is dict:
            if args and args[0] is not str:
                raise PayloadTypeError(f"{where}: JSON object keys are strings; use dict[str, ...]")
            return DictNode(self.node(args[1], f"{where}[]") if args else Node())
        if isinstance(tp, type):
            return self._record(tp, where)
        raise PayloadTypeError(f"{where}: {annotation_name(tp)} is not a supported payload type")

    def _union(self, args: tuple[Any, ...], where: str) -> Node:
        members = [self.node(arg, where) for arg in args]
        claimed: dict[type, Any] = {}
        for arg, member in zip(args, members, strict=True):
            kinds = member.kinds()
            if isinstance(member, ScalarNode) and member.kind is float:
                kinds = kinds - {int}  # an int member takes JSON integers; float the rest
            for kind in kinds:
                other = claimed.setdefault(kind, arg)
                if other is not arg:
                    raise PayloadTypeError(
                        f"{where}: the union cannot decide between {annotation_name(other)} and "
                        f"{annotation_name(arg)}: both accept a JSON {describe(kind()).split()[0]}"
                    )
        return UnionNode(members)

    def _record(self, cls: type, where: str) -> Node:
        if cls in self._done:
            return self._done[cls]
        if cls in self._open:
            chain = " -> ".join(c.__qualname__ for c in [*self._open, cls])
            raise PayloadTypeError(f"{where}: {cls.__qualname__} is recursive ({chain})")
        if _is_pydantic_model(cls):
            return self._pydantic(cls, where)
        is_dataclass = dataclasses.is_dataclass(cls)
        if not is_dataclass and not typing.is_typeddict(cls):
            if cls is bytes:
                raise PayloadTypeError(f"{where}: bytes is supported only as the whole payload")
            raise PayloadTypeError(
                f"{where}: {cls.__qualname__} is not a supported payload type (use bytes, str, "
                "dict, list, a scalar, a dataclass, a TypedDict or a pydantic model)"
            )
        try:
            hints = typing.get_type_hints(cls)
        except Exception as error:  # NameError and friends from string annotations
            raise PayloadTypeError(
                f"{where}: cannot resolve {cls.__qualname__}'s annotations: {error}"
            ) from None
        node = RecordNode(cls, build=is_dataclass)
        self._open.append(cls)
        try:
            node.fields = [
                (name, self.node(hints[name], f"{where}.{name}"), required)
                for name, required in _record_fields(cls, is_dataclass)
            ]
        finally:
            self._open.pop()
        self._done[cls] = node
        return node

    @staticmethod
    def _pydantic(cls: type, where: str) -> Node:
        try:
            import pydantic  # the optional extra: imported only for apps that use its models
        except ImportError:
            raise PayloadTypeError(
                f"{where}: {cls.__qualname__} is a pydantic model, but pydantic is not "
                f"installed: {PYDANTIC_EXTRA}"
            ) from None
        if not hasattr(cls, "model_validate_json"):
            raise PayloadTypeError(
                f"{where}: {cls.__qualname__} needs pydantic 2 ({PYDANTIC_EXTRA})"
            )
        return PydanticNode(cls, pydantic.ValidationError)


def _record_fields(cls: type, is_dataclass: bool) -> list[tuple[str, bool]]:
    if is_dataclass:
        missing = dataclasses.MISSING
        return [
            (f.name, f.default is missing and f.default_factory is missing)
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.init
        ]
    required = cls.__required_keys__  # type: ignore[attr-defined]
    return [(name, name in required) for name in typing.get_type_hints(cls)]


def _is_pydantic_model(cls: type) -> bool:
    # Recognised by its bases' module, so telling needs no import of pydantic.
    return any(base.__module__.startswith("pydantic.") for base in cls.__mro__[1:])
