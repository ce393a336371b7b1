"""mox.file.File: a file object for a URL, used like the built-in open().

    with mox.file.File("obs://b/log.txt", "w") as f:   # logging.basicConfig(stream=f) works too
        f.write("step 1\n")
        f.flush()                                      # what was written so far is now in the store

Local paths are opened directly. An object is read once into a local spool; writes go to the spool and are
uploaded, atomically (readers see the previous or the new whole content), by flush() and close(). Text mode
translates newlines as open() does (universal newlines on read).
"""

from __future__ import annotations

import builtins
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from launcher.storage import api
from launcher.storage.errors import NotFound, StorageError
from launcher.storage.mox_calls import _api, _is_remote, _local, _profile
from launcher.storage.mox_errors import MoxFileNotExistsException

_MODES = ("r", "w", "a", "r+", "w+", "a+")


class File(io.IOBase):
    """`mode` is one of r, w, a, r+, w+, a+, with b (anywhere: 'rb', 'br') for bytes."""

    _SPOOL = 64 << 20  # larger content spills to a temporary file

    @_api
    def __init__(
        self,
        url: str | os.PathLike[str],
        mode: str = "r",
        buffering: int = -1,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
        **ignored: Any,
    ) -> None:
        super().__init__()
        self.name = os.fspath(url)
        self.mode = mode
        self._remote = _is_remote(self.name)
        self._dirty = False
        self._stored = False  # the object exists in the store with our content
        if not self._remote:
            self._fh: IO[Any] = builtins.open(
                _local(self.name), mode, buffering, encoding=encoding, errors=errors, newline=newline
            )
            return
        kind = "".join(sorted(set(mode) - {"b", "t"}, key="rwa+".index))
        if kind not in _MODES:
            raise StorageError(f"mox.file.File: unsupported mode {mode!r}")
        self._writable = kind != "r"
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=self._SPOOL)
        if kind[0] in "ra":
            try:
                spool.write(api.read_bytes(self.name, profile=_profile()))
                self._stored = True
            except NotFound:
                if kind[0] == "r":
                    raise MoxFileNotExistsException(f"mox.file.File: no such file {self.name}") from None
        if kind[0] != "a":
            spool.seek(0)
        self._raw = spool
        self._fh = (
            spool
            if "b" in mode
            else io.TextIOWrapper(spool, encoding=encoding or "utf-8", errors=errors, newline=newline)
        )
        if kind[0] == "w":
            self._dirty = True  # truncating an existing object is a change even if nothing is written

    # -- reading and writing: the spool's, with the changes remembered ----------------------------------

    def read(self, size: int = -1) -> Any:
        return self._fh.read(size)

    def readline(self, size: int = -1) -> Any:  # type: ignore[override]
        return self._fh.readline(size)

    def readlines(self, hint: int = -1) -> list[Any]:
        return self._fh.readlines(hint)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._fh)

    def __next__(self) -> Any:
        return next(self._fh)

    def write(self, data: Any) -> int:
        self._dirty = True
        return self._fh.write(data)

    def writelines(self, lines: Iterable[Any]) -> None:  # type: ignore[override]
        self._dirty = True
        self._fh.writelines(lines)

    def truncate(self, size: int | None = None) -> int:
        self._dirty = True
        return self._fh.truncate(size)

    def readable(self) -> bool:
        return self._fh.readable() and (not self._remote or "r" in self.mode or "+" in self.mode)

    def writable(self) -> bool:
        return self._fh.writable() and (not self._remote or self._writable)

    def seekable(self) -> bool:
        return self._fh.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def fileno(self) -> int:
        if self._remote:
            raise io.UnsupportedOperation("an object in a store has no file descriptor")
        return self._fh.fileno()

    def size(self, *args: Any, **kwargs: Any) -> int:
        """Bytes in the file as it is now (including what was written and not yet flushed)."""
        if not self._remote:
            self._fh.flush()
            return os.fstat(self._fh.fileno()).st_size
        self._fh.flush()
        here = self._raw.tell()
        end = self._raw.seek(0, io.SEEK_END)
        self._raw.seek(here)
        return end

    # -- making it visible -------------------------------------------------------------------------------

    @_api
    def flush(self) -> None:
        """Make what was written so far visible: in the store for an object (one atomic upload)."""
        if self.closed or self.__dict__.get("_closing"):
            return
        self._fh.flush()
        if self._remote and self._writable and (self._dirty or not self._stored):
            self._upload()

    def _upload(self) -> None:
        here = self._raw.tell()
        self._raw.seek(0)
        data = self._raw.read()
        self._raw.seek(here)
        api.write_bytes(self.name, data, profile=_profile())
        self._dirty = False
        self._stored = True

    @_api
    def close(self) -> None:
        if self.closed:
            return
        if "_fh" not in self.__dict__:  # __init__ failed: nothing was opened
            self._closing = True
            super().close()
            return
        try:
            if self._remote and self._writable:
                self._fh.flush()
                if self._dirty or not self._stored:
                    self._upload()
        finally:
            self._closing = True  # IOBase.close() calls flush(): nothing is left to flush
            if self._remote and isinstance(self._fh, io.TextIOWrapper):
                self._fh.detach()
            (self._raw if self._remote else self._fh).close()
            super().close()

    def __getattr__(self, name: str) -> Any:
        if "_fh" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.__dict__["_fh"], name)

    def __repr__(self) -> str:
        return f"<mox.file.File name={self.name!r} mode={self.mode!r}>"
