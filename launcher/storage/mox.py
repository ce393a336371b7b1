"""The moxing `mox.file` API (what ModelArts training scripts call), on top of launcher.storage.

    from launcher.storage import mox        # or, with the shim: import moxing as mox; mox.file.<name>
    mox.copy_parallel("obs://bucket/data", "/cache/data")

URLs are obs://, s3://, file:// or local paths, wherever an argument is a URL. With no endpoint configured
the object URLs use the embedded store, so a script written for ModelArts runs unchanged on a laptop.
`shift('os', 'mox')` makes `open`, `os.path.exists`, `os.listdir`, ... accept obs:// URLs too.
"""

from __future__ import annotations

import builtins
import fnmatch
import io
import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any

from loguru import logger
from pydantic import BaseModel, ConfigDict

from launcher.storage import api
from launcher.storage.errors import NotFound, StorageError
from launcher.storage.profiles import Profile, load_profile
from launcher.storage.urls import parse_url

_auth: dict[str, Any] = {}
_GLOB_CHARS = frozenset("*?[")


def _profile() -> Profile | None:
    return load_profile(**_auth) if _auth else None


def _is_remote(url: str | os.PathLike[str]) -> bool:
    text = os.fspath(url)
    return isinstance(text, str) and "://" in text and not text.lower().startswith("file://")


def _local(url: str) -> str:
    return parse_url(url).path


# -- authentication -----------------------------------------------------------------------------------------


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
    """Credentials and endpoint for this process's mox calls (override environment and profile file)."""
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


def copy_parallel(
    src_url: str,
    dst_url: str,
    file_list: list[str] | None = None,
    threads: int = 16,
    is_processing: bool = True,
    use_queue: bool = True,
) -> None:
    """Copy a folder (every file, in parallel) or, with `file_list`, only those paths relative to `src_url`.

    `threads`, `is_processing` and `use_queue` are accepted for compatibility; the engine keeps many
    requests in flight on its own.
    """
    api.copy(src_url, dst_url, files=file_list, progress=False, profile=_profile())


def copy(src_url: str, dst_url: str) -> None:
    """Copy one file (to a file name, not a folder)."""
    if api.stat(src_url, profile=_profile()) is None:
        raise NotFound(f"mox.file.copy: no such file {src_url} (use copy_parallel for folders)")
    if dst_url.endswith("/"):
        raise StorageError(f"mox.file.copy: the destination must be a file name, not the folder {dst_url}")
    api.copy(src_url, dst_url, progress=False, profile=_profile())


# -- queries ------------------------------------------------------------------------------------------------


def exists(url: str) -> bool:
    return api.exists(url, profile=_profile())


def is_directory(url: str) -> bool:
    return api.is_folder(url, profile=_profile())


def list_directory(url: str, recursive: bool = False) -> list[str]:
    """Names below the folder `url` like os.listdir; recursive: every file and folder, relative paths."""
    if not recursive:
        return [name.rstrip("/") for name in api.names(url, profile=_profile())]
    files = api.names(url, recursive=True, profile=_profile())
    folders = {posixpath.dirname(f) for f in files}
    for folder in list(folders):
        while folder:
            folders.add(folder)
            folder = posixpath.dirname(folder)
    folders.discard("")
    return sorted(folders | set(files))


class StatResult(BaseModel):
    """What mox.file.stat returns; the os.stat_result names are there too."""

    model_config = ConfigDict(frozen=True)

    length: int
    mtime: float
    is_dir: bool
    etag: str = ""

    @property
    def st_size(self) -> int:
        return self.length

    @property
    def st_mtime(self) -> float:
        return self.mtime


def stat(url: str) -> StatResult:
    entry = api.stat(url, profile=_profile())
    if entry is not None:
        return StatResult(length=entry.size, mtime=entry.mtime, is_dir=False, etag=entry.etag)
    if is_directory(url):
        return StatResult(length=0, mtime=0.0, is_dir=True)
    raise NotFound(f"mox.file.stat: nothing at {url}")


def get_size(url: str, recursive: bool = False) -> int:
    entry = api.stat(url, profile=_profile())
    if entry is not None:
        return entry.size
    if not recursive:
        raise StorageError(f"mox.file.get_size: {url} is a folder (pass recursive=True) or does not exist")
    return api.du(url, profile=_profile())[1]


