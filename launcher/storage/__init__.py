"""Object storage: obs://, s3://, file:// and local paths, one fast verified sync engine, `mox.file`.

    from launcher import storage
    report = storage.sync("obs://bucket/data", "/cache/data")   # incremental; raises on failed files
    storage.write_bytes("obs://bucket/run/metrics.json", b"{}")  # atomic

With no endpoint configured (S3_ENDPOINT / profile), obs:// and s3:// live in the embedded directory store
under LAUNCHER_HOME/objects: the same engine, offline.
"""

from launcher.storage.api import (
    copy,
    du,
    exists,
    is_folder,
    ls,
    make_dirs,
    names,
    read_bytes,
    rm,
    stat,
    sync,
    write_bytes,
)
from launcher.storage import fsspec_hook
from launcher.storage.errors import (
    CredentialsError,
    Interrupted,
    InvalidURL,
    LocalDiskError,
    NotFound,
    StorageError,
    StorageUnavailable,
    TransferFailed,
    TransferUnavailable,
    UnsafeKey,
)
from launcher.storage.profiles import Profile, load_profile
from launcher.storage.stores import Entry
from launcher.storage.urls import StorageURL, parse_url

fsspec_hook.install()  # fsspec.open("obs://...") works once launcher.storage is imported

_LAZY = {"Failure", "SyncOptions", "SyncReport", "TransferConfig"}  # models of the sync engine


def __getattr__(name: str) -> object:
    """The sync engine's models load on first use: a listing or a read does not pay for building them."""
    if name in _LAZY:
        from launcher.storage import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "CredentialsError",
    "Entry",
    "Failure",
    "Interrupted",
    "InvalidURL",
    "LocalDiskError",
    "NotFound",
    "Profile",
    "StorageError",
    "StorageURL",
    "StorageUnavailable",
    "SyncOptions",
    "SyncReport",
    "TransferConfig",
    "TransferFailed",
    "TransferUnavailable",
    "UnsafeKey",
    "copy",
    "du",
    "exists",
    "is_folder",
    "load_profile",
    "ls",
    "make_dirs",
    "names",
    "parse_url",
    "read_bytes",
    "rm",
    "stat",
    "sync",
    "write_bytes",
]
