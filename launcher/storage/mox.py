"""The moxing `mox.file` API (what ModelArts training scripts call), on top of launcher.storage.

    import moxing as mox                     # or: from launcher.storage import mox; mox.copy_parallel(...)
    mox.file.copy_parallel("obs://bucket/data", "/cache/data")

URLs are obs://, s3://, file:// or local paths, wherever an argument is a URL. With no endpoint configured
the object URLs use the embedded store, so a script written for ModelArts runs unchanged on a laptop.
Local paths behave exactly as the os/shutil function that Huawei's mapping table pairs with each call
(docs/moxing.md). Errors subclass both our StorageError and the built-in a script catches
(FileNotFoundError, RuntimeError/OSError); SIGTERM during a call ends the process as SIGTERM does.
`shift('os', 'mox')` (mox_shift.py) makes open, os, os.path, glob and shutil accept obs:// URLs too.
"""

from __future__ import annotations

import fnmatch
import glob as glob_mod
import io
import os
import posixpath
import shutil
import stat as stat_mod
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict

from launcher.logs import logger
from launcher.storage import api, mox_shift
from launcher.storage.errors import NotFound, StorageError, TransferFailed
from launcher.storage.mox_calls import _api, _auth, _is_remote, _local, _profile
from launcher.storage.mox_errors import (
    MoxFileNameDuplicateException,
    MoxFileNotExistsException,
    MoxFileReadException,
    MoxFileRespException,
    MoxNotADirectoryException,
)
from launcher.storage.mox_file import File
from launcher.storage.stores import Entry
from launcher.storage.urls import parse_url

__all__ = [
    "File",
    "MoxFileNameDuplicateException",
    "MoxFileNotExistsException",
    "MoxFileReadException",
    "MoxFileRespException",
    "MoxNotADirectoryException",
    "StatResult",
    "append",
    "append_remote",
    "clear_auth",
    "copy",
    "copy_parallel",
    "exists",
    "get_size",
    "glob",
    "is_directory",
    "list_directory",
    "make_dirs",
    "mk_dir",
    "mkdir",
    "open",
    "read",
    "remove",
    "rename",
    "scan_dir",
    "set_auth",
    "shift",
    "stat",
    "walk",
    "write",
]

_GLOB_CHARS = frozenset("*?[")


def _join(url: str, rel: str) -> str:
    return url.rstrip("/") + "/" + rel if rel else url


def _collapse(rel: str) -> str:
    """'a//b' -> 'a/b', '/x' -> 'x': keys with empty segments (allowed by S3/OBS) as a path can name them."""
    return "/".join(part for part in rel.split("/") if part)


# -- authentication -----------------------------------------------------------------------------------------


@_api
def set_auth(
    ak: str | None = None,
    sk: str | None = None,
    server: str | None = None,
    port: int | None = None,
    is_secure: bool | None = None,
    ssl_verify: bool | None = None,
    path_style: bool | None = None,
    region: str | None = None,
    security_token: str | None = None,
    **ignored: Any,
) -> None:
    """Credentials and endpoint for this process's mox calls (override environment and profile file).

    long_conn_mode, retry, retry_wait, client_timeout and list_max_keys are accepted and have no effect
    (connections are always kept alive; retries follow the profile).
    """
    if ignored:
        logger.debug("mox.file.set_auth: ignoring options with no meaning here: {}", sorted(ignored))
    if server is not None:
        scheme = "https" if is_secure is not False else "http"
        endpoint = server if "://" in server else f"{scheme}://{server}"
        _auth["endpoint"] = f"{endpoint}:{port}" if port else endpoint
    for field, value in (
        ("access_key_id", ak),
        ("secret_access_key", sk),
        ("session_token", security_token),
        ("verify_ssl", ssl_verify),
        ("region", region),
        ("addressing_style", None if path_style is None else ("path" if path_style else "virtual")),
    ):
        if value is not None:
            _auth[field] = value
    _profile()  # validate now (and register the secret for redaction), not at the first copy


def clear_auth() -> None:
    """Forget set_auth(): back to the environment and profile file."""
    _auth.clear()


# -- copying ------------------------------------------------------------------------------------------------


