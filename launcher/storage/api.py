"""Blocking functions over the async engine: what the job runner, the CLI and mox.file call."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from launcher.storage import runner
from launcher.storage.display import printable
from launcher.storage.errors import NotFound, StorageError
from launcher.storage.profiles import Profile
from launcher.storage.session import Session
from launcher.storage.stores import Entry, LocalStore, as_folder
from launcher.storage.urls import parse_url

if TYPE_CHECKING:  # the sync engine (transfers, progress, orphan sweep) is imported by sync/copy only
    from launcher.storage.models import SyncReport, TransferConfig

T = TypeVar("T")


def _with_session(work: Callable[[Session], Awaitable[T]], profile: Profile | None = None) -> T:
    async def main() -> T:
        async with Session(profile) as session:
            return await work(session)

    return runner.run(main)


def sync(
    src: str,
    dst: str,
    *,
    delete: bool = False,
    checksum: bool = False,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    dry_run: bool = False,
    progress: bool | None = None,
    follow_symlinks: bool = False,
    transfer: TransferConfig | None = None,
    profile: Profile | None = None,
) -> SyncReport:
    """Make `dst` hold what `src` holds (a folder, or one file). Unchanged files are skipped.

    Symbolic links in a local `src` are followed only when they point inside it (`follow_symlinks`: all).
    Raises TransferFailed (a StorageError) after finishing every other file if any file failed; its subclass
    TransferUnavailable (exit 75) when every failure was transient.
    """
    from launcher.storage.models import SyncOptions, TransferConfig
    from launcher.storage.sync_engine import SyncEngine, raise_on_failures

    options = SyncOptions(
        delete=delete,
        checksum=checksum,
        include=list(include or []),
        exclude=list(exclude or []),
        dry_run=dry_run,
        progress=progress,
        follow_symlinks=follow_symlinks,
        transfer=transfer or TransferConfig(),
    )
    report = _with_session(lambda s: SyncEngine(s, options).run(src, dst, mirror=True), profile)
    return raise_on_failures(report)


def copy(
    src: str,
    dst: str,
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    files: Sequence[str] | None = None,
    dry_run: bool = False,
    progress: bool | None = None,
    follow_symlinks: bool = False,
    transfer: TransferConfig | None = None,
    profile: Profile | None = None,
) -> SyncReport:
    """Copy a file or a whole folder, every selected file, whether or not it changed.

    `files` limits a folder copy to those paths (relative to `src`); symbolic links as in `sync`.
    """
    from launcher.storage.models import SyncOptions, TransferConfig
    from launcher.storage.sync_engine import SyncEngine, raise_on_failures

    options = SyncOptions(
        include=list(include or []),
        exclude=list(exclude or []),
        files=list(files) if files is not None else None,
        dry_run=dry_run,
        progress=progress,
        follow_symlinks=follow_symlinks,
        transfer=transfer or TransferConfig(),
    )
    report = _with_session(lambda s: SyncEngine(s, options).run(src, dst, mirror=False), profile)
    return raise_on_failures(report)


def stat(url: str, *, profile: Profile | None = None) -> Entry | None:
    """The file or object at `url` (size, mtime, etag), or None when there is none (folders are None)."""

    async def work(session: Session) -> Entry | None:
        store, key = session.open(url)
        return await store.stat(key)

    return _with_session(work, profile)


def is_folder(url: str, *, profile: Profile | None = None) -> bool:
    async def work(session: Session) -> bool:
        store, key = session.open(url)
        return await store.is_folder(key)

    return _with_session(work, profile)


def exists(url: str, *, profile: Profile | None = None) -> bool:
    """True for an existing file/object, and for a folder (a prefix with something below it, or a bucket)."""

    async def work(session: Session) -> bool:
        store, key = session.open(url)
        if key and not key.endswith("/") and await store.stat(key) is not None:
            return True
        return await store.is_folder(key)

    return _with_session(work, profile)


def read_bytes(url: str, *, profile: Profile | None = None) -> bytes:
    async def work(session: Session) -> bytes:
        store, key = session.open(url)
        if not key or key.endswith("/"):
            raise StorageError(f"{url} is a folder, not a file")
        try:
            return await store.read(key)  # one request: a missing object raises NotFound
        except NotADirectoryError:  # a file where a parent folder should be
            raise NotFound(f"not found: {url}") from None

    return _with_session(work, profile)


def write_bytes(url: str, data: bytes, *, profile: Profile | None = None) -> None:
    """Write `data` to `url` atomically (a reader sees the old content or all of the new)."""

    async def work(session: Session) -> None:
        store, key = session.open(url)
        if not key or key.endswith("/"):
            raise StorageError(f"cannot write to {url}: it names a folder, not a file")
        await store.write(key, bytes(data))

    _with_session(work, profile)


def ls(url: str, recursive: bool = False, *, profile: Profile | None = None) -> list[str]:
    """URLs below the folder `url` (sorted). Not recursive: files and sub-folders (ending in '/').

    A `url` naming a single file lists just that file.
    """

    async def work(session: Session) -> list[str]:
        store, key = session.open(url)
        if key and not key.endswith("/") and await store.stat(key) is not None:
            return [store.url(key)]
        folder = as_folder(key)
        if recursive:
            listing = await store.scan(folder)
            return sorted(store.url(folder + e.key) for e in listing.entries)
        files, dirs = await store.list_dir(folder)
        return sorted([store.url(folder + e.key) for e in files] + [store.url(folder + d) for d in dirs])

    return _with_session(work, profile)


def names(url: str, recursive: bool = False, *, profile: Profile | None = None) -> list[str]:
    """Like ls, but paths relative to the folder `url` (sub-folders end in '/'; recursive: files only)."""

    async def work(session: Session) -> list[str]:
        store, key = session.open(url)
        folder = as_folder(key)
        if recursive:
            return sorted(e.key for e in (await store.scan(folder)).entries)
        files, dirs = await store.list_dir(folder)
        return sorted([e.key for e in files] + dirs)

    return _with_session(work, profile)


def listing(url: str, *, profile: Profile | None = None) -> tuple[list[Entry], list[str]] | None:
    """One level of the folder `url`: (files, sub-folder names ending in '/'), or None when no folder is there.

    An existing empty folder (a directory, a "dir/" marker, a bucket) gives ([], []).
    """

    async def work(session: Session) -> tuple[list[Entry], list[str]] | None:
        store, key = session.open(url)
        files, dirs = await store.list_dir(as_folder(key))
        if files or dirs or await store.is_folder(key):
            return files, dirs
        return None

    return _with_session(work, profile)


def empty_folders(url: str, *, profile: Profile | None = None) -> list[str]:
    """Empty folders below the folder `url` (relative, sorted): directories with nothing in them, or "dir/"
    marker objects with nothing below them. [] for a file or a missing folder."""

    async def work(session: Session) -> list[str]:
        store, key = session.open(url)
        folder = as_folder(key)
        if isinstance(store, LocalStore):
            return await asyncio.to_thread(_empty_dirs, store.path(folder))
        listing = await store.scan(folder, markers=True)
        return _empty_markers([e.key for e in listing.entries])

    return _with_session(work, profile)


def tree(url: str, *, profile: Profile | None = None) -> tuple[list[Entry], list[str]] | None:
    """Everything below the folder `url`: (files, empty folders), relative; None when no folder is there."""

    async def work(session: Session) -> tuple[list[Entry], list[str]] | None:
        store, key = session.open(url)
        folder = as_folder(key)
        if isinstance(store, LocalStore):
            if not await store.is_folder(key):
                return None
            listing = await store.scan(folder)
            return listing.entries, await asyncio.to_thread(_empty_dirs, store.path(folder))
        listing = await store.scan(folder, markers=True)
        if not listing.entries and not await store.is_folder(key):
            return None
        files = [e for e in listing.entries if e.key and not e.key.endswith("/")]
        return files, _empty_markers([e.key for e in listing.entries])

    return _with_session(work, profile)


def _empty_markers(keys: list[str]) -> list[str]:
    """The "dir/" marker keys (named without the '/') that have nothing below them."""
    markers = {k.rstrip("/") for k in keys if k.endswith("/") and k.strip("/")}
    parents = set()
    for k in keys:
        head = k.rstrip("/").rpartition("/")[0]
        while head and head not in parents:
            parents.add(head)
            head = head.rpartition("/")[0]
    return sorted(markers - parents)


def _empty_dirs(top: str) -> list[str]:
    """Directories below `top` with no entry at all (relative, '/'-separated); symlinks are not followed."""
    found = []
    for folder, dirs, files in os.walk(top):
        if not dirs and not files and folder != top:
            found.append(os.path.relpath(folder, top).replace(os.sep, "/"))
    return sorted(found)


def rm(url: str, recursive: bool = False, *, profile: Profile | None = None) -> int:
    """Delete a file, or with `recursive` everything below a folder; returns how many were deleted.

    Symbolic links are never followed (as `rm -r`): a link is deleted itself, never what it points to.
    """

    async def work(session: Session) -> int:
        store, key = session.open(url)
        if isinstance(store, LocalStore) and key.strip("/") and os.path.islink(store.path(key.rstrip("/"))):
            keys = [key.rstrip("/")]
        elif key and not key.endswith("/") and await store.stat(key) is not None:
            keys = [key]
        elif recursive:
            folder = as_folder(key)
            listing = await store.scan(folder, markers=True)
            keys = [folder + e.key for e in listing.entries] + [folder + link for link in listing.links]
        elif await store.is_folder(key):
            raise StorageError(f"{url} is a folder: pass recursive=True (--recursive) to delete what is below it")
        else:
            raise NotFound(f"not found: {url}")
        errors = await store.delete(keys)
        if recursive and isinstance(store, LocalStore) and not errors and await store.is_folder(key):
            store.remove_empty_dirs(key)
        if errors:
            first_key, first_error = next(iter(errors.items()))
            raise StorageError(
                printable(f"could not delete {len(errors)} of {len(keys)}: {store.url(first_key)}: {first_error}")
            )
        return len(keys)

    return _with_session(work, profile)


def make_dirs(url: str, *, profile: Profile | None = None) -> None:
    """Create a folder (a directory, or an empty "prefix/" marker object)."""

    async def work(session: Session) -> None:
        store, key = session.open(url)
        await store.make_folder(key)

    _with_session(work, profile)


def du(url: str, *, profile: Profile | None = None) -> tuple[int, int]:
    """(files, bytes) at or below `url`."""

    async def work(session: Session) -> tuple[int, int]:
        store, key = session.open(url)
        if key and not key.endswith("/") and (entry := await store.stat(key)) is not None:
            return 1, entry.size
        listing = await store.scan(as_folder(key))
        return len(listing.entries), sum(e.size for e in listing.entries)

    return _with_session(work, profile)


def url_of(text: str) -> str:
    """Normalised form of a URL or path (validates it)."""
    return str(parse_url(text))