def glob(pattern: str) -> list[str]:
    """Files and folders matching a shell pattern; `*` stays within one path segment, as in glob.glob."""
    parts = pattern.split("/")
    fixed = next((i for i, p in enumerate(parts) if _GLOB_CHARS & set(p)), len(parts))
    if fixed == len(parts):
        return [pattern] if exists(pattern) else []
    base = "/".join(parts[:fixed])
    wanted = parts[fixed:]
    found: list[str] = []
    for rel in list_directory(base, recursive=True):
        segments = rel.split("/")
        if len(segments) == len(wanted) and all(
            fnmatch.fnmatchcase(s, w) for s, w in zip(segments, wanted, strict=True)
        ):
            found.append(f"{base}/{rel}")
    return sorted(found)


def walk(
    url: str, topdown: bool = True, onerror: Callable[[Exception], None] | None = None
) -> Iterator[tuple[str, list[str], list[str]]]:
    """Like os.walk: (folder URL, sub-folder names, file names) for every folder below `url`."""
    try:
        entries = list_directory(url, recursive=True)
        files = set(api.names(url, recursive=True, profile=_profile()))
    except StorageError as exc:
        if onerror is not None:
            onerror(exc)
        return
    root = url.rstrip("/")
    tree: dict[str, tuple[list[str], list[str]]] = {"": ([], [])}
    for rel in entries:
        parent, name = posixpath.split(rel)
        tree.setdefault(parent, ([], []))
        if rel in files:
            tree[parent][1].append(name)
        else:
            tree[parent][0].append(name)
            tree.setdefault(rel, ([], []))
    order = sorted(tree, key=lambda r: (r.count("/") if r else -1, r), reverse=not topdown)
    for rel in order:
        dirs, names = tree[rel]
        yield (f"{root}/{rel}" if rel else root), sorted(dirs), sorted(names)


# -- changing -----------------------------------------------------------------------------------------------


def make_dirs(url: str) -> None:
    api.make_dirs(url, profile=_profile())


def mkdir(url: str) -> None:
    make_dirs(url)


def remove(url: str, recursive: bool = False) -> None:
    """Delete a file, or with `recursive` a folder and everything in it."""
    if not _is_remote(url) and recursive and os.path.isdir(_local(url)):
        shutil.rmtree(_local(url))
        return
    api.rm(url, recursive=recursive, profile=_profile())


def rename(src_url: str, dst_url: str) -> None:
    """Move a file or folder (within one local file system: a real rename; otherwise copy, then delete)."""
    if not _is_remote(src_url) and not _is_remote(dst_url):
        os.replace(_local(src_url), _local(dst_url))
        return
    folder = api.stat(src_url, profile=_profile()) is None
    api.copy(src_url, dst_url, progress=False, profile=_profile())
    api.rm(src_url, recursive=folder, profile=_profile())


# -- content ------------------------------------------------------------------------------------------------


def read(url: str, binary: bool = False) -> str | bytes:
    data = api.read_bytes(url, profile=_profile())
    return data if binary else data.decode()


def write(url: str, content: str | bytes, binary: bool = False) -> None:
    """Replace the file's content (atomically)."""
    data = content if isinstance(content, bytes) else content.encode()
    api.write_bytes(url, data, profile=_profile())


def append(url: str, content: str | bytes, binary: bool = False) -> None:
    """Add to the end of a file (object stores have no append: read, extend, write back atomically)."""
    data = content if isinstance(content, bytes) else content.encode()
    old = api.read_bytes(url, profile=_profile()) if api.stat(url, profile=_profile()) is not None else b""
    api.write_bytes(url, old + data, profile=_profile())