@_api
def copy_parallel(
    src_url: str,
    dst_url: str,
    file_list: list[str] | None = None,
    threads: int = 16,
    is_processing: bool = True,
    use_queue: bool = True,
    **ignored: Any,
) -> None:
    """Copy a folder (every file, and its empty folders) or, with `file_list`, only those relative paths.

    A source folder that is empty or does not exist yet logs "no files to copy" and creates the destination
    folder (a fresh job syncing its empty train_url down). `threads`, `is_processing` and `use_queue` are
    accepted; the engine keeps many requests in flight on its own.
    """
    src_url, dst_url = os.fspath(src_url), os.fspath(dst_url)
    try:
        report = api.copy(src_url, dst_url, files=file_list, progress=False, profile=_profile())
    except NotFound:
        if api.exists(src_url, profile=_profile()):  # something else was missing (a bucket): say so
            raise
        report = None
    except TransferFailed as exc:
        clashes = _name_clashes(src_url) if _is_remote(src_url) and not _is_remote(dst_url) else []
        if clashes:
            raise MoxFileNameDuplicateException(
                f"mox.file.copy_parallel: {src_url} holds {', '.join(clashes[:3])} both as a file and as a folder, "
                f"which a local file system cannot ({exc})"
            ) from None
        raise
    if file_list is None:
        for rel in api.empty_folders(src_url, profile=_profile()):
            api.make_dirs(_join(dst_url, rel), profile=_profile())
    if report is None or (file_list is None and report.copied + report.skipped == 0):
        logger.info("mox.file.copy_parallel: no files to copy from {}", src_url)
        api.make_dirs(dst_url, profile=_profile())


def _name_clashes(url: str) -> list[str]:
    """Names below an object folder that are a file and also the folder of other files ('a' and 'a/b')."""
    names = set(api.names(url, recursive=True, profile=_profile()))
    parents = {name[:i] for name in names for i, char in enumerate(name) if char == "/"}
    return sorted(names & parents)


@_api
def copy(src_url: str, dst_url: str, client_id: Any = None, **ignored: Any) -> None:
    """Copy one file to a file name (not into a folder). `client_id` is accepted and has no effect."""
    src_url, dst_url = os.fspath(src_url), os.fspath(dst_url)
    if not _is_remote(src_url) and not os.path.isfile(_local(src_url)):
        raise MoxFileNotExistsException(f"mox.file.copy: no such file {src_url} (use copy_parallel for folders)")
    if _is_remote(src_url) and api.stat(src_url, profile=_profile()) is None:
        raise MoxFileNotExistsException(f"mox.file.copy: no such file {src_url} (use copy_parallel for folders)")
    if dst_url.endswith("/"):
        raise StorageError(f"mox.file.copy: the destination must be a file name, not the folder {dst_url}")
    api.copy(src_url, dst_url, progress=False, profile=_profile())


# -- queries ------------------------------------------------------------------------------------------------


@_api
def exists(url: str) -> bool:
    if not _is_remote(url):
        return os.path.exists(_local(url))
    return api.exists(os.fspath(url), profile=_profile())


@_api
def is_directory(url: str) -> bool:
    if not _is_remote(url):
        return os.path.isdir(_local(url))
    return api.is_folder(os.fspath(url), profile=_profile())


def _no_folder(url: str) -> NoReturn:
    """Raise as os.listdir does where no folder is: not a directory (a file is there), or not found."""
    if api.stat(url, profile=_profile()) is not None:
        raise MoxNotADirectoryException(f"not a folder: {url}")
    raise MoxFileNotExistsException(f"no such folder: {url}")


def _entries(url: str) -> tuple[list[Entry], list[str]]:
    """One level of an object folder like os.scandir sees it: (files, folder names); raises like os.listdir."""
    found = api.listing(url, profile=_profile())
    if found is None:
        _no_folder(url)
    files, dirs = found
    names = {_collapse(d) for d in dirs} - {""}
    return [f for f in files if _collapse(f.key) == f.key and f.key], sorted(names)


def _tree(url: str) -> tuple[list[str], list[str]]:
    """(files, folders) below an object folder, relative, sorted; keys with empty segments collapsed."""
    found = api.tree(url, profile=_profile())
    if found is None:
        _no_folder(url)
    entries, empty = found
    files = {_collapse(e.key) for e in entries} - {""}
    folders = {_collapse(d) for d in empty} - {""}
    for path in list(files | folders):
        head = path.rpartition("/")[0]
        while head and head not in folders:  # every step shortens `head`: this always ends
            folders.add(head)
            head = head.rpartition("/")[0]
    return sorted(files - folders), sorted(folders)


