"""Turn what a user typed (``Sensor``, ``sensor-reading``, ``SensorController``) into safe names.

Every refusal names the rule it enforces, so the user knows what to type instead.
"""

from __future__ import annotations

import builtins
import keyword
import re
from typing import NamedTuple

from routemq_cli.generators.errors import GeneratorError

_ALLOWED = re.compile(r"[A-Za-z0-9_-]+")
# One word of a camel-cased piece: an acronym followed by a capitalised word ("HTTPClient" ->
# "HTTP", "Client"), a (capitalised) lowercase word with digits, or a trailing acronym.
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z0-9]+|[A-Z]+")
_KEYWORDS = frozenset(word.lower() for word in keyword.kwlist)
_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))


class InvalidName(GeneratorError):
    """A name that cannot become a Python module and class."""


class Name(NamedTuple):
    """A normalised name. ``words`` exclude the kind's suffix (``Controller``)."""

    raw: str
    words: tuple[str, ...]
    suffix: str
    module_suffix: bool = True

    @property
    def base_class(self) -> str:
        """``SensorReading``: the words in PascalCase, no suffix."""
        return "".join(word[0].upper() + word[1:] for word in self.words)

    @property
    def base_module(self) -> str:
        """``sensor_reading``: the words in snake_case, no suffix."""
        return "_".join(word.lower() for word in self.words)

    @property
    def class_name(self) -> str:
        return self.base_class + self.suffix

    @property
    def module(self) -> str:
        if not (self.suffix and self.module_suffix):
            return self.base_module
        return f"{self.base_module}_{self.suffix.lower()}"

    @property
    def topic(self) -> str:
        """``sensor-reading``: the words as one MQTT topic level."""
        return "-".join(word.lower() for word in self.words)


def split_words(text: str) -> list[str]:
    """``sensor-reading`` / ``sensor_reading`` / ``SensorReading`` -> ``["Sensor", "Reading"]``."""
    words: list[str] = []
    for piece in re.split(r"[-_]+", text):
        words.extend(_WORD.findall(piece))
    return words


def normalise(
    raw: str,
    *,
    suffix: str = "",
    what: str = "name",
    module_suffix: bool = True,
    has_class: bool = True,
) -> Name:
    """Validate ``raw`` and split it into words; raises :class:`InvalidName` naming the rule.

    ``module_suffix``: the module name ends with the suffix too (``sensor_controller``);
    ``has_class``: a class is generated from the name (a router is only a module).
    """
    text = raw.strip()
    shown = repr(raw)
    if not text:
        raise InvalidName(f"the {what} is empty", hint="give a name such as Sensor")
    if "/" in text or "\\" in text or ".." in text:
        raise InvalidName(
            f"{what} {shown} contains a path separator or '..'",
            hint="give a plain name; generated files always go to their app folder",
        )
    if text[0].isdigit():
        raise InvalidName(
            f"{what} {shown} starts with a digit, which a Python name cannot",
            hint="start it with a letter",
        )
    if not _ALLOWED.fullmatch(text):
        raise InvalidName(
            f"{what} {shown} is not a Python identifier after normalisation",
            hint="use ASCII letters, digits, '-' and '_' only (e.g. sensor-reading)",
        )
    words = split_words(text)
    if suffix and words and words[-1].lower() == suffix.lower():
        words = words[:-1]
    if not words:
        example = f"Sensor{suffix}" if suffix else "sensors"
        raise InvalidName(f"{what} {shown} has no name part", hint=f"give one such as {example}")
    name = Name(raw=raw, words=tuple(words), suffix=suffix, module_suffix=module_suffix)
    if name.base_module in _KEYWORDS:
        raise InvalidName(
            f"{what} {shown} is a Python keyword ({name.base_module!r})",
            hint="choose another name",
        )
    # The name a user's code binds: the class, or for a router its module.
    bound = name.class_name if has_class else name.module
    if bound in _BUILTINS:
        raise InvalidName(
            f"{what} {shown} would shadow the Python builtin {bound!r}",
            hint="choose another name",
        )
    for identifier in (name.module, name.class_name) if has_class else (name.module,):
        if not (identifier.isascii() and identifier.isidentifier()):
            raise InvalidName(
                f"{what} {shown} is not a Python identifier after normalisation ({identifier!r})",
                hint="use ASCII letters, digits, '-' and '_' only (e.g. sensor-reading)",
            )
    return name