class File(io.IOBase):
    """A file object for a URL: `with mox.file.File("obs://b/x.txt", "w") as f: f.write("...")`.

    Reads fetch the object once; writes go to a local spool and are uploaded, atomically, on close.
    Local paths are opened directly.
    """

    _SPOOL = 64 << 20

    def __init__(self, url: str, mode: str = "r", encoding: str | None = None) -> None:
        super().__init__()
        self.name = url
        self.mode = mode
        self._remote = _is_remote(url)
        self._upload = False
        if not self._remote:
            self._fh: IO[Any] = builtins.open(
                _local(url) if url.startswith("file://") else url, mode, encoding=encoding
            )
            return
        kind = mode.replace("b", "").replace("t", "")
        if kind not in ("r", "w", "a", "r+", "w+", "a+"):
            raise StorageError(f"mox.file.File: unsupported mode {mode!r}")
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=self._SPOOL)
        if kind[0] in "ra" and (kind[0] == "r" or api.stat(url, profile=_profile()) is not None):
            spool.write(api.read_bytes(url, profile=_profile()))
        if kind[0] != "a":
            spool.seek(0)
        self._upload = kind != "r"
        self._raw = spool
        self._fh = spool if "b" in mode else io.TextIOWrapper(spool, encoding=encoding or "utf-8", newline="")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_fh"], name)

    def read(self, size: int = -1) -> Any:
        return self._fh.read(size)

    def readline(self, size: int = -1) -> Any:  # type: ignore[override]
        return self._fh.readline(size)

    def write(self, data: Any) -> int:
        return self._fh.write(data)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._fh)

    def readable(self) -> bool:
        return self._fh.readable()

    def writable(self) -> bool:
        return self._fh.writable()

    def seekable(self) -> bool:
        return self._fh.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._remote and self._upload:
                self._fh.flush()
                self._raw.seek(0)
                api.write_bytes(self.name, self._raw.read(), profile=_profile())
        finally:
            if isinstance(self._fh, io.TextIOWrapper) and self._remote:
                self._fh.detach()
            (self._raw if self._remote else self._fh).close()
            super().close()


def open(url: str, mode: str = "r", encoding: str | None = None) -> File:  # noqa: A001 - moxing's name
    return File(url, mode, encoding=encoding)


# -- shift('os', 'mox'): make the standard functions accept object URLs ------------------------------------

_saved: dict[tuple[Any, str], Any] = {}


def _wrap(owner: Any, name: str, remote: Callable[..., Any], *, two_paths: bool = False) -> None:
    """Replace owner.name by a function that sends object URLs to `remote` and the rest to the original."""
    original = getattr(owner, name)
    _saved[(owner, name)] = original

    def dispatch(path: Any, *args: Any, **kwargs: Any) -> Any:
        paths = (path, args[0]) if two_paths and args else (path,)
        if any(isinstance(p, str) and _is_remote(p) for p in paths):
            return remote(path, *args, **kwargs)
        return original(path, *args, **kwargs)

    dispatch.__name__ = getattr(original, "__name__", name)
    dispatch.__doc__ = getattr(original, "__doc__", None)
    setattr(owner, name, dispatch)


def _copy_file(src: str, dst: str, *args: Any, **kwargs: Any) -> str:
    if dst.endswith("/") or is_directory(dst):
        dst = dst.rstrip("/") + "/" + posixpath.basename(src.rstrip("/"))
    copy(src, dst)
    return dst


def _open(
    path: str, mode: str = "r", buffering: int = -1, encoding: str | None = None, *args: Any, **kwargs: Any
) -> File:
    return File(path, mode, encoding=encoding)


def shift(src: str, dst: str) -> None:
    """`shift('os', 'mox')`: open/os/shutil accept obs:// and s3:// URLs; `shift('mox', 'os')` undoes it."""
    if (src, dst) == ("os", "mox"):
        if _saved:
            return
        _wrap(builtins, "open", _open)
        _wrap(os.path, "exists", exists)
        _wrap(os.path, "isdir", is_directory)
        _wrap(os.path, "isfile", lambda p: api.stat(p, profile=_profile()) is not None)
        _wrap(os.path, "getsize", get_size)
        _wrap(os, "listdir", list_directory)
        _wrap(os, "makedirs", lambda p, *a, **k: make_dirs(p))
        _wrap(os, "mkdir", lambda p, *a, **k: make_dirs(p))
        _wrap(os, "remove", lambda p, *a, **k: remove(p))
        _wrap(os, "unlink", lambda p, *a, **k: remove(p))
        _wrap(os, "walk", lambda p, topdown=True, onerror=None, followlinks=False: walk(p, topdown, onerror))
        _wrap(os, "rename", lambda s, d, *a, **k: rename(s, d), two_paths=True)
        _wrap(shutil, "copyfile", _copy_file, two_paths=True)
        _wrap(shutil, "copy", _copy_file, two_paths=True)
        _wrap(shutil, "rmtree", lambda p, *a, **k: remove(p, recursive=True))
    elif (src, dst) == ("mox", "os"):
        for (owner, name), original in _saved.items():
            setattr(owner, name, original)
        _saved.clear()
    else:
        raise StorageError(f"mox.file.shift: expected ('os', 'mox') or ('mox', 'os'), got ({src!r}, {dst!r})")
