"""The shape of the house: no import cycles, small modules and functions, the core's wall.

Imports are read from the source (module level and inside functions alike), so a cycle that
only closes at run time, through a deferred import, is caught too.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "napari_unet"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """The napari_unet modules that module ``name`` imports (resolved to modules)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            # "from pkg import mod" names a module when pkg.mod is one.
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t.split(".")[0] == "napari_unet")
    found.discard(name)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_every_internal_import_names_an_existing_module():
    missing = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if target not in MODULES and importlib.util.find_spec(target) is None
    )
    assert not missing, missing


def _defined(path: Path) -> set[str] | None:
    """Top-level names a module defines or imports; None if it resolves names lazily."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            return None
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def test_every_imported_name_exists():
    missing = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.module not in MODULES:
                continue
            defined = _defined(MODULES[node.module])
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if defined is not None and alias.name not in defined and sub not in MODULES:
                    missing.append(f"{name}: {node.module} has no {alias.name}")
    assert not missing, missing


def _cycle() -> list[str] | None:
    """One import cycle of the package, or None (depth-first search for a back edge)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt in GRAPH and nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(GRAPH):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycles():
    cycle = _cycle()
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle(monkeypatch):
    monkeypatch.setitem(GRAPH, "napari_unet.core.errors", {"napari_unet.core.progress"})
    monkeypatch.setitem(GRAPH, "napari_unet.core.progress", {"napari_unet.core.errors"})
    assert _cycle() is not None


def test_core_imports_neither_faces_nor_the_public_api():
    # The core is the bottom layer: widgets, the command line and the package's lazy API
    # sit on top of it (the API maps names onto core modules).
    bad = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if name.startswith("napari_unet.core")
        for target in targets
        if target == "napari_unet" or target.startswith(("napari_unet.widgets", "napari_unet.cli"))
    )
    assert not bad, bad


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines"


def test_functions_stay_short():
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {size} lines")
    assert not long, long


#: The layers of the core, bottom first: a package imports only from layers below it.
LAYERS = [
    {"errors"},
    {"progress", "options", "device", "files"},
    {"images"},
    {"metrics", "models", "annotation"},
    {"inference"},
    {"training", "exchange"},
    {"review", "live"},
]


def _core_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "core" else None


def test_core_packages_import_only_lower_layers():
    rank = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    bad = []
    for source, targets in GRAPH.items():
        a = _core_package(source)
        for target in targets:
            b = _core_package(target)
            if a and b and a != b and not rank[b] < rank[a]:
                bad.append(f"{source} -> {target}")
    assert not bad, bad
    core = {_core_package(m) for m in MODULES} - {None}
    assert core == set().union(*LAYERS), core  # a new package gets a layer here