@_api
def list_directory(
    url: str, recursive: bool = False, remove_sep: bool = False, skip_file: bool = False, skip_dir: bool = False
) -> list[str]:
    """Names in the folder `url`, like os.listdir; `recursive`: every file and folder below it, relative.

    A missing folder raises MoxFileNotExistsException (a FileNotFoundError), a file NotADirectoryError.
    `skip_file` / `skip_dir` leave files / folders out. `remove_sep` is accepted: names never end in '/'.
    """
    if not _is_remote(url):
        path = _local(url)
        if not recursive:
            names = sorted(os.listdir(path))
            if not (skip_dir or skip_file):
                return names
            return [n for n in names if not (skip_dir if os.path.isdir(os.path.join(path, n)) else skip_file)]
        if not os.path.isdir(path):
            os.listdir(path)  # raises what os.listdir raises
        found = []
        for folder, dirs, files in os.walk(path):
            rel = os.path.relpath(folder, path)
            prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            found += [] if skip_dir else [prefix + d for d in dirs]
            found += [] if skip_file else [prefix + f for f in files]
        return sorted(found)
    url = os.fspath(url)
    if recursive:
        files, folders = _tree(url)
    else:
        entries, folders = _entries(url)
        files = [e.key for e in entries]
    return sorted(([] if skip_file else files) + ([] if skip_dir else folders))


class StatResult(BaseModel):
    """What mox.file.stat returns: moxing's names (length, mtime_nsec, is_directory) and os.stat_result's."""

    model_config = ConfigDict(frozen=True)

    length: int
    mtime: float
    is_directory: bool
    etag: str = ""

    @property
    def is_dir(self) -> bool:
        return self.is_directory

    @property
    def mtime_nsec(self) -> int:
        return int(round(self.mtime * 1e9))

    @property
    def st_size(self) -> int:
        return self.length

    @property
    def st_mtime(self) -> float:
        return self.mtime

    @property
    def st_mtime_ns(self) -> int:
        return self.mtime_nsec

    @property
    def st_mode(self) -> int:
        return (stat_mod.S_IFDIR | 0o755) if self.is_directory else (stat_mod.S_IFREG | 0o644)


@_api
def stat(url: str) -> StatResult:
    """Size, modification time and kind of a file or folder; a missing path raises MoxFileNotExistsException."""
    if not _is_remote(url):
        try:
            st = os.stat(_local(url))
        except FileNotFoundError:
            raise MoxFileNotExistsException(f"mox.file.stat: nothing at {url}") from None
        is_dir = stat_mod.S_ISDIR(st.st_mode)
        return StatResult(length=0 if is_dir else st.st_size, mtime=st.st_mtime, is_directory=is_dir)
    entry = api.stat(os.fspath(url), profile=_profile())
    if entry is not None:
        return StatResult(length=entry.size, mtime=entry.mtime, is_directory=False, etag=entry.etag)
    if api.is_folder(os.fspath(url), profile=_profile()):
        return StatResult(length=0, mtime=0.0, is_directory=True)
    raise MoxFileNotExistsException(f"mox.file.stat: nothing at {url}")


@_api
def get_size(url: str, recursive: bool = False) -> int:
    """Bytes in a file; for a folder 0, or with `recursive` the total of every file below it."""
    if not _is_remote(url):
        path = _local(url)
        if os.path.isfile(path):
            return os.path.getsize(path)
        if not os.path.isdir(path):
            raise MoxFileNotExistsException(f"mox.file.get_size: nothing at {url}")
        if not recursive:
            return 0
        return sum(
            os.path.getsize(os.path.join(folder, f))
            for folder, _, files in os.walk(path)
            for f in files
            if os.path.isfile(os.path.join(folder, f))
        )
    url = os.fspath(url)
    entry = api.stat(url, profile=_profile())
    if entry is not None:
        return entry.size
    if not api.is_folder(url, profile=_profile()):
        raise MoxFileNotExistsException(f"mox.file.get_size: nothing at {url}")
    return api.du(url, profile=_profile())[1] if recursive else 0


