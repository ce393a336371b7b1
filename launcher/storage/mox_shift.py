"""`mox.file.shift('os', 'mox')`: the standard file functions accept obs:// and s3:// URLs too.

Covers the pairs of Huawei's os <-> mox.file mapping table (open, glob.glob, os.listdir, os.makedirs,
os.mkdir, os.path.exists/isdir/isfile/getsize, os.remove, os.rename, os.scandir, os.stat, os.walk,
shutil.copyfile/copy/copytree/rmtree). Each replacement sends object URLs to mox.file and everything else
(local paths, bytes, file descriptors) to the original, untouched. `shift('mox', 'os')` puts the originals
back.
"""

from __future__ import annotations

import builtins
import glob
import io
import os
import posixpath
import shutil
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from launcher.storage.errors import StorageError
from launcher.storage.mox_calls import _is_remote

_saved: dict[tuple[Any, str], Any] = {}


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and _is_remote(value)


def _wrap(owner: Any, name: str, remote: Callable[..., Any], *, two_paths: bool = False) -> None:
    """Replace owner.name by a function that sends object URLs to `remote` and the rest to the original."""
    original = getattr(owner, name)
    _saved[(owner, name)] = original

    def dispatch(path: Any, *args: Any, **kwargs: Any) -> Any:
        if _is_url(path) or (two_paths and args and _is_url(args[0])):
            return remote(path, *args, **kwargs)
        return original(path, *args, **kwargs)

    dispatch.__name__ = getattr(original, "__name__", name)
    dispatch.__doc__ = getattr(original, "__doc__", None)
    dispatch.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(owner, name, dispatch)


def shift(src: str, dst: str, mox: ModuleType) -> None:
    """`shift('os', 'mox')`: open/os/glob/shutil accept object URLs, sent to `mox` (the mox.file module, which
    hands itself in: this module does not import it); `shift('mox', 'os')` undoes it."""
    if (src, dst) == ("os", "mox"):
        if _saved:
            return

        def open_url(
            path: str, mode: str = "r", buffering: int = -1, encoding: str | None = None, *a: Any, **k: Any
        ) -> Any:
            return mox.File(path, mode, buffering, encoding, *a, **k)

        def makedirs(path: str, mode: int = 0o777, exist_ok: bool = False) -> None:
            if not exist_ok and mox.exists(path):
                raise FileExistsError(f"[Errno 17] File exists: {path!r}")
            mox.make_dirs(path)

        def copy_file(src_url: str, dst_url: str, *args: Any, **kwargs: Any) -> str:
            if dst_url.endswith("/") or mox.is_directory(dst_url):
                dst_url = dst_url.rstrip("/") + "/" + posixpath.basename(src_url.rstrip("/"))
            mox.copy(src_url, dst_url)
            return dst_url

        def copytree(src_url: str, dst_url: str, *args: Any, **kwargs: Any) -> str:
            mox.copy_parallel(src_url, dst_url)
            return dst_url

        def iglob(pattern: str, *args: Any, **kwargs: Any) -> Iterator[str]:
            return iter(mox.glob(pattern))

        _wrap(builtins, "open", open_url)
        _wrap(io, "open", open_url)
        _wrap(glob, "glob", lambda p, *a, **k: mox.glob(p))
        _wrap(glob, "iglob", iglob)
        _wrap(os.path, "exists", mox.exists)
        _wrap(os.path, "isdir", mox.is_directory)
        _wrap(os.path, "isfile", lambda p: mox.exists(p) and not mox.is_directory(p))
        _wrap(os.path, "getsize", mox.get_size)
        _wrap(os, "listdir", mox.list_directory)
        _wrap(os, "scandir", mox.scan_dir)
        _wrap(os, "stat", lambda p, *a, **k: mox.stat(p))
        _wrap(os, "makedirs", makedirs)
        _wrap(os, "mkdir", lambda p, *a, **k: mox.mk_dir(p))
        _wrap(os, "remove", lambda p, *a, **k: mox.remove(p))
        _wrap(os, "unlink", lambda p, *a, **k: mox.remove(p))
        _wrap(os, "walk", lambda p, topdown=True, onerror=None, followlinks=False: mox.walk(p, topdown, onerror))
        _wrap(os, "rename", lambda s, d, *a, **k: mox.rename(s, d), two_paths=True)
        _wrap(shutil, "copyfile", copy_file, two_paths=True)
        _wrap(shutil, "copy", copy_file, two_paths=True)
        _wrap(shutil, "copytree", copytree, two_paths=True)
        _wrap(shutil, "rmtree", lambda p, *a, **k: mox.remove(p, recursive=True))
    elif (src, dst) == ("mox", "os"):
        for (owner, name), original in _saved.items():
            setattr(owner, name, original)
        _saved.clear()
    else:
        raise StorageError(f"mox.file.shift: expected ('os', 'mox') or ('mox', 'os'), got ({src!r}, {dst!r})")
