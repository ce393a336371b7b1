"""Storage errors. Every one is a UserError: the CLI prints it as one line (secrets redacted) and exits 2."""

from __future__ import annotations

from launcher.errors import UserError


class StorageError(UserError):
    """An object-storage operation failed (after retries where retrying made sense)."""


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


class Interrupted(StorageError):
    """A sync was cancelled (Ctrl-C, SIGTERM): finished files stay, partial ones were removed."""

    exit_code = 143  # 128 + SIGTERM, what a shell reports for a terminated process
