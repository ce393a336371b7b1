"""No import cycle inside launcher/storage (issue 20): each module can be read, and imported, after the ones it
names. Built from the source with `ast`, top-level and function-level imports alike (a lazy import inside a
function still ties the two modules together)."""

from __future__ import annotations

import ast
from pathlib import Path

import launcher

STORAGE = Path(launcher.__file__).resolve().parent / "storage"


def _storage_import_graph() -> dict[str, set[str]]:
    """module -> the launcher.storage modules it imports, at top level or inside a function (any `import`)."""
    modules = {p.stem for p in STORAGE.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in STORAGE.glob("*.py"):
        me = path.stem
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from . import x / from .x import y
                    base = "launcher.storage" + (f".{node.module}" if node.module else "")
                else:
                    base = node.module or ""
                if base == "launcher.storage":  # `from launcher.storage import x`: module x, or a name of __init__
                    names.update(f"{base}.{a.name}" if a.name in modules else base for a in node.names)
                else:
                    names.add(base)
        targets = set()
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["launcher", "storage"] and len(parts) > 2 and parts[2] in modules:
                targets.add(parts[2])
            elif parts[:2] == ["launcher", "storage"] and len(parts) == 2:
                targets.add("__init__")
        targets.discard(me)
        graph[me] = targets
    return graph


def _a_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path a -> b -> ... -> a, or None (depth-first search, three colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _a_cycle({"bulk": {"s3client"}, "s3client": {"sigv4", "bulk"}, "sigv4": set()}) == [
        "bulk", "s3client", "bulk"]
    assert _a_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_launcher_storage_has_no_import_cycle() -> None:
    graph = _storage_import_graph()
    assert graph["s3client"], "the graph is built from real imports"
    # The package's __init__ re-exports its modules; a module importing `launcher.storage` itself would loop
    # through it, which the check counts too (every edge into __init__ is kept).
    cycle = _a_cycle(graph)
    assert cycle is None, "import cycle in launcher/storage: " + " -> ".join(cycle or [])
