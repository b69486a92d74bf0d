"""Parameter convertors for ``{name:type}`` pattern levels.

Each convertor says whether one topic level fits and turns it into a Python value. Their ``rank``
orders sibling parameters when several routes could match the same level: a stricter type is the
more specific route.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar


class Convertor:
    name: ClassVar[str]
    rank: ClassVar[int]
    regex: ClassVar[re.Pattern[str] | None] = None

    def accepts(self, level: str) -> bool:
        return self.regex.fullmatch(level) is not None if self.regex else bool(level)

    def convert(self, level: str) -> Any:
        return level


class StringConvertor(Convertor):
    name = "str"
    rank = 2


class IntegerConvertor(Convertor):
    name = "int"
    rank = 0
    regex = re.compile(r"-?[0-9]+")

    def convert(self, level: str) -> int:
        return int(level)


class FloatConvertor(Convertor):
    name = "float"
    rank = 1
    regex = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")

    def convert(self, level: str) -> float:
        return float(level)


CONVERTORS: dict[str, Convertor] = {
    c.name: c() for c in (StringConvertor, IntegerConvertor, FloatConvertor)
}
# A level written `{name}` uses this convertor.
DEFAULT_CONVERTOR = StringConvertor.name
# `path` captures the rest of the topic (one or more levels); it is handled by the matcher itself.
PATH = "path"
