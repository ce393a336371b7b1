"""`python -m launcher data ls|cp|sync|rm|du`: the commands over launcher.storage.

The command line is derived from these methods (launcher/argcommands.py: the signature gives the arguments,
the docstring the help), so a parameter added here is a flag there.

Each prints its own output and returns None; failures raise UserError subclasses, which the CLI prints as
one line (secrets redacted) with their exit code: 2 for what the user must fix (bad URL, unknown bucket,
credentials, access denied, hostile keys), 75 (EXIT_INFRA) for transient infrastructure failures
(StorageUnavailable: the store unreachable or failing after retries, disk I/O), 130 for Ctrl-C.
Every name printed passes through `printable`: a key cannot send escape sequences to the terminal.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from launcher.datacache_cli import CacheCommands
from launcher.storage import api
from launcher.storage.display import printable
from launcher.storage.errors import Interrupted, StorageError, TransferFailed

if TYPE_CHECKING:  # the sync engine's models are imported by the commands that move data
    from launcher.storage.models import SyncReport

P = ParamSpec("P")
R = TypeVar("R")
EXIT_CTRL_C = 130  # 128 + SIGINT, what a shell reports


def _ctrl_c_is_one_line(command: Callable[P, R]) -> Callable[P, R]:
    """Ctrl-C: the engine has already removed partial files and aborted uploads; say so in one line, exit 130."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            raise Interrupted(
                "interrupted (Ctrl-C): finished files are in place, no partial file was left; re-run to complete",
                exit_code=EXIT_CTRL_C,
            ) from None

    return wrapper

_SHOW_FAILURES = 20


def _patterns(value: str | Sequence[str] | None) -> list[str]:
    """The glob patterns of --include/--exclude: each given value may hold several, comma-separated, or in fire's
    list form `[a,b]` (what scripts written for the fire CLI pass). A comma never belongs to a pattern."""
    if value is None:
        return []
    found: list[str] = []
    for item in [value] if isinstance(value, str) else value:
        item = str(item)
        listed = item.startswith("[") and item.endswith("]") and "," in item  # `[a,b]`, not the glob `[ab]*`
        for pattern in (item[1:-1] if listed else item).split(","):
            found.append(pattern.strip().strip("'\"") if listed else pattern.strip())  # fire's `['a', 'b']` too
    return [p for p in found if p]


def _report(transfer: Callable[[], SyncReport]) -> None:
    """Run a copy or sync and print its report, also when some files failed (then raise that failure)."""
    from launcher.storage.models import SyncReport

    error: TransferFailed | None = None
    try:
        report: SyncReport | None = transfer()
    except TransferFailed as exc:
        error, report = exc, exc.report
    if isinstance(report, SyncReport):
        for line in report.planned:
            print(printable(line))
        for failure in report.failures[:_SHOW_FAILURES]:
            print(printable(f"FAILED {failure.path}: {failure.error}"), file=sys.stderr)
        if report.failed > _SHOW_FAILURES:
            print(f"... and {report.failed - _SHOW_FAILURES} more failures", file=sys.stderr)
        print(printable(report.summary()))
    if error is not None:
        raise error


