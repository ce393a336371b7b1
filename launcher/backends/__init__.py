"""Backends: one module each, all behind the protocol in `base.py`."""

from __future__ import annotations

from typing import Any

from launcher.backends.base import Backend
from launcher.errors import UserError
from launcher.jobs import JobStore


def backend_class(name: str) -> type[Backend]:
    # Imported lazily: a remote backend's SDK should not slow down or break the others.
    if name == "local":
        from launcher.backends.local.backend import LocalBackend

        return LocalBackend
    if name == "modelarts":
        from launcher.backends.modelarts.backend import ModelArtsBackend

        return ModelArtsBackend
    if name == "volcano":
        from launcher.backends.volcano.backend import VolcanoBackend

        return VolcanoBackend
    if name == "docker":
        from launcher.backends.docker.backend import DockerBackend

        return DockerBackend
    raise UserError(f"unknown backend {name!r}; choose one of: local, docker, modelarts, volcano")


def get_backend(name: str, store: JobStore | None = None, options: dict[str, Any] | None = None) -> Backend:
    cls = backend_class(name)
    return cls(store or JobStore(), cls.parse_options(options or {}))
