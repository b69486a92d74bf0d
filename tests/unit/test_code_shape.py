"""Modules and functions stay small enough to read in one sitting: about 400 lines per module,
60 per function. A module that outgrows this holds more than one concept; split it."""

from __future__ import annotations

import ast

import pytest

from tests.unit.test_import_graph import MODULES

MAX_MODULE_LINES = 410
MAX_FUNCTION_LINES = 60
#: Known to be too long; to be split.
TOO_LONG_FOR_NOW: set[str] = set()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_small(module: str) -> None:
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_MODULE_LINES, f"{module} has {lines} lines"


def test_functions_are_short() -> None:
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                name = f"{module}.{node.name}"
                if length > MAX_FUNCTION_LINES and name not in TOO_LONG_FOR_NOW:
                    long.append(f"{name}: {length} lines")
    assert long == []
