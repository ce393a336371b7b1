"""moxing's documented exception classes, each also the built-in a script would catch.

Public code catches the built-ins (MindFormers' retry loop: `except (FileNotFoundError, RuntimeError)`),
moxing's documentation the Mox* names; both work. Each is also a StorageError, so the launcher's own
handling (one line, secrets redacted) is unchanged.
"""

from __future__ import annotations

from typing import Any

from launcher.storage.errors import NotFound, StorageError


class MoxFileNotExistsException(NotFound, FileNotFoundError):
    """No file, object or folder at that URL (os: FileNotFoundError)."""


class MoxNotADirectoryException(StorageError, NotADirectoryError):
    """A folder was expected and a file is there (os.listdir on a file: NotADirectoryError)."""


class MoxFileNameDuplicateException(StorageError, FileExistsError):
    """A file and a folder of the same name (an object store allows both, a file system does not)."""


class _MoxFileBaseRespException(StorageError, RuntimeError, OSError):
    """A failed request or transfer. `resp` is what moxing exposes; here the message (there is no raw reply)."""

    def __init__(self, message: str, *args: Any) -> None:
        StorageError.__init__(self, message)
        self.resp = message

    def __str__(self) -> str:
        return str(self.resp)


class MoxFileRespException(_MoxFileBaseRespException):
    """The store answered with an error (after retries) or a copy failed."""


class MoxFileReadException(_MoxFileBaseRespException):
    """Reading an object's content failed part-way."""


MOX_ERRORS = (
    MoxFileNotExistsException,
    MoxNotADirectoryException,
    MoxFileNameDuplicateException,
    _MoxFileBaseRespException,
)


def as_mox_error(exc: StorageError) -> StorageError:
    """The Mox* exception for a storage error (the same object if it already is one)."""
    if isinstance(exc, MOX_ERRORS):
        return exc
    if isinstance(exc, NotFound):
        return MoxFileNotExistsException(str(exc))
    mapped = MoxFileRespException(str(exc))
    mapped.report = getattr(exc, "report", None)  # type: ignore[attr-defined] - TransferFailed's report
    return mapped
