"""Copy one file or object between two stores, whichever kinds they are.

Small objects go in one request (and, between disk and server, in batches whose disk work is done on
threads). Large ones go in parts, many in flight (bounded for memory by `parts_in_flight`) on the threaded
path of bulk.py: multipart upload, ranged parallel download into a pre-sized temporary file; within one
endpoint, server-side copy. Anything interrupted is cleaned up: the temporary file is removed, the
multipart upload aborted; nothing partial ever appears under the final name.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import math
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from launcher.logs import logger
from launcher.storage.checksums import RunningCrc
from launcher.storage.errors import StorageError
from launcher.storage.headers import metadata_of
from launcher.storage.integrity import (
    PART_SIZE_META,
    DownloadCheck,
    check_composite,
    checkable_part_size,
    download_check,
    part_ranges,
)
from launcher.storage.models import TransferConfig
from launcher.storage.orphans import live_upload
from launcher.storage.preallocate import preallocate
from launcher.storage.stores import Entry, LocalStore, S3Store, Store, raise_disk_error, temp_name

if TYPE_CHECKING:  # a type only: a sync that involves no S3 endpoint does not load the HTTP client
    from launcher.storage.s3client import MultipartUpload, S3Client

T = TypeVar("T")
# Send part (number, start, end) of a multipart upload: its ETag, and its CRC when the upload has a checksum.
SendPart = Callable[[int, int, int, "MultipartUpload"], Awaitable[tuple[str, RunningCrc | None]]]

MAX_PARTS = 10_000
MAX_SINGLE_COPY = 5 << 30  # CopyObject limit
BATCH_MAX = 1 << 20  # files up to this size move in batches (sync_engine.py); bigger ones are read on a thread


class Transfers:
    def __init__(self, config: TransferConfig, on_bytes: Callable[[int], None] = lambda n: None) -> None:
        self.config = config
        self.on_bytes = on_bytes
        self._parts = asyncio.Semaphore(config.parts_in_flight)
        self._pool: ThreadPoolExecutor | None = None

    def part_size(self, size: int) -> int:
        return max(self.config.part_size, math.ceil(size / MAX_PARTS))

    def ranges(self, size: int) -> list[tuple[int, int]]:
        step = self.part_size(size)
        return [(start, min(size, start + step)) for start in range(0, size, step)]

    def is_large(self, size: int) -> bool:
        return size >= self.config.multipart_threshold

    def batchable(self, size: int) -> bool:
        return size <= BATCH_MAX

    async def copy(self, src: Store, src_key: str, dst: Store, dst_key: str, entry: Entry) -> None:
        """Copy one file or object."""
        if entry.size > BATCH_MAX and not self.is_large(entry.size):
            # Mid-sized files travel whole through memory: bound them like parts.
            async with self._parts:
                await self._copy(src, src_key, dst, dst_key, entry)
        else:
            await self._copy(src, src_key, dst, dst_key, entry)

    async def _copy(self, src: Store, src_key: str, dst: Store, dst_key: str, entry: Entry) -> None:
        if isinstance(src, LocalStore) and isinstance(dst, LocalStore):
            await asyncio.to_thread(_copy_local, src.path(src_key), dst, dst_key)
            self.on_bytes(entry.size)
        elif isinstance(src, LocalStore) and isinstance(dst, S3Store):
            await self._upload(src.path(src_key), dst, dst_key, entry)
        elif isinstance(src, S3Store) and isinstance(dst, LocalStore):
            await self._download(src, src_key, dst, dst_key, entry)
        elif isinstance(src, S3Store) and isinstance(dst, S3Store):  # one session: one endpoint
            await self._server_copy(src, src_key, dst, dst_key, entry)
        else:  # any other Store implementation: whole object through memory
            data = await src.read(src_key)
            await dst.write(dst_key, data, entry.mtime if dst.preserves_mtime else None)
            self.on_bytes(len(data))

    # -- threads ---------------------------------------------------------------------------------------------

    async def _in_thread(self, fn: Callable[..., T], *args: object) -> T:
        if self._pool is None:
            # Parts are bounded by their own semaphore; the extra threads serve batched small-file reads.
            self._pool = ThreadPoolExecutor(self.config.parts_in_flight + 8, thread_name_prefix="launcher-io")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _threadsafe_progress(self) -> Callable[[int], None]:
        loop = asyncio.get_running_loop()

        def report(n: int) -> None:
            loop.call_soon_threadsafe(self.on_bytes, n)

        return report

    # -- small files -----------------------------------------------------------------------------------------

    @staticmethod
    def batches(src: Store, dst: Store) -> bool:
        """Whether copy_small_batch serves this pair (the disk on one side, a server on the other)."""
        return (isinstance(src, LocalStore) and isinstance(dst, S3Store)) or (
            isinstance(src, S3Store) and isinstance(dst, LocalStore)
        )

    async def copy_small_batch(
        self, src: Store, dst: Store, items: list[tuple[str, str, Entry]]
    ) -> list[BaseException | None]:
        """Copy a few small files; the disk side in one thread trip. One outcome (None: copied) per item."""
        outcomes: list[BaseException | None] = [None] * len(items)
        if isinstance(src, LocalStore) and isinstance(dst, S3Store):
            contents = await self._in_thread(_read_files, [src.path(s) for s, _, _ in items])
            for n, ((_, dst_key, entry), data) in enumerate(zip(items, contents, strict=True)):
                try:
                    if isinstance(data, BaseException):
                        raise data
                    await self._put_small(dst, dst_key, data, entry.mtime)
                except (TimeoutError, Exception) as exc:
                    outcomes[n] = exc
            return outcomes
        if isinstance(src, S3Store) and isinstance(dst, LocalStore):
            fetched: list[tuple[int, str, bytes, float]] = []
            for n, (src_key, dst_key, entry) in enumerate(items):
                try:
                    fetched.append((n, dst_key, await self._get_small(src, src_key), entry.mtime))
                except (TimeoutError, Exception) as exc:
                    outcomes[n] = exc
            written = await self._in_thread(_write_files, dst, [(k, d, m) for _, k, d, m in fetched])
            for (n, _, data, _), error in zip(fetched, written, strict=True):
                outcomes[n] = error
                if error is None:
                    self.on_bytes(len(data))
            return outcomes
        raise StorageError(f"no batched copy from {type(src).__name__} to {type(dst).__name__}")

    async def _put_small(self, dst: S3Store, key: str, data: bytes, mtime: float) -> None:
        digest = hashlib.md5(data).digest()
        metadata = {"md5": digest.hex(), "mtime": f"{mtime:.6f}"}
        await dst.client.put_object(dst.bucket, key, data, metadata, content_md5=base64.b64encode(digest).decode())
        self.on_bytes(len(data))

    async def _get_small(self, src: S3Store, key: str) -> bytes:
        """GET a whole object, checked against the MD5 we record at upload when it is there."""
        resp = await src.client.get_object(src.bucket, key)
        expected = metadata_of(resp.headers).get("md5")
        if expected and hashlib.md5(resp.body).hexdigest() != expected:
            raise StorageError(f"{src.url(key)}: downloaded content does not match its recorded MD5")
        etag = resp.headers.get("ETag", "").strip('"')
        if not expected and (part_size := checkable_part_size(etag, len(resp.body), resp.headers)):
            # An object sent in parts, smaller than our multipart threshold: its composite ETag is checked too.
            digests = [hashlib.md5(resp.body[start:end]) for start, end in part_ranges(len(resp.body), part_size)]
            check_composite(src.url(key), etag, digests)
        return resp.body

    # -- local -> S3 ----------------------------------------------------------------------------------------

    async def _upload(self, path: str, dst: S3Store, key: str, entry: Entry) -> None:
        if not self.is_large(entry.size):
            data = await asyncio.to_thread(_read_file, path)
            await self._put_small(dst, key, data, entry.mtime)
            return
        bulk = dst.client.bulk

        async def send(number: int, start: int, end: int, upload: MultipartUpload) -> tuple[str, RunningCrc | None]:
            sent = await self._in_thread(
                bulk.upload_part, dst.bucket, key, upload.upload_id, number, path, start, end, upload.checksum
            )
            self.on_bytes(end - start)
            return sent

        # The part size makes the composite ETag checkable on download where the store keeps no CRC (integrity.py).
        metadata = {"mtime": f"{entry.mtime:.6f}", PART_SIZE_META: str(self.part_size(entry.size))}
        await self._multipart(dst.client, dst.bucket, key, entry.size, send, metadata, checksum=True)

    async def _multipart(
        self,
        client: S3Client,
        bucket: str,
        key: str,
        size: int,
        send_part: SendPart,
        metadata: dict[str, str] | None = None,
        *,
        checksum: bool = False,
    ) -> None:
        """Create (`checksum`: asking for a whole-object CRC), send every part, complete; abort on failure.

        Under checksum "auto", a store that confirmed the CRC at create but not for a part gets the whole upload
        again with MD5s (the first one aborted), and no more CRCs from this client.
        """
        from launcher.storage.s3protocol import ChecksumNotConfirmed  # S3 only: a local sync never loads it

        ranges = self.ranges(size)
        for attempt in (1, 2):
            etags: list[str] = [""] * len(ranges)
            crcs: list[RunningCrc | None] = [None] * len(ranges)
            upload = await client.create_multipart_upload(bucket, key, metadata, checksum=checksum)
            with live_upload(upload.upload_id):  # a sweep for orphaned uploads (orphans.py) leaves ours alone
                try:

                    async def one(number: int, start: int, end: int, upload: MultipartUpload = upload) -> None:
                        async with self._parts:
                            etags[number - 1], crcs[number - 1] = await send_part(number, start, end, upload)

                    async with asyncio.TaskGroup() as group:
                        for number, (start, end) in enumerate(ranges, 1):
                            group.create_task(one(number, start, end))
                    sent = [crc for crc in crcs if crc is not None] if upload.checksum else None
                    await client.complete_multipart_upload(bucket, key, upload.upload_id, etags, sent)
                    return
                except BaseException as exc:
                    if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
                        client.abort_bulk()
                    await asyncio.shield(_abort_quietly(client, bucket, key, upload.upload_id))
                    first = _first_error(exc)
                    if attempt == 1 and isinstance(first, ChecksumNotConfirmed) and client.profile.checksum == "auto":
                        logger.info(f"{client.describe(bucket, key)}: a part's CRC was not confirmed; again with MD5s")
                        client.stop_asking_for_checksums()
                        continue
                    raise first from None

    # -- S3 -> local ----------------------------------------------------------------------------------------

    async def _download(self, src: S3Store, key: str, dst: LocalStore, dst_key: str, entry: Entry) -> None:
        if not self.is_large(entry.size):
            data = await self._get_small(src, key)
            await asyncio.to_thread(dst.write_sync, dst_key, data, entry.mtime)
            self.on_bytes(len(data))
            return
        path = dst.path(dst_key)
        dst.ensure_parent(path)
        tmp = temp_name(path)
        bulk = src.client.bulk
        progress = self._threadsafe_progress()
        try:
            # Each range is hashed as it arrives: a whole-object CRC (any ranges), else the composite ETag (in
            # the upload's parts, when they are known).
            check = await self._download_check(src, key, entry)
            ranges = part_ranges(entry.size, check.part_size) if check.part_size else self.ranges(entry.size)
            digests = check.hashers(len(ranges))
            file_lock = threading.Lock()  # the ranges' writes take turns (bulk.download_range)
            # Made here, on the loop: a cancelled download unlinks it, and no late thread makes it again.
            with open(tmp, "wb"):
                pass
            await self._in_thread(_reserve, tmp, entry.size)

            async def fetch(number: int, start: int, end: int) -> None:
                digest = digests[number] if digests else None
                async with self._parts:
                    await self._in_thread(
                        bulk.download_range, src.bucket, key, start, end, tmp, progress, entry.etag, digest, file_lock
                    )

            async with asyncio.TaskGroup() as group:
                for number, (start, end) in enumerate(ranges):
                    group.create_task(fetch(number, start, end))
            check.verify(src.url(key), entry.etag, digests)
            os.utime(tmp, (entry.mtime, entry.mtime))
            os.replace(tmp, path)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
                bulk.abort()
            _unlink_quietly(tmp)
            first = _first_error(exc)
            raise_disk_error(path, first)
            raise first from None

    async def _download_check(self, src: S3Store, key: str, entry: Entry) -> DownloadCheck:
        """How to check the download of `key` (integrity.py), from its HEAD: its CRC, recorded part size, encryption."""
        resp = await src.client.head_object(src.bucket, key, with_checksum=True)
        if resp is None or resp.headers.get("ETag", "").strip('"') != entry.etag:
            return DownloadCheck()  # gone or changed since the listing: the ranged GETs (If-Match) fail and say so
        return download_check(entry.etag, entry.size, resp.headers)

    # -- S3 -> S3 -------------------------------------------------------------------------------------------

    async def _server_copy(self, src: S3Store, key: str, dst: S3Store, dst_key: str, entry: Entry) -> None:
        """Within one endpoint the bytes never leave the server: CopyObject, or part copies above 5 GiB."""
        client = dst.client
        # The copy records its source's time, so that a re-sync in the same second can tell it is current.
        metadata = {"mtime": f"{entry.mtime:.6f}"}
        if entry.size <= MAX_SINGLE_COPY:
            await client.copy_object((src.bucket, key), dst.bucket, dst_key, metadata)
            self.on_bytes(entry.size)
            return

        async def send(number: int, start: int, end: int, upload: MultipartUpload) -> tuple[str, RunningCrc | None]:
            source = (src.bucket, key)
            etag = await client.upload_part_copy(dst.bucket, dst_key, upload.upload_id, number, source, start, end)
            self.on_bytes(end - start)
            return etag, None

        await self._multipart(client, dst.bucket, dst_key, entry.size, send, metadata)


def _read_files(paths: list[str]) -> list[bytes | BaseException]:
    found: list[bytes | BaseException] = []
    for path in paths:
        try:
            found.append(_read_file(path))
        except OSError as exc:
            found.append(exc)
    return found


def _write_files(dst: LocalStore, files: list[tuple[str, bytes, float]]) -> list[BaseException | None]:
    errors: list[BaseException | None] = []
    for key, data, mtime in files:
        try:
            dst.write_sync(key, data, mtime)
            errors.append(None)
        except (OSError, StorageError) as exc:
            errors.append(exc)
    return errors


def _reserve(path: str, size: int) -> None:
    """Size a ranged download's temporary file, its space reserved before the first range is fetched (a full
    disk fails the download at once; preallocate.py)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        preallocate(fd, size)
    finally:
        os.close(fd)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _copy_local(src_path: str, dst: LocalStore, dst_key: str) -> None:
    import shutil

    path = dst.path(dst_key)
    dst.ensure_parent(path)
    tmp = temp_name(path)
    try:
        shutil.copyfile(src_path, tmp)
        shutil.copystat(src_path, tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        _unlink_quietly(tmp)
        # ENOSPC/EDQUOT can only be the destination's; EIO only when the error names the destination.
        if isinstance(exc, OSError) and (exc.errno != errno.EIO or tmp in (exc.filename, exc.filename2)):
            raise_disk_error(path, exc)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


async def _abort_quietly(client: S3Client, bucket: str, key: str, upload_id: str) -> None:
    try:
        await client.abort_multipart_upload(bucket, key, upload_id)
    except Exception:  # the server may be gone: the next run to this prefix aborts it (orphans.py)
        pass


def _first_error(exc: BaseException) -> BaseException:
    """A TaskGroup raises an ExceptionGroup; report the first real error of a part instead."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