@_api
def glob(pattern: str) -> list[str]:
    """Files and folders matching a shell pattern; `*` stays within one path segment, as in glob.glob."""
    if not _is_remote(pattern):
        return sorted(glob_mod.glob(_local(pattern)))
    parts = os.fspath(pattern).split("/")
    fixed = next((i for i, p in enumerate(parts) if _GLOB_CHARS & set(p)), len(parts))
    if fixed == len(parts):
        return [pattern] if exists(pattern) else []
    base = "/".join(parts[:fixed])
    wanted = parts[fixed:]
    try:
        files, folders = _tree(base)
    except MoxFileNotExistsException:
        return []
    found = []
    for rel in files + folders:
        segments = rel.split("/")
        if len(segments) == len(wanted) and all(
            fnmatch.fnmatchcase(s, w) for s, w in zip(segments, wanted, strict=True)
        ):
            found.append(f"{base}/{rel}")
    return sorted(found)


def walk(
    url: str, topdown: bool = True, onerror: Callable[[OSError], None] | None = None, followlinks: bool = False
) -> Iterator[tuple[str, list[str], list[str]]]:
    """Like os.walk: (folder URL, sub-folder names, file names) for every folder below `url`, depth first.

    A missing `url` yields nothing (and calls `onerror` with a FileNotFoundError), as os.walk does.
    """
    if not _is_remote(url):
        yield from os.walk(_local(url), topdown=topdown, onerror=onerror, followlinks=followlinks)
        return
    try:
        files, folders = _api(_tree)(os.fspath(url))
    except OSError as exc:
        if onerror is not None:
            onerror(exc)
        return
    children: dict[str, tuple[list[str], list[str]]] = {"": ([], [])}
    for folder in folders:
        children.setdefault(folder, ([], []))
    for rel in folders:
        children[rel.rpartition("/")[0]][0].append(rel.rpartition("/")[2])
    for rel in files:
        children[rel.rpartition("/")[0]][1].append(rel.rpartition("/")[2])
    root = os.fspath(url).rstrip("/")

    def visit(rel: str) -> Iterator[tuple[str, list[str], list[str]]]:
        dirs, names = children[rel]
        here = (_join(root, rel), sorted(dirs), sorted(names))
        if topdown:
            yield here
        for name in here[1]:  # a caller may prune here[1] in place, as with os.walk
            yield from visit(f"{rel}/{name}" if rel else name)
        if not topdown:
            yield here

    yield from visit("")


class DirEntry:
    """What scan_dir yields, like os.DirEntry: name, path, is_dir(), is_file(), stat()."""

    def __init__(self, folder: str, name: str, entry: Entry | None) -> None:
        self.name = name
        self.path = _join(folder, name)
        self._entry = entry

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        return self._entry is None

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        return self._entry is not None

    def is_symlink(self) -> bool:
        return False

    def stat(self, *, follow_symlinks: bool = True) -> StatResult:
        if self._entry is None:
            return StatResult(length=0, mtime=0.0, is_directory=True)
        return StatResult(length=self._entry.size, mtime=self._entry.mtime, is_directory=False, etag=self._entry.etag)

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"<DirEntry {self.name!r}>"


class _ScanIterator:
    """An iterator that is also a context manager, as os.scandir's is."""

    def __init__(self, entries: list[DirEntry]) -> None:
        self._it = iter(entries)

    def __iter__(self) -> _ScanIterator:
        return self

    def __next__(self) -> DirEntry:
        return next(self._it)

    def __enter__(self) -> _ScanIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._it = iter(())


@_api
def scan_dir(url: str) -> Any:
    """Like os.scandir: the entries of one folder (a context manager too)."""
    if not _is_remote(url):
        return os.scandir(_local(url))
    url = os.fspath(url)
    files, dirs = _entries(url)
    entries = [DirEntry(url, d, None) for d in dirs] + [DirEntry(url, f.key, f) for f in files]
    return _ScanIterator(sorted(entries, key=lambda e: e.name))


# -- changing -----------------------------------------------------------------------------------------------


