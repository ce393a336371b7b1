"""The sync engine: list both sides, decide, transfer many files at once, delete, report.

Written once over the Store interface, so local<->store, store<->store, and the embedded store all take
this path. A file is skipped when size matches and the destination carries the source's mtime (local and
embedded destinations, where it is set on the copy) or, on an object store, was uploaded after the source's
last change (see compare_times); `checksum` compares MD5s instead. Listing only: no request per unchanged
object, except one HEAD for a file changed in the very second of its last upload. Files that fail are
reported and the rest carries on; deletions are skipped when any copy failed, so a half-failed mirror
never loses data on the destination.

Named sync_engine, not sync: it is imported lazily (a listing does not need it), and a submodule named
`sync` would, once loaded, replace the function `launcher.storage.sync` on the package.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass
from itertools import islice

from launcher.logs import logger
from launcher.redact import redact
from launcher.storage.display import printable
from launcher.storage.errors import (
    NotFound,
    StorageError,
    TransferFailed,
    TransferUnavailable,
    UnsafeKey,
    is_transient,
)
from launcher.storage.filters import PathFilter
from launcher.storage.models import Failure, SyncOptions, SyncReport, human_bytes
from launcher.storage.orphans import abort_orphaned_uploads
from launcher.storage.progress import Progress
from launcher.storage.session import Session
from launcher.storage.stores import (
    Entry,
    LocalStore,
    S3Store,
    Store,
    as_folder,
    in_pseudo_fs,
    is_part_file,
    is_within,
    part_file_owner,
)
from launcher.storage.transfer import Transfers
from launcher.storage.urls import StorageURL, check_key, join_key, parse_url

_MTIME_TOLERANCE_S = 0.01
_LARGE_FILES_IN_FLIGHT = 4
_SMALL_BATCH = 8


@dataclass(slots=True)
class Item:
    rel: str  # relative path used in messages and filters; '' for a single file
    src_key: str
    dst_key: str
    entry: Entry


UNCHANGED, CHANGED, ASK = "unchanged", "changed", "ask"


def compare_times(src: Entry, dst: Entry, dst_keeps_mtime: bool) -> str:
    """Decide from the listings alone, for entries of the same size.

    A destination that keeps mtimes (local, embedded) must carry the source's. An object store stamps the
    upload time, in whole seconds: later than the source's mtime proves the copy is newer; in the same
    second it proves nothing (the file may have changed just after the upload began), so ASK: the object's
    recorded source mtime (x-amz-meta-mtime, one HEAD for just these few) settles it.
    """
    if dst_keeps_mtime:
        return UNCHANGED if abs(src.mtime - dst.mtime) <= _MTIME_TOLERANCE_S else CHANGED
    if dst.mtime > src.mtime:
        return UNCHANGED
    return ASK if dst.mtime >= math.floor(src.mtime) else CHANGED


def collapse_key(prefix: str, rel: str) -> str:
    """`rel` (listed below `prefix`) without empty segments when the object key has '//' inside it.

    S3 and OBS store such keys: ModelArts hands train_url with a trailing '/' and scripts append '/' + name,
    giving 'out//model.ckpt'; listed below 'out/' that is '/model.ckpt', copied as 'model.ckpt'. A key that
    itself starts with '/' stays as it is, and check_key refuses it.
    """
    if "//" not in prefix + rel or (prefix + rel).startswith("/"):
        return rel
    return "/".join(part for part in rel.split("/") if part)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, StorageError):
        text = str(exc)
    elif isinstance(exc, OSError):
        # shutil's copies name both ends (filename2 is the destination: where ENOSPC or EACCES usually is).
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f)
        text = f"{exc.strerror or type(exc).__name__}" + (f": {where}" if where else "")
    else:
        text = f"{type(exc).__name__}: {exc}"
    return printable(redact(text.splitlines()[0] if text else type(exc).__name__))


def failure(path: str, exc: BaseException) -> Failure:
    return Failure(path=path, error=describe_error(exc), transient=is_transient(exc))


class SyncEngine:
    def __init__(self, session: Session, options: SyncOptions) -> None:
        self.session = session
        self.options = options

    async def run(self, src: str | StorageURL, dst: str | StorageURL, *, mirror: bool = True) -> SyncReport:
        """`mirror` (sync): skip unchanged files and honour `delete`; otherwise (cp) copy every selected file."""
        src_url = src if isinstance(src, StorageURL) else parse_url(src)
        dst_url = dst if isinstance(dst, StorageURL) else parse_url(dst)
        self.session.start_with_few_requests()  # the stats and listings; _plan and _transfer say when more come
        src_store, src_key = self.session.open(src_url)
        dst_store, dst_key = self.session.open(dst_url)
        return await self.run_between(src_store, src_key, dst_store, dst_key, mirror=mirror)

    async def run_between(
        self, src_store: Store, src_key: str, dst_store: Store, dst_key: str, *, mirror: bool = True
    ) -> SyncReport:
        """The engine proper, on already-opened stores."""
        started = time.monotonic()
        src_label, dst_label = src_store.url(src_key), dst_store.url(dst_key)
        report = SyncReport(source=src_label, destination=dst_label, dry_run=self.options.dry_run)
        selected = PathFilter(self.options.include, self.options.exclude)

        single = None if src_key.endswith("/") or not src_key else await src_store.stat(src_key)
        if single is not None and isinstance(src_store, LocalStore):
            real = os.path.realpath(src_store.path(src_key))
            if in_pseudo_fs(real):  # e.g. a link to /proc/self/environ: this process's secrets
                raise StorageError(f"refusing to copy {printable(src_label)}: it is {printable(real)}, never uploaded")
        if single is not None:
            name = src_key.rsplit("/", 1)[-1]
            if dst_key.endswith("/") or not dst_key or await dst_store.is_folder(dst_key):
                dst_key = join_key(as_folder(dst_key), name)
            if not selected(name):
                return self._finish(report, started)
            existing = await dst_store.stat(dst_key)
            items = [Item("", src_key, dst_key, single)]
            copies, skipped = await self._plan(items, {"": existing} if existing else {}, src_store, dst_store, mirror)
            deletes: list[str] = []
        else:
            if not await src_store.is_folder(src_key):
                raise NotFound(f"nothing at {src_label}: no such file, object or folder")
            if await dst_store.stat(dst_key) is not None:
                raise StorageError(f"cannot sync the folder {src_label} onto the file {dst_label}")
            follow = "always" if self.options.follow_symlinks else "inside"
            # The destination's links are never followed: listed apart, so a delete removes the link only.
            src_listing, dst_listing = await asyncio.gather(
                src_store.scan(src_key, links=follow), dst_store.scan(dst_key)
            )
            for warning in src_listing.warnings:
                _warn_once(f"{printable(src_label)}: {warning}")
            self._clean_leftovers(dst_store, dst_key, dst_listing.leftovers)
            dst_links = _links_out_of(dst_store, dst_key, dst_listing.links)
            items = []
            only = set(self.options.files) if self.options.files is not None else None
            for entry in src_listing.entries:
                if not selected(entry.key) or (only is not None and entry.key not in only):
                    continue
                rel = collapse_key(as_folder(src_key), entry.key)
                try:
                    check_key(rel)
                except UnsafeKey as exc:
                    report.failures.append(Failure(path=src_store.url(as_folder(src_key)) + entry.key, error=str(exc)))
                    continue
                if link := _through_link(rel, dst_links):
                    where = dst_store.url(join_key(as_folder(dst_key), link))
                    report.failures.append(
                        Failure(
                            path=dst_store.url(join_key(as_folder(dst_key), rel)),
                            error=f"refused to write through the symbolic link {where}: remove it or replace it "
                            "with a folder",
                        )
                    )
                    continue
                items.append(Item(rel, as_folder(src_key) + entry.key, join_key(as_folder(dst_key), rel), entry))
            dst_entries = {e.key: e for e in dst_listing.entries}
            copies, skipped = await self._plan(items, dst_entries, src_store, dst_store, mirror)
            deletes = []
            if mirror and self.options.delete:
                wanted = {collapse_key(as_folder(src_key), e.key) for e in src_listing.entries}
                for key in [*dst_entries, *dst_listing.links]:
                    if key in wanted or not selected(key):
                        continue
                    try:
                        deletes.append(check_key(key))
                    except UnsafeKey as exc:  # a hostile name on the destination is reported, never resolved
                        report.failures.append(Failure(path=dst_store.url(as_folder(dst_key)) + key, error=str(exc)))

        report.skipped = skipped
        if self.options.dry_run:
            for item in copies:
                size = human_bytes(item.entry.size)
                report.planned.append(f"copy {src_store.url(item.src_key)} -> {dst_store.url(item.dst_key)} ({size})")
            report.planned.extend(f"delete {dst_store.url(join_key(as_folder(dst_key), k))}" for k in deletes)
            report.copied = len(copies)
            report.bytes = sum(i.entry.size for i in copies)
            report.deleted = len(deletes)
            return self._finish(report, started)

        if copies and isinstance(dst_store, S3Store):
            prefix = dst_key if single is not None else as_folder(dst_key)
            await abort_orphaned_uploads(dst_store, prefix, {i.dst_key for i in copies}, self.options.transfer)
        await self._transfer(copies, src_store, dst_store, report)
        if deletes:
            if report.failures:
                report.failures.append(
                    Failure(
                        path=dst_label,
                        error=f"{len(deletes)} deletions skipped because some files failed",
                        transient=all(f.transient for f in report.failures),
                    )
                )
            else:
                errors = await dst_store.delete([join_key(as_folder(dst_key), k) for k in deletes])
                report.deleted = len(deletes) - len(errors)
                report.failures.extend(Failure(path=dst_store.url(k), error=printable(e)) for k, e in errors.items())
        return self._finish(report, started)

    def _finish(self, report: SyncReport, started: float) -> SyncReport:
        report.seconds = time.monotonic() - started
        report.failed = len(report.failures)
        logger.debug(report.summary())
        return report

    async def _plan(
        self, items: list[Item], dst_entries: dict[str, Entry], src_store: Store, dst_store: Store, mirror: bool
    ) -> tuple[list[Item], int]:
        copies: list[Item] = []
        to_hash: list[tuple[Item, Entry]] = []
        to_ask: list[Item] = []
        for item in items:
            existing = dst_entries.get(item.rel)
            if not mirror or existing is None or existing.size != item.entry.size:
                copies.append(item)
            elif self.options.checksum:
                to_hash.append((item, existing))
            else:
                verdict = compare_times(item.entry, existing, dst_store.preserves_mtime)
                if verdict == CHANGED:
                    copies.append(item)
                elif verdict == ASK:
                    to_ask.append(item)
        skipped = len(items) - len(copies) - len(to_hash) - len(to_ask)
        self.session.expect_requests(len(to_ask) + 2 * len(to_hash))
        gate = asyncio.Semaphore(16)
        if to_ask:

            async def recorded_same(item: Item) -> bool:
                async with gate:
                    try:
                        recorded = await dst_store.recorded_mtime(item.dst_key)
                    except (StorageError, OSError):
                        return False
                    return recorded is not None and abs(recorded - item.entry.mtime) <= _MTIME_TOLERANCE_S

            for item, same_time in zip(to_ask, await asyncio.gather(*map(recorded_same, to_ask)), strict=True):
                if same_time:
                    skipped += 1
                else:
                    copies.append(item)
        if to_hash:

            async def same(item: Item, existing: Entry) -> bool:
                async with gate:
                    try:
                        src_md5 = await src_store.md5(item.src_key, item.entry, existing.etag or None)
                        return src_md5 == await dst_store.md5(item.dst_key, existing, src_md5)
                    except (StorageError, OSError) as exc:  # cannot compare: copy it, and let the copy report
                        logger.debug("checksum of {} failed ({}): copying it", item.rel, describe_error(exc))
                        return False

            results = await asyncio.gather(*(same(i, e) for i, e in to_hash))
            for (item, _), equal in zip(to_hash, results, strict=True):
                if equal:
                    skipped += 1
                else:
                    copies.append(item)
        return copies, skipped

    async def _transfer(self, copies: list[Item], src_store: Store, dst_store: Store, report: SyncReport) -> None:
        if not copies:
            return
        config = self.options.transfer
        self.session.expect_requests(len(copies))  # a request or more per file
        label = printable(f"{report.source} -> {report.destination}")
        progress = Progress(label, self.options.progress)
        progress.start(len(copies), sum(i.entry.size for i in copies))
        transfers = Transfers(config, progress.add_bytes)
        large_gate = asyncio.Semaphore(_LARGE_FILES_IN_FLIGHT)
        # Biggest first: their parts keep the pipe full while small files fill the gaps.
        queue = iter(sorted(copies, key=lambda i: i.entry.size, reverse=True))

        def record(item: Item, error: BaseException | None) -> None:
            if error is None:
                report.copied += 1
                report.bytes += item.entry.size
            else:  # one file's failure must not stop the others
                report.failures.append(failure(src_store.url(item.src_key), error))
                logger.debug("failed {}: {}", printable(item.src_key), describe_error(error))
            progress.file_done()

        async def copy_one(item: Item) -> None:
            try:
                if transfers.is_large(item.entry.size):
                    async with large_gate:
                        await transfers.copy(src_store, item.src_key, dst_store, item.dst_key, item.entry)
                else:
                    await transfers.copy(src_store, item.src_key, dst_store, item.dst_key, item.entry)
            except (TimeoutError, Exception) as exc:
                record(item, exc)
            else:
                record(item, None)

        # Small files between the disk and a server move in batches, so that their disk work (opening,
        # reading, creating, renaming: often a real wait) runs on threads in one trip per batch instead of
        # stalling the event loop file by file.
        batch_size = _SMALL_BATCH if transfers.batches(src_store, dst_store) else 1

        async def worker() -> None:
            while batch := list(islice(queue, batch_size)):
                small = [i for i in batch if transfers.batchable(i.entry.size)]
                if batch_size > 1 and small:
                    outcomes = await transfers.copy_small_batch(
                        src_store, dst_store, [(i.src_key, i.dst_key, i.entry) for i in small]
                    )
                    for item, outcome in zip(small, outcomes, strict=True):
                        record(item, outcome)
                    batch = [i for i in batch if not transfers.batchable(i.entry.size)]
                for item in batch:
                    await copy_one(item)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(config.concurrency, len(copies))):
                    group.create_task(worker())
        finally:
            transfers.close()
            progress.close()

    def _clean_leftovers(self, store: Store, prefix: str, leftovers: list[str]) -> None:
        """Remove our temporary files from runs that died (their process is gone)."""
        if not isinstance(store, LocalStore):
            return
        for rel in leftovers:
            owner = part_file_owner(os.path.basename(rel))
            if owner is None or not is_part_file(os.path.basename(rel)) or _alive(owner):
                continue
            try:
                os.unlink(store.path(join_key(as_folder(prefix), rel)))
            except OSError:
                pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def raise_on_failures(report: SyncReport) -> SyncReport:
    """Raise TransferFailed (exit 2), or TransferUnavailable (exit 75) when every failure was transient."""
    if report.failures:
        first = report.failures[0]
        more = f" (and {report.failed - 1} more)" if report.failed > 1 else ""
        kind = TransferUnavailable if all(f.transient for f in report.failures) else TransferFailed
        raise kind(
            printable(
                f"{report.failed} file(s) failed copying {report.source} -> {report.destination}: "
                f"{first.path}: {first.error}{more}; the rest completed, re-run to retry"
            ),
            report,
        )
    return report


def _links_out_of(store: Store, folder: str, links: list[str]) -> set[str]:
    """The links below a local `folder` that lead out of it: nothing may be written through them."""
    if not links or not isinstance(store, LocalStore):
        return set()
    top = os.path.realpath(store.path(folder))
    return {rel for rel in links if not is_within(os.path.realpath(store.path(join_key(as_folder(folder), rel))), top)}


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """One line per skipped link and process: a job's periodic pushes do not repeat it every time."""
    if message not in _warned:
        _warned.add(message)
        logger.warning("{}", message)


def _through_link(rel: str, links: set[str]) -> str | None:
    """The folder of `rel` (or one above it) that is a symbolic link on the destination, if any."""
    if not links:
        return None
    parts = rel.split("/")[:-1]
    for n in range(1, len(parts) + 1):
        folder = "/".join(parts[:n])
        if folder in links:
            return folder
    return None
