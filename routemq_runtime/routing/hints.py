"""A handler's annotations as types, also when they are written as strings.

``from __future__ import annotations`` turns every annotation into a string. Only the ones that
matter are resolved, one by one: another parameter may name a type imported for type checkers
only, which must not break the route.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from routemq_runtime.routing.payloads import PayloadTypeError

#: ``return_annotation`` of a handler without one.
NO_ANNOTATION: Any = inspect.Parameter.empty


def _function(handler: Callable[..., Any]) -> Any:
    target = inspect.unwrap(handler)
    if isinstance(target, functools.partial):
        target = target.func
    if inspect.isfunction(target) or inspect.ismethod(target):
        return target
    return getattr(target, "__call__", target)  # noqa: B004 - callable objects


def _resolve(handler: Callable[..., Any], name: str, annotation: Any) -> Any:
    if not isinstance(annotation, str):
        return annotation
    function = _function(handler)
    try:
        return typing.get_type_hints(function)[name]
    except Exception:  # another annotation failed to resolve: resolve just this one
        pass
    namespace = getattr(function, "__globals__", None) or {}
    try:
        return eval(annotation, dict(namespace))  # what typing.get_type_hints does per annotation
    except Exception as error:
        raise PayloadTypeError(f"cannot resolve the annotation {annotation!r}: {error}") from None


def parameter_annotation(handler: Callable[..., Any], parameter: inspect.Parameter) -> Any:
    """The parameter's type; ``Any`` when it has none."""
    if parameter.annotation is inspect.Parameter.empty:
        return Any
    return _resolve(handler, parameter.name, parameter.annotation)


def return_annotation(handler: Callable[..., Any]) -> Any:
    """The handler's declared return type, or NO_ANNOTATION (also when it cannot be resolved)."""
    try:
        annotation = inspect.signature(handler).return_annotation
        if annotation is inspect.Signature.empty:
            return NO_ANNOTATION
        return _resolve(handler, "return", annotation)
    except (PayloadTypeError, TypeError, ValueError):
        return NO_ANNOTATION
