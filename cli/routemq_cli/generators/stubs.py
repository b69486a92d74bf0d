"""Stub templates: an app's own ``stubs/`` folder overrides the built-in ones.

Stubs are ``string.Template`` text (``${class_name}``; a literal dollar is ``$$``): rendering one
costs nothing at start-up, which keeps ``make:*`` as quick as ``import typer``.
"""

from __future__ import annotations

import string
from pathlib import Path

from routemq_cli.generators.errors import GeneratorError

BUILTIN_STUBS = Path(__file__).resolve().parent.parent / "stubs"
APP_STUBS = "stubs"  # the override folder, relative to the app directory


class StubError(GeneratorError):
    """A stub that is missing or does not render."""


def builtin_stub_names() -> list[str]:
    return sorted(path.name for path in BUILTIN_STUBS.glob("*.stub"))


def find_stub(name: str, app_dir: Path) -> Path:
    """The app's ``stubs/<name>`` when it exists, else the built-in stub."""
    override = app_dir / APP_STUBS / name
    if override.is_file():
        return override
    builtin = BUILTIN_STUBS / name
    if builtin.is_file():
        return builtin
    raise StubError(
        f"no stub named {name!r}", hint=f"built-in stubs: {', '.join(builtin_stub_names())}"
    )


def render_stub(path: Path, values: dict[str, str], *, shown: str) -> str:
    """Fill a stub; an unknown placeholder is an error naming the stub and the placeholder."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise StubError(f"cannot read stub {shown}: {error}") from error
    available = ", ".join(f"${{{key}}}" for key in sorted(values))
    try:
        return string.Template(text).substitute(values)
    except KeyError as error:
        raise StubError(
            f"stub {shown} uses unknown placeholder ${{{error.args[0]}}}",
            hint=f"available placeholders: {available}",
        ) from error
    except ValueError as error:
        raise StubError(
            f"stub {shown} has an invalid placeholder ({error})",
            hint="write a literal dollar sign as $$",
        ) from error
