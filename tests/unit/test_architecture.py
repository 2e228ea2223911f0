"""The shape of the code, checked: no import cycles between modules or packages of
``functions/`` (function-local imports count; imports only for type checkers do not), and no
module of ``functions/aiflow`` longer than about 600 lines."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
MAX_LINES = 600
KNOWN_CYCLES: list[list[str]] = []


def modules() -> dict[str, Path]:
    """Every module under functions/, by dotted name (packages by their own name)."""
    found: dict[str, Path] = {}
    for path in FUNCTIONS.rglob("*.py"):
        if "project-templates" in path.parts or "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(FUNCTIONS).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of functions/ that ``name`` imports when it runs (anywhere in the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` imports pkg.mod; ``from mod import Name`` imports mod.
            candidates = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for candidate in candidates:
            # The deepest known module the import names (``from .x import Name`` is ``.x``).
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return result


def unit_of(module: str) -> str:
    """The package a module belongs to for the package-level check: a subpackage of
    aiflow (``aiflow.protocol``), else the module itself (aiflow's root modules, receptionist's
    modules are each a unit of their own layer)."""
    parts = module.split(".")
    if parts[0] == "aiflow" and len(parts) >= 2 and (FUNCTIONS / "aiflow" / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module


def test_no_module_imports_itself_through_others() -> None:
    assert [c for c in cycles(graph()) if c not in KNOWN_CYCLES] == []


def test_no_two_packages_import_each_other() -> None:
    units: dict[str, set[str]] = defaultdict(set)
    for source, targets in graph().items():
        for target in targets:
            if unit_of(source) != unit_of(target):
                units[unit_of(source)].add(unit_of(target))
    assert [c for c in cycles(dict(units)) if c not in KNOWN_CYCLES] == []


def test_every_framework_module_stays_readable_in_length() -> None:
    long = {
        str(path.relative_to(FUNCTIONS)): count
        for path in (FUNCTIONS / "aiflow").rglob("*.py")
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_checker_finds_a_cycle_and_a_function_local_import(tmp_path: Path) -> None:
    """The check itself can fail: a two-module cycle through a function-local import."""
    edges = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert cycles(edges) == [["a", "b"]]
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from aiflow import turns\n")
    assert imports_of("x.m", module, {"aiflow", "aiflow.turns"}) == {"aiflow.turns"}
