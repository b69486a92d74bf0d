"""Start-up speed for the CLI through Typer's private coercion API, with a fallback.

Typer coerces every parameter through pydantic, whose import alone costs about as much as
Typer's. For parameters that already arrive with the right type, ``typer._coercion`` lets a
command skip that; when Typer's internals differ, nothing is changed and Typer's own coercion
runs (slower start-up, same behaviour).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup


def already_typed_param() -> Any:
    """A RuntimeParam class that skips pydantic for values of the right type already.

    Typer coerces every parameter (even ``--help``, whose unset value is None) through a pydantic
    TypeAdapter built on first use, and importing pydantic alone costs about as much as
    importing Typer. A name is already a ``str`` and a flag already a ``bool``; anything else goes
    to Typer's own coercion. None when Typer's internals differ: then nothing is changed.
    """
    try:
        # Typer's private module: the fast path exists only while it looks like this.
        from typer._coercion import RuntimeParam, build_runtime_param, resolve_type_descriptor
    except ImportError:
        return None

    class AlreadyTyped(RuntimeParam):
        def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
            if value is None or type(value) is self.annotation:
                return value
            descriptor = resolve_type_descriptor(self.annotation, self.parameter_info)
            return build_runtime_param(descriptor).coerce(value, param=param, ctx=ctx)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:  # pragma: no cover
            raise AssertionError("coerce() never calls this")

    return AlreadyTyped


ALREADY_TYPED = already_typed_param()


def skip_pydantic(params: list[Any]) -> list[Any]:
    """Give plain ``str``/``bool`` parameters :func:`already_typed_param`'s coercion."""
    already_typed = ALREADY_TYPED
    if already_typed is None:
        return params
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if (
            descriptor is not None
            and getattr(param, "_runtime_param", False) is None
            and descriptor.annotation in (str, bool)
            and descriptor.parameter_info.parser is None
            and param.nargs == 1
            and not param.multiple
        ):
            try:
                param._runtime_param = already_typed(
                    parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
                )
            except (TypeError, AttributeError):  # another Typer: keep its own coercion
                return params
    return params


class FastCommand(TyperCommand):
    """A command whose ``str``/``bool`` parameters skip pydantic (see ``already_typed_param``)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return skip_pydantic(super().get_params(ctx))


class FastGroup(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return skip_pydantic(super().get_params(ctx))
