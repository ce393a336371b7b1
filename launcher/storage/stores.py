"""The one file-system interface the sync engine is written against, and its two implementations.

`LocalStore` is a directory: plain local paths (root `/`) and the embedded object store (root
`objects_root()/bucket`) are both this. `S3Store` is a bucket behind an S3-compatible endpoint (OBS, AWS,
SeaweedFS). Keys are '/'-separated and checked (urls.check_key) before they name a file or an object.
Files are written under a temporary name in the same folder and renamed only when complete.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import secrets
import stat as stat_mod
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from launcher.storage.display import printable
from launcher.storage.errors import DISK_ERRNOS, LocalDiskError, NotFound, StorageError
from launcher.storage.headers import metadata_of, parse_http_date
from launcher.storage.urls import check_key

if TYPE_CHECKING:  # the embedded store and local paths need no HTTP client (aiohttp): not imported for them
    from launcher.storage.s3client import S3Client

PART_MARK = ".launcher-part-"
_PSEUDO_FS = ("/proc", "/sys", "/dev")
# How a scan treats symbolic links below the folder it lists:
# never: not followed; listed apart in Listing.links (deletes remove the link itself, never its target);
# inside: followed when they point inside the folder (loops detected), else skipped with a warning line;
# always: followed wherever they point (--follow_symlinks), loops detected; /proc, /sys, /dev never read.
FollowLinks = Literal["never", "inside", "always"]
_HASH_CHUNK = 8 << 20


@dataclass(frozen=True, slots=True)
class Entry:
    """One file or object. `key` is relative to whatever was listed (or the full key from `stat`)."""

    key: str
    size: int
    mtime: float
    etag: str = ""


@dataclass(slots=True)
class Listing:
    entries: list[Entry] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # our temporary part files found on the way
    links: list[str] = field(default_factory=list)  # symbolic links not followed (links="never"): the links only
    warnings: list[str] = field(default_factory=list)  # one line per link skipped (outside, loop, broken)


def as_folder(prefix: str) -> str:
    """'a/b' -> 'a/b/'; '' stays '' (the root)."""
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def temp_name(path: str) -> str:
    """Hidden sibling name for a file being written: never listed, never mistaken for the real one.

    Short and independent of the final name (about 30 bytes), so that a file whose name is as long as the
    file system allows (255 bytes) can still be written under a temporary name first.
    """
    return os.path.join(os.path.dirname(path), f"{PART_MARK}{os.getpid()}-{secrets.token_hex(6)}")


def in_pseudo_fs(real_path: str) -> bool:
    """/proc, /sys and /dev: their "files" are the process's environment, memory and devices."""
    return any(is_within(real_path, root) for root in _PSEUDO_FS)


def is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def is_part_file(name: str) -> bool:
    return name.startswith(".") and PART_MARK in name


