"""Storage errors, in two kinds that decide the exit code.

Every one is a UserError, so the CLI prints it as one line (secrets redacted) and exits with its `exit_code`:
- 2 (the default): the user must fix something: a bad URL, an unknown bucket, wrong credentials, access
  denied, a hostile key, a symbolic link in the way. Retrying will not help.
- EXIT_INFRA (75) for `StorageUnavailable` and its subclasses: transient infrastructure failures (the endpoint
  unreachable, connection resets, timeouts or 5xx after every retry; local disk I/O errors: EIO, ENOSPC,
  EDQUOT). A re-run, or a platform restart, can succeed without any change.
`is_transient` tells the two apart for any exception, so per-file failures can be classified too.
"""

from __future__ import annotations

import errno

from entry.contract import EXIT_INFRA, EXIT_STOPPED
from launcher.errors import UserError

# Local disk conditions that are no fault of the request: the node's disk, not the user's input.
DISK_ERRNOS = frozenset({errno.EIO, errno.ENOSPC, errno.EDQUOT})


class StorageError(UserError):
    """An object-storage operation failed (after retries where retrying made sense)."""


class StorageUnavailable(StorageError):
    """Transient infrastructure failure: storage unreachable or failing after retries, or local disk I/O.

    Exit code EXIT_INFRA (75): platforms restart the job; a re-run completes what is missing.
    """

    exit_code = EXIT_INFRA


class LocalDiskError(StorageUnavailable):
    """Writing (or reading) a local file failed with a disk condition (ENOSPC, EIO, EDQUOT): never retried."""

    def __init__(self, path: str, cause: OSError) -> None:
        super().__init__(f"cannot write {path}: {cause.strerror or cause}")
        self.path = path
        self.errno = cause.errno


class InvalidURL(StorageError):
    """A URL or key that cannot name an object: bad scheme, bad bucket, or an unsafe key."""


class UnsafeKey(InvalidURL):
    """A key that could escape its target folder (`..`, absolute, NUL byte): refused, never written."""


class NotFound(StorageError):
    """No object, prefix, file or bucket at that URL."""


class CredentialsError(StorageError):
    """The server refused the credentials or the signature: retrying will not help."""


class TransferFailed(StorageError):
    """Some files of a copy/sync failed after retries; the others were completed. Carries the report."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class TransferUnavailable(TransferFailed, StorageUnavailable):
    """A copy/sync whose every failed file failed for a transient reason: a re-run can complete it (exit 75)."""


class Interrupted(StorageError):
    """A sync was cancelled (Ctrl-C, SIGTERM): finished files stay, partial ones were removed."""

    exit_code = EXIT_STOPPED  # 128 + SIGTERM, what a shell reports for a terminated process

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


def is_transient(exc: BaseException) -> bool:
    """True for failures a re-run can fix without any change: infrastructure, not input."""
    if isinstance(exc, StorageUnavailable):
        return True
    if isinstance(exc, StorageError):
        return False
    if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
        return True
    return isinstance(exc, TimeoutError | ConnectionError)
