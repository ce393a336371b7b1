"""`python -m launcher data ls|cp|sync|rm|du`: fire-friendly commands over launcher.storage.

Each prints its own output and returns None; user mistakes and failed files raise UserError subclasses,
which the CLI prints as one line (secrets redacted) with a non-zero exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from launcher.datacache_cli import CacheCommands
from launcher.storage import api
from launcher.storage.errors import StorageError, TransferFailed
from launcher.storage.models import SyncReport, human_bytes

_SHOW_FAILURES = 20


def _patterns(value: str | Sequence[str] | None) -> list[str]:
    """Fire passes `--include '*.txt'` as a str and `--include '[a,b]'` as a list; commas also separate."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    return [str(p) for p in value]


def _finish(run: SyncReport | None, error: TransferFailed | None) -> None:
    report = run if run is not None else (error.report if error is not None else None)
    if isinstance(report, SyncReport):
        for line in report.planned:
            print(line)
        for failure in report.failures[:_SHOW_FAILURES]:
            print(f"FAILED {failure.path}: {failure.error}", file=sys.stderr)
        if report.failed > _SHOW_FAILURES:
            print(f"... and {report.failed - _SHOW_FAILURES} more failures", file=sys.stderr)
        print(report.summary())
    if error is not None:
        raise error


class DataCommands:
    """Move data between object storage (obs://bucket/key, s3://bucket/key) and local paths."""

    cache = CacheCommands()  # `launcher data cache ls|prune`: the node's data cache

    def ls(self, url: str, recursive: bool = False, long: bool = False) -> None:
        """List a folder (sub-folders end in '/'); --recursive lists every file; --long adds size and time."""
        urls = api.ls(url, recursive=recursive)
        if not long:
            for item in urls:
                print(item)
            return
        for item in urls:
            if item.endswith("/"):
                print(f"{'DIR':>12}  {'':19}  {item}")
                continue
            entry = api.stat(item)
            if entry is None:
                continue
            when = datetime.fromtimestamp(entry.mtime, UTC).strftime("%Y-%m-%d %H:%M:%S")
            print(f"{entry.size:>12}  {when}  {item}")

    def cp(
        self,
        src: str,
        dst: str,
        recursive: bool = False,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        dry_run: bool = False,
        progress: bool | None = None,
    ) -> None:
        """Copy a file, or with --recursive a folder (every file, changed or not). DST ending in '/' is a folder."""
        if not recursive and api.stat(src) is None:
            if api.is_folder(src):
                raise StorageError(f"{src} is a folder: add --recursive to copy what is below it")
            raise StorageError(f"nothing at {src}: no such file or object")
        report: SyncReport | None = None
        failure: TransferFailed | None = None
        try:
            report = api.copy(
                src, dst, include=_patterns(include), exclude=_patterns(exclude), dry_run=dry_run, progress=progress
            )
        except TransferFailed as exc:
            failure = exc
        _finish(report, failure)

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
    ) -> None:
        """Make DST hold what SRC holds: unchanged files skipped, --delete removes extras, --dry-run lists changes."""
        report: SyncReport | None = None
        failure: TransferFailed | None = None
        try:
            report = api.sync(
                src,
                dst,
                delete=delete,
                checksum=checksum,
                include=_patterns(include),
                exclude=_patterns(exclude),
                dry_run=dry_run,
                progress=progress,
            )
        except TransferFailed as exc:
            failure = exc
        _finish(report, failure)

    def rm(self, url: str, recursive: bool = False) -> None:
        """Delete a file or object; --recursive deletes everything below a folder."""
        count = api.rm(url, recursive=recursive)
        print(f"deleted {count} file(s) at {url}")

    def du(self, url: str) -> None:
        """Count files and bytes at or below URL."""
        files, size = api.du(url)
        print(f"{files} files, {size} bytes ({human_bytes(size)})  {url}")


def main() -> None:
    """`python -m launcher.storage.cli sync SRC DST`: the data commands alone (used by bench/sync)."""
    import fire
    from loguru import logger

    from launcher.errors import UserError
    from launcher.redact import redact

    def to_stderr(message: object) -> None:
        sys.stderr.write(redact(str(message)))

    logger.remove()
    logger.add(to_stderr, level="INFO", format="{message}")
    try:
        fire.Fire(DataCommands)
    except UserError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    main()
