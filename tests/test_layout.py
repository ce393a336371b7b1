"""The import rules README's "Layout" promises, checked on the source with `ast` (lazy imports inside functions
count too): break one and this fails, naming the module and what it imported."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BACKEND_PACKAGES = ("docker", "local", "modelarts", "volcano")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(module: str, source: str, is_package: bool = False) -> Iterator[str]:
    """Every module name `source` imports, with `from x import y` giving both x and x.y (y may be a module)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def edges() -> list[tuple[str, str]]:
    found = []
    for package in ("launcher", "entry"):
        for path in sorted((REPO / package).rglob("*.py")):
            module = module_name(path)
            for target in imported(module, path.read_text(encoding="utf-8"), path.name == "__init__.py"):
                found.append((module, target))
    return found


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def backend_package(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) >= 3 and parts[:2] == ["launcher", "backends"] and parts[2] in BACKEND_PACKAGES:
        return parts[2]
    return None


def violations(pairs: list[tuple[str, str]]) -> list[str]:
    broken = []
    for module, target in pairs:
        mine, theirs = backend_package(module), backend_package(target)
        if under(module, "launcher.backends"):
            if theirs is not None and theirs != mine and module != "launcher.backends":  # the registry names each
                where = f"backends.{mine}" if mine else "a shared backends module"
                broken.append(f"{module} imports {target}: {where} may import only base/common and its own package")
            if under(target, "launcher.cli") or under(target, "launcher.ui"):
                broken.append(f"{module} imports {target}: backends never import the CLI or the UI")
        elif under(target, "launcher.backends"):
            allowed = {"launcher.backends", "launcher.backends.base", "launcher.backends.get_backend",
                       "launcher.backends.backend_class", "launcher.backends.base.Backend"}  # fmt: skip
            if module == "launcher.cli":
                allowed |= {"launcher.backends.docker.build", "launcher.backends.docker.build.build_command"}
            if module not in ("launcher.cli", "launcher.usage", "launcher.ui.views") or target not in allowed:
                broken.append(f"{module} imports {target}: outside backends/, only the CLI and the UI reach backends")
        if under(module, "entry") and any(
            under(target, p) for p in ("launcher.backends", "launcher.cli", "launcher.ui", "launcher.jobs")
        ):
            broken.append(f"{module} imports {target}: code that runs inside the job never imports the client side")
        if under(module, "launcher.storage"):
            if any(under(target, p) for p in ("launcher.backends", "launcher.cli", "launcher.ui", "launcher.jobs")):
                broken.append(f"{module} imports {target}: storage imports no backend, CLI, UI or job store")
            if under(target, "entry") and not under(target, "entry.contract"):
                broken.append(f"{module} imports {target}: storage takes only the in-job contract (entry.contract) from entry/")
        if under(target, "launcher.ui") and not (under(module, "launcher.ui") or module == "launcher.cli"):
            broken.append(f"{module} imports {target}: only the CLI starts the UI")
    return broken


def test_the_tree_keeps_the_import_rules_the_readme_states() -> None:
    pairs = edges()
    assert len({m for m, _ in pairs}) > 50  # the walk saw the tree
    assert violations(pairs) == []


@pytest.mark.parametrize(
    ("module", "source", "words"),
    [
        ("launcher.backends.docker.backend", "from launcher.backends.local.backend import X", "own package"),
        ("launcher.backends.volcano.api", "from ..modelarts import api", "own package"),
        ("launcher.backends.common", "import launcher.backends.docker.spec", "shared backends module"),
        ("launcher.backends.remote_records", "from .volcano import backend", "shared backends module"),
        ("launcher.backends.base", "from launcher.ui import app", "never import the CLI"),
        ("launcher.jobs", "from launcher.backends.local import process", "only the CLI and the UI"),
        ("launcher.ui.views", "from launcher.backends.volcano.backend import VolcanoBackend", "only the CLI"),
        ("entry.boot", "def f():\n    from launcher.backends import get_backend", "inside the job"),
        ("launcher.storage.s3client", "from launcher.jobs import JobStore", "storage imports no"),
        ("launcher.storage.sync_engine", "from entry.boot import main", "only the in-job contract"),
        ("launcher.jobspec", "import launcher.ui.server", "only the CLI starts the UI"),
    ],
)
def test_each_rule_catches_its_break(module: str, source: str, words: str) -> None:
    problems = violations([(module, t) for t in imported(module, source)])
    assert any(words in p and module in p for p in problems), problems