@_api
def make_dirs(url: str) -> None:
    """Create a folder and its parents (no error if it exists)."""
    if not _is_remote(url):
        os.makedirs(_local(url), exist_ok=True)
        return
    api.make_dirs(os.fspath(url), profile=_profile())


@_api
def mk_dir(url: str) -> None:
    """Create one folder; its parent must exist (OSError otherwise), as os.mkdir."""
    if not _is_remote(url):
        os.mkdir(_local(url))
        return
    url = os.fspath(url)
    parsed = parse_url(url)
    parent_key = posixpath.dirname(parsed.key.rstrip("/"))
    parent = f"{parsed.scheme}://{parsed.bucket}/{parent_key}"
    if not api.is_folder(parent, profile=_profile()):
        raise MoxFileNotExistsException(f"mox.file.mk_dir: the parent folder {parent} does not exist")
    api.make_dirs(url, profile=_profile())


mkdir = mk_dir


@_api
def remove(url: str, recursive: bool = False) -> None:
    """Delete a file; with `recursive` also a folder and everything in it.

    As moxing documents: a folder without `recursive`, a path ending in '/' without `recursive`, and a
    missing path are left alone (nothing is deleted, no error).
    """
    if not _is_remote(url):
        path = _local(url)
        if os.path.isdir(path) and not os.path.islink(path):
            if recursive:
                shutil.rmtree(path)
                return
        elif os.path.lexists(path) and not path.endswith("/"):
            os.remove(path)  # a link is removed itself, never what it points to
            return
        logger.debug("mox.file.remove: nothing removed at {} (recursive={})", url, recursive)
        return
    url = os.fspath(url)
    if not url.endswith("/") and api.stat(url, profile=_profile()) is not None:
        api.rm(url, profile=_profile())
    elif recursive and api.is_folder(url, profile=_profile()):
        api.rm(url, recursive=True, profile=_profile())
    else:
        logger.debug("mox.file.remove: nothing removed at {} (recursive={})", url, recursive)


@_api
def rename(src_url: str, dst_url: str) -> None:
    """Move a file or folder (within one local file system: a real rename; otherwise copy, then delete)."""
    src_url, dst_url = os.fspath(src_url), os.fspath(dst_url)
    if not _is_remote(src_url) and not _is_remote(dst_url):
        os.replace(_local(src_url), _local(dst_url))
        return
    folder = api.stat(src_url, profile=_profile()) is None
    if folder:
        copy_parallel(src_url, dst_url)
    else:
        api.copy(src_url, dst_url, progress=False, profile=_profile())
    api.rm(src_url, recursive=folder, profile=_profile())


# -- content ------------------------------------------------------------------------------------------------


@_api
def read(url: str, client_id: Any = None, binary: bool = False) -> str | bytes:
    """The whole file: bytes with `binary`, else text (UTF-8, newlines translated as open() does)."""
    data = api.read_bytes(os.fspath(url), profile=_profile())
    return data if binary else _decode(data)


@_api
def write(url: str, content: str | bytes, binary: bool = False) -> None:
    """Replace the file's content (atomically)."""
    api.write_bytes(os.fspath(url), _encode(content), profile=_profile())


@_api
def append(url: str, content: str | bytes, binary: bool = False) -> None:
    """Add to the end of a file (object stores have no append: read, extend, write back atomically)."""
    url = os.fspath(url)
    try:
        old = api.read_bytes(url, profile=_profile())
    except NotFound:
        old = b""
    api.write_bytes(url, old + _encode(content), profile=_profile())


@_api
def append_remote(src_url: str, dst_url: str) -> None:
    """Add the content of the file `src_url` to the end of the file `dst_url`."""
    append(dst_url, api.read_bytes(os.fspath(src_url), profile=_profile()), binary=True)


def _decode(data: bytes) -> str:
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None).read()


def _encode(content: str | bytes) -> bytes:
    return content if isinstance(content, bytes) else content.encode()


def open(url: str, mode: str = "r", *args: Any, **kwargs: Any) -> Any:  # noqa: A001 - moxing's name
    return File(url, mode, *args, **kwargs)


def shift(src: str, dst: str) -> None:
    """`shift('os', 'mox')`: open/os/glob/shutil accept object URLs; `shift('mox', 'os')` undoes it (mox_shift.py)."""
    mox_shift.shift(src, dst, sys.modules[__name__])