def part_file_owner(name: str) -> int | None:
    try:
        return int(name.rsplit(PART_MARK, 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return None


class Store(ABC):
    """A flat namespace of keys. Async so that one event loop can keep many requests in flight."""

    scheme: str
    preserves_mtime: bool  # a copy into this store can carry the source's modification time

    @abstractmethod
    def url(self, key: str) -> str: ...

    @abstractmethod
    async def scan(self, prefix: str, *, markers: bool = False, links: FollowLinks = "never") -> Listing:
        """Every file below folder `prefix` (recursive), keys relative to it.

        `markers` also returns folder-marker objects ("dir/") where the store has them, for deleting.
        `links` is the symbolic-link policy where the store has links (a directory); "never" is the safe default.
        """

    @abstractmethod
    async def make_folder(self, key: str) -> None:
        """Create an (empty) folder: a directory, or a "key/" marker object in an object store."""

    @abstractmethod
    async def list_dir(self, prefix: str) -> tuple[list[Entry], list[str]]:
        """One level of folder `prefix`: (files, sub-folder names ending in '/'), relative to it."""

    @abstractmethod
    async def stat(self, key: str) -> Entry | None:
        """The file or object `key` itself (not a folder), or None."""

    @abstractmethod
    async def is_folder(self, key: str) -> bool:
        """True when something exists below `key/` (or it is an existing directory)."""

    @abstractmethod
    async def read(self, key: str, start: int | None = None, end: int | None = None) -> bytes: ...

    @abstractmethod
    async def write(self, key: str, data: bytes, mtime: float | None = None) -> None:
        """Store `data` under `key` atomically: readers see the old content or the new, never a part."""

    @abstractmethod
    async def delete(self, keys: list[str]) -> dict[str, str]:
        """Delete files; returns {key: reason} for the ones that could not be deleted."""

    @abstractmethod
    async def md5(self, key: str, entry: Entry, expected: str | None = None) -> str:
        """Hex MD5 of the content; `expected` lets a store answer from metadata when it matches."""

    async def recorded_mtime(self, key: str) -> float | None:
        """The source file's mtime recorded with the copy, where the store keeps one apart from its own."""
        return None


class LocalStore(Store):
    """A directory. With `prune_empty_dirs` it behaves like an object store: no empty folders remain."""

    scheme = "file"
    preserves_mtime = True

    def __init__(self, root: str, *, url_prefix: str = "", prune_empty_dirs: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.url_prefix = url_prefix
        self.prune_empty_dirs = prune_empty_dirs
        self._made_dirs: set[str] = set()

    def url(self, key: str) -> str:
        return f"{self.url_prefix}{key}" if self.url_prefix else os.path.join(self.root, key)

    def path(self, key: str) -> str:
        if not key:
            return self.root
        check_key(key.rstrip("/") or key)
        return os.path.join(self.root, key)

    async def scan(self, prefix: str, *, markers: bool = False, links: FollowLinks = "never") -> Listing:
        return await asyncio.to_thread(self._walk, self.path(prefix), links)

    async def make_folder(self, key: str) -> None:
        path = self.path(key)
        try:
            os.makedirs(path, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StorageError(f"cannot create folder {self.url(key)}: a file is in the way") from None

    def _walk(self, top: str, links: FollowLinks) -> Listing:
        """Every regular file below `top`; symbolic links as the policy `links` says (see FollowLinks)."""
        listing = Listing()
        if not os.path.isdir(top):
            return listing
        real_top = os.path.realpath(top)
        if links != "never" and in_pseudo_fs(real_top):
            raise StorageError(f"refusing to read {top}: it is in {real_top.split(os.sep)[1]}, never uploaded")
        # Each folder carries the real paths of the folders above it: a link to one of them (or to a folder
        # holding one) is a loop.
        stack: list[tuple[str, str, str, frozenset[str]]] = [("", top, real_top, frozenset({real_top}))]
        while stack:
            rel_dir, path, real_dir, above = stack.pop()
            try:
                with os.scandir(path) as it:
                    items = list(it)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for item in items:
                rel = rel_dir + item.name
                if is_part_file(item.name):
                    listing.leftovers.append(rel)
                    continue
                try:
                    if item.is_symlink():
                        if links == "never":
                            listing.links.append(rel)
                            continue
                        followed = self._follow(item.path, rel, links, real_top, above, listing)
                        if followed is None:
                            continue
                        real, st = followed
                        if stat_mod.S_ISDIR(st.st_mode):
                            stack.append((rel + "/", item.path, real, above | {real}))
                            continue
                    elif item.is_dir(follow_symlinks=False):
                        real = os.path.join(real_dir, item.name)
                        stack.append((rel + "/", item.path, real, above | {real}))
                        continue
                    else:
                        st = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat_mod.S_ISREG(st.st_mode):
                    listing.entries.append(Entry(rel, st.st_size, st.st_mtime))
        return listing

    @staticmethod
    def _follow(
        path: str, rel: str, links: FollowLinks, real_top: str, above: frozenset[str], listing: Listing
    ) -> tuple[str, os.stat_result] | None:
        """(real path, stat) of what the link at `path` points to, or None (skipped, with a warning line)."""
        real = os.path.realpath(path)
        shown = printable(rel)
        try:
            st = os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                listing.warnings.append(f"skipping symbolic link {shown}: it is a loop")
            else:
                listing.warnings.append(f"skipping broken symbolic link {shown}")
            return None
        if in_pseudo_fs(real):
            listing.warnings.append(f"skipping symbolic link {shown} -> {printable(real)}: never uploaded")
            return None
        if links == "inside" and not is_within(real, real_top):
            listing.warnings.append(
                f"skipping symbolic link {shown} -> {printable(real)}: it points outside the folder "
                "(--follow_symlinks follows it)"
            )
            return None
        if stat_mod.S_ISDIR(st.st_mode) and any(is_within(folder, real) for folder in above):
            # It leads back to a folder the walk is inside of: following it would never end.
            listing.warnings.append(f"skipping symbolic link {shown} -> {printable(real)}: it is a loop")
            return None
        return real, st

    async def list_dir(self, prefix: str) -> tuple[list[Entry], list[str]]:
        top = self.path(prefix)
        files: list[Entry] = []
        dirs: list[str] = []
        try:
            items = sorted(os.scandir(top), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return files, dirs
        for item in items:
            if is_part_file(item.name):
                continue
            if item.is_dir():
                dirs.append(item.name + "/")
            elif item.is_file():
                st = item.stat()
                files.append(Entry(item.name, st.st_size, st.st_mtime))
        return files, dirs

    async def stat(self, key: str) -> Entry | None:
        try:
            st = os.stat(self.path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat_mod.S_ISREG(st.st_mode):
            return None
        return Entry(key, st.st_size, st.st_mtime)

    async def is_folder(self, key: str) -> bool:
        return os.path.isdir(self.path(key))

    async def read(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        path = self.path(key)
        try:
            with open(path, "rb") as fh:
                if start:
                    fh.seek(start)
                return fh.read(-1 if end is None else end - (start or 0))
        except FileNotFoundError:
            raise NotFound(f"not found: {self.url(key)}") from None
        except IsADirectoryError:
            raise StorageError(f"{self.url(key)} is a folder, not a file") from None

    def ensure_parent(self, path: str) -> None:
        parent = os.path.dirname(path)
        if parent not in self._made_dirs:
            try:
                os.makedirs(parent, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise StorageError(f"cannot create folder {parent}: a file is in the way") from None
            self._made_dirs.add(parent)

    async def write(self, key: str, data: bytes, mtime: float | None = None) -> None:
        self.write_sync(key, data, mtime)

    def write_sync(self, key: str, data: bytes, mtime: float | None = None) -> None:
        path = self.path(key)
        self.ensure_parent(path)
        tmp = temp_name(path)
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            if mtime is not None:
                os.utime(tmp, (mtime, mtime))
            os.replace(tmp, path)
        except BaseException as exc:
            _unlink_quietly(tmp)
            raise_disk_error(path, exc)
            raise

    async def delete(self, keys: list[str]) -> dict[str, str]:
        return await asyncio.to_thread(self._delete, keys)

    def _delete(self, keys: list[str]) -> dict[str, str]:
        errors: dict[str, str] = {}
        for key in keys:
            path = self.path(key)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                errors[key] = exc.strerror or str(exc)
                continue
            if self.prune_empty_dirs:
                self._prune(os.path.dirname(path))
        return errors

    def _prune(self, folder: str) -> None:
        while folder.startswith(self.root + os.sep):
            try:
                os.rmdir(folder)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    return
                return
            self._made_dirs.discard(folder)
            folder = os.path.dirname(folder)

    async def md5(self, key: str, entry: Entry, expected: str | None = None) -> str:
        return await asyncio.to_thread(file_md5, self.path(key))

    def remove_empty_dirs(self, key: str) -> None:
        """Remove the folder `key` and every folder below it that holds no file (deepest first)."""
        top = self.path(key)
        for folder, _, _ in sorted(os.walk(top), key=lambda t: t[0].count(os.sep), reverse=True):
            try:
                os.rmdir(folder)
            except OSError:
                continue
            self._made_dirs.discard(folder)


def upload_metadata(data: bytes | None, mtime: float | None) -> dict[str, str]:
    """What we record on objects we upload: content MD5 (whole-object uploads) and the source's mtime."""
    found = {}
    if data is not None:
        found["md5"] = hashlib.md5(data).hexdigest()
    if mtime is not None:
        found["mtime"] = f"{mtime:.6f}"
    return found


def raise_disk_error(path: str, exc: BaseException) -> None:
    """Raise a disk condition (ENOSPC, EIO, EDQUOT) as LocalDiskError naming the final `path`."""
    if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
        raise LocalDiskError(path, exc) from None
    if isinstance(exc, LocalDiskError) and exc.path != path:  # a part writer names the temporary file
        raise LocalDiskError(path, OSError(exc.errno, str(exc).rsplit(": ", 1)[-1])) from None


def file_md5(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "md5").hexdigest()


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class S3Store(Store):
    """One bucket behind an S3-compatible endpoint."""

    preserves_mtime = False  # LastModified is set by the server at upload time

    def __init__(self, client: S3Client, bucket: str, scheme: str = "s3") -> None:
        self.client = client
        self.bucket = bucket
        self.scheme = scheme

    def url(self, key: str) -> str:
        return f"{self.scheme}://{self.bucket}/{key}"

    async def scan(self, prefix: str, *, markers: bool = False, links: FollowLinks = "never") -> Listing:
        folder = as_folder(prefix)
        listing = Listing()
        cut = len(folder)
        async for objects, _ in self.client.list_objects(self.bucket, folder):
            for obj in objects:
                rel = obj.key[cut:]
                # "dir/" objects are folder markers (consoles and make_dirs create them), not files.
                if markers or (rel and not rel.endswith("/")):
                    listing.entries.append(Entry(rel, obj.size, obj.mtime, obj.etag))
        return listing

    async def make_folder(self, key: str) -> None:
        if key.strip("/"):
            await self.client.put_object(self.bucket, as_folder(key), b"")

    async def list_dir(self, prefix: str) -> tuple[list[Entry], list[str]]:
        folder = as_folder(prefix)
        files: list[Entry] = []
        dirs: list[str] = []
        async for objects, prefixes in self.client.list_objects(self.bucket, folder, delimiter="/"):
            files.extend(Entry(o.key[len(folder) :], o.size, o.mtime, o.etag) for o in objects if o.key != folder)
            dirs.extend(p[len(folder) :] for p in prefixes)
        return files, dirs

    async def stat(self, key: str) -> Entry | None:
        if not key or key.endswith("/"):
            return None
        resp = await self.client.head_object(self.bucket, key)
        if resp is None:
            return None
        return Entry(
            key,
            int(resp.headers.get("Content-Length", "0")),
            parse_http_date(resp.headers["Last-Modified"]) if "Last-Modified" in resp.headers else 0.0,
            resp.headers.get("ETag", "").strip('"'),
        )

    async def is_folder(self, key: str) -> bool:
        folder = as_folder(key)
        if not folder:
            return await self.client.bucket_exists(self.bucket)
        # No delimiter: some servers (SeaweedFS) keep empty "directories" that a delimiter listing would show.
        async for objects, _ in self.client.list_objects(self.bucket, folder, max_keys=1):
            return bool(objects)
        return False

    async def read(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        resp = await self.client.get_object(self.bucket, key, start, end)
        return resp.body

    async def write(self, key: str, data: bytes, mtime: float | None = None) -> None:
        await self.client.put_object(self.bucket, key, data, upload_metadata(data, mtime))

    async def delete(self, keys: list[str]) -> dict[str, str]:
        errors: dict[str, str] = {}
        batches = [keys[i : i + 1000] for i in range(0, len(keys), 1000)]
        for result in await asyncio.gather(*(self.client.delete_objects(self.bucket, b) for b in batches)):
            errors.update(result)
        return errors

    async def recorded_mtime(self, key: str) -> float | None:
        resp = await self.client.head_object(self.bucket, key)
        value = metadata_of(resp.headers).get("mtime") if resp is not None else None
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    async def md5(self, key: str, entry: Entry, expected: str | None = None) -> str:
        # An ETag equal to the expected MD5 settles it; otherwise an ETag proves nothing (multipart, SSE).
        if expected and entry.etag == expected:
            return expected
        resp = await self.client.head_object(self.bucket, key)
        if resp is not None and (meta := metadata_of(resp.headers).get("md5")):
            return str(meta)
        digest = hashlib.md5()
        size = entry.size
        for start in range(0, max(size, 1), _HASH_CHUNK):
            digest.update(await self.read(key, start, min(size, start + _HASH_CHUNK)) if size else b"")
        return digest.hexdigest()
