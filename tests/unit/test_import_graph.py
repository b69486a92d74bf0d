"""The project's imports flow one way and form no circle.

Every ``import`` of the runtime and the CLI is read with ``ast`` (module level, inside functions
and under ``TYPE_CHECKING`` alike: a circle of type-only imports is still a circle to a reader)
and checked against the layering in ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"routemq_runtime": ROOT / "routemq_runtime", "routemq_cli": ROOT / "cli/routemq_cli"}

#: (importer prefix, imported prefix, why it is forbidden)
FORBIDDEN = [
    ("routemq_runtime", "routemq_cli", "the runtime never imports the CLI"),
    ("routemq_runtime.transport", "routemq_runtime.supervisor", "transport knows no processes"),
    ("routemq_runtime.worker", "routemq_runtime.supervisor", "a worker knows no supervisor"),
    ("routemq_runtime.transport", "routemq_runtime.routing", "transport knows no routes"),
    ("routemq_runtime.transport", "routemq_runtime.worker", "transport serves the worker"),
    ("routemq_runtime.message", "routemq_runtime", "message is the neutral leaf"),
]
#: Routing is pure: besides itself it may use only the neutral message module.
ROUTING_MAY_USE = ("routemq_runtime.routing", "routemq_runtime.message")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    in_function: bool
    commented: bool


def module_name(package: str, path: Path) -> str:
    parts = path.relative_to(SOURCES[package]).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((package, *parts))


def project_modules() -> dict[str, Path]:
    return {
        module_name(package, path): path
        for package, root in SOURCES.items()
        for path in sorted(root.rglob("*.py"))
    }


MODULES = project_modules()


def _targets(node: ast.Import | ast.ImportFrom, importer: str) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = node.module or ""
    if node.level:
        package = importer.split(".")
        if MODULES[importer].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in MODULES else base


def _resolve(name: str) -> str | None:
    """The project module an import executes (the longest known prefix), or None."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _has_reason(lines: list[str], node: ast.stmt) -> bool:
    """A comment on the import's line or on the line above it, or, for an import right below
    another import, that one's reason (one comment may explain a block of imports)."""
    line = node.lineno
    while True:
        if "#" in lines[line - 1]:
            return True
        line -= 1
        while line >= 1 and not lines[line - 1].strip():  # isort's blank line between groups
            line -= 1
        above = lines[line - 1].strip() if line >= 1 else ""
        if above.startswith("#"):
            return True
        if not above.startswith(("import ", "from ")):
            return False


def imports_of(module: str) -> list[Import]:
    path = MODULES[module]
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _targets(child, module):
                    resolved = _resolve(target)
                    if resolved is not None and resolved != module:
                        found.append(
                            Import(
                                module,
                                resolved,
                                child.lineno,
                                in_function,
                                _has_reason(lines, child),
                            )
                        )
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            visit(child, inside)

    visit(ast.parse(source, str(path)), False)
    return found


ALL_IMPORTS = [edge for module in MODULES for edge in imports_of(module)]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for edge in ALL_IMPORTS:
        graph[edge.importer].add(edge.imported)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = walk(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = walk(start)
            if found:
                return found
    return None


def test_the_walker_sees_the_project() -> None:
    assert "routemq_runtime.routing.router" in MODULES
    assert "routemq_cli.main" in MODULES
    assert any(e.importer == "routemq_runtime.routing.router" for e in ALL_IMPORTS)


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle() -> None:
    cycle = find_cycle(_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(("importer", "imported", "why"), FORBIDDEN)
def test_imports_flow_one_way(importer: str, imported: str, why: str) -> None:
    wrong = [
        f"{e.importer}:{e.line} imports {e.imported}"
        for e in ALL_IMPORTS
        if _under(e.importer, importer) and _under(e.imported, imported)
    ]
    assert wrong == [], why


def test_routing_depends_on_nothing_else_of_ours() -> None:
    wrong = [
        f"{e.importer}:{e.line} imports {e.imported}"
        for e in ALL_IMPORTS
        if _under(e.importer, "routemq_runtime.routing")
        and not any(_under(e.imported, allowed) for allowed in ROUTING_MAY_USE)
    ]
    assert wrong == []


#: Not yet annotated: the project's template and upgrade commands.
UNCHECKED: set[str] = set()


def test_every_function_level_import_says_why() -> None:
    silent = [
        f"{e.importer}:{e.line} imports {e.imported}"
        for e in ALL_IMPORTS
        if e.in_function and not e.commented and e.importer not in UNCHECKED
    ]
    assert silent == [], "a function-level import needs a one-line comment saying why"


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")