class DataCommands:
    """Move data between object storage (obs://bucket/key, s3://bucket/key) and local paths."""

    cache = CacheCommands()  # `launcher data cache ls|prune`: the node's data cache

    @_ctrl_c_is_one_line
    def ls(self, url: str, recursive: bool = False, long: bool = False) -> None:
        """List a folder (sub-folders end in '/'); --recursive lists every file; --long adds size and time.

        Control characters in names are shown escaped (\\x1b), never sent to the terminal.

        Args:
            url: a folder or file: obs://bucket/key, s3://bucket/key or a local path
            recursive: every file below URL, not only its own level
            long: each file's size in bytes and modification time (UTC)
        """
        urls = api.ls(url, recursive=recursive)
        if not long:
            for item in urls:
                print(printable(item))
            return
        for item in urls:
            if item.endswith("/"):
                print(f"{'DIR':>12}  {'':19}  {printable(item)}")
                continue
            entry = api.stat(item)
            if entry is None:
                continue
            when = datetime.fromtimestamp(entry.mtime, UTC).strftime("%Y-%m-%d %H:%M:%S")
            print(f"{entry.size:>12}  {when}  {printable(item)}")

    @_ctrl_c_is_one_line
    def cp(
        self,
        src: str,
        dst: str,
        recursive: bool = False,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        dry_run: bool = False,
        progress: bool | None = None,
        follow_symlinks: bool = False,
    ) -> None:
        """Copy a file, or with --recursive a folder (every file, changed or not). DST ending in '/' is a folder.

        Symbolic links in a local folder are followed only when they point inside it; others are skipped with a
        warning (--follow-symlinks follows them all; /proc, /sys and /dev are never read).

        Args:
            src: a file or folder: obs://bucket/key, s3://bucket/key or a local path
            dst: where to copy it (a URL or a local path)
            recursive: copy the folder SRC and everything below it
            include (PATTERN): copy only paths matching this glob (repeatable, or comma-separated: '*.txt,*.json')
            exclude (PATTERN): skip paths matching this glob (repeatable, or comma-separated)
            dry_run: print what would be copied, change nothing
            progress: progress bars (default: on a terminal; log lines otherwise)
            follow_symlinks: follow every symbolic link in a local SRC, also those pointing out of it
        """
        if not recursive and api.stat(src) is None:
            if api.is_folder(src):
                raise StorageError(printable(f"{src} is a folder: add --recursive to copy what is below it"))
            raise StorageError(printable(f"nothing at {src}: no such file or object"))
        _report(
            lambda: api.copy(
                src,
                dst,
                include=_patterns(include),
                exclude=_patterns(exclude),
                dry_run=dry_run,
                progress=progress,
                follow_symlinks=follow_symlinks,
            )
        )

    @_ctrl_c_is_one_line
    def sync(
        self,
        src: str,
        dst: str,
        delete: bool = False,
        checksum: bool = False,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        dry_run: bool = False,
        progress: bool | None = None,
        follow_symlinks: bool = False,
    ) -> None:
        """Make DST hold what SRC holds: unchanged files skipped, --delete removes extras, --dry-run lists changes.

        Symbolic links: as for cp (--follow-symlinks). --delete removes a link itself, never what it points to.

        Args:
            src: a folder or file: obs://bucket/key, s3://bucket/key or a local path
            dst: the folder (or file) to bring up to date
            delete: also delete what DST holds and SRC does not (only among the selected paths)
            checksum: compare contents (MD5) instead of size and modification time
            include (PATTERN): sync only paths matching this glob (repeatable, or comma-separated: '*.txt,*.json')
            exclude (PATTERN): skip paths matching this glob (repeatable, or comma-separated)
            dry_run: print what would be copied and deleted, change nothing
            progress: progress bars (default: on a terminal; log lines otherwise)
            follow_symlinks: follow every symbolic link in a local SRC, also those pointing out of it
        """
        _report(
            lambda: api.sync(
                src,
                dst,
                delete=delete,
                checksum=checksum,
                include=_patterns(include),
                exclude=_patterns(exclude),
                dry_run=dry_run,
                progress=progress,
                follow_symlinks=follow_symlinks,
            )
        )

    @_ctrl_c_is_one_line
    def rm(self, url: str, recursive: bool = False) -> None:
        """Delete a file or object; --recursive deletes everything below a folder (links themselves, never targets).

        Args:
            url: the file or folder to delete
            recursive: delete everything below the folder URL
        """
        count = api.rm(url, recursive=recursive)
        print(printable(f"deleted {count} file(s) at {url}"))

    @_ctrl_c_is_one_line
    def du(self, url: str) -> None:
        """Count files and bytes at or below URL.

        Args:
            url: a file or folder: obs://bucket/key, s3://bucket/key or a local path
        """
        from launcher.storage.models import human_bytes

        files, size = api.du(url)
        print(printable(f"{files} files, {size} bytes ({human_bytes(size)})  {url}"))
