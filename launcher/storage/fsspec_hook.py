"""Tell fsspec that `obs://` is launcher.storage.fsspec_obs.OBSFileSystem, without importing fsspec or s3fs.

fsspec (a second to import on a busy machine) and s3fs load only when some code opens an fsspec URL; a
`launcher data` start does not pay for them. With the entry point
`[project.entry-points."fsspec.specs"] obs = "launcher.storage.fsspec_obs:OBSFileSystem"` fsspec finds the
class by itself; `install()` covers an installation without it: it registers at once if fsspec is
loaded, else right after `fsspec.registry` is first imported.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

PROTOCOL = "obs"
TARGET = "launcher.storage.fsspec_obs.OBSFileSystem"


def register(registry: ModuleType | None = None) -> None:
    """Register `obs` with fsspec (a no-op when the entry point already did, pointing here)."""
    if registry is None:
        import fsspec.registry as registry
    try:
        registry.register_implementation(PROTOCOL, TARGET, clobber=False, errtxt="pip install s3fs")
    except ValueError:
        pass  # another implementation was registered on purpose: leave it


class _RegisterWhenLoaded:
    """A meta path finder (duck-typed: importlib.abc costs start-up time) that registers `obs` right after
    `fsspec.registry` is first imported."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "fsspec.registry":
            return None
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            register(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Make `obs://` known to fsspec now, or as soon as fsspec is imported."""
    registry = sys.modules.get("fsspec.registry")
    if registry is not None:
        register(registry)
    elif not any(isinstance(finder, _RegisterWhenLoaded) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterWhenLoaded())
