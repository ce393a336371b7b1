"""The node's data cache: one folder per data URL (and storage endpoint), shared by every job on the node.

    <root>/<key>/data        the files; a job's data_dir is a link to this folder
    <root>/<key>/meta.json   the URL, endpoint, size, file count, last refresh and last use
    <root>/<key>.lock        held while the entry is refreshed or removed (one writer per node)
    <root>/<key>.use         held shared (flock) by every job process using the entry: never evicted under it

A job refreshes its entry under the lock with the sync engine (listings compared: size and the object's
modification time, which the copy carries; changed files re-fetched, removed files removed), so a second job or
a restart on the same node lists and fetches nothing new. After a refresh, least-recently-used entries that no
job uses are evicted until the cache fits its cap. A local data_url (ModelArts input channels: the platform has
already copied the data to the node) is used where it is, not copied again.

The shared folder is read-only by contract: trainers read data_dir; only a refresh under the lock writes it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import time
from pathlib import Path
from typing import IO

from filelock import FileLock
from pydantic import BaseModel

from entry.contract import ENV_CACHE_DIR, ENV_CACHE_MAX, ENV_HOME
from launcher import storage
from launcher.errors import UserError
from launcher.logs import logger

META = "meta.json"
_held: list[IO[bytes]] = []  # `.use` files this process holds shared until it exits (the kernel lets go, even on SIGKILL)


class CacheEntry(BaseModel):
    key: str
    data_url: str
    endpoint: str = ""
    bytes: int = 0
    files: int = 0
    refreshed_at: float = 0.0
    last_used: float = 0.0
    in_use: bool = False


def cache_root(work_dir: Path | None = None) -> Path:
    """LAUNCHER_DATA_CACHE; else LAUNCHER_HOME/cache/data (local and docker jobs, and the CLI); else beside the
    job's work dir (ModelArts' /cache/<job> -> /cache/launcher-data-cache: the node's scratch disk)."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR])
    if os.environ.get(ENV_HOME) or work_dir is None:
        from launcher.paths import launcher_home

        return launcher_home() / "cache" / "data"
    return work_dir.parent / "launcher-data-cache"


def _normalised(data_url: str) -> str:
    return data_url if data_url.endswith("/") else data_url + "/"


def _endpoint() -> str:
    profile = storage.load_profile()
    return "" if profile.embedded else profile.endpoint or ""


def cache_key(data_url: str, endpoint: str) -> str:
    return hashlib.sha256(f"{endpoint}\n{_normalised(data_url)}".encode()).hexdigest()[:24]


def parse_size(text: str, what: str = ENV_CACHE_MAX) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if match is None:
        raise UserError(f"{what}: expected a size like 500m or 200g, got {text!r}")
    return int(float(match.group(1)) * 1024 ** " kmgt".index(match.group(2) or " "))


def size_cap(root: Path) -> int:
    if os.environ.get(ENV_CACHE_MAX):
        return parse_size(os.environ[ENV_CACHE_MAX])
    return shutil.disk_usage(root).total // 2


def _folder_size(folder: Path) -> tuple[int, int]:
    total = files = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
            files += 1
    return total, files


def _link(data_dir: Path, target: Path) -> None:
    """data_dir becomes a link to target, replaced atomically (ranks on the node share data_dir)."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if data_dir.is_dir() and not data_dir.is_symlink():  # a copy left by an older entry: the cache replaces it
        shutil.rmtree(data_dir)
    temporary = data_dir.parent / f".{data_dir.name}.{os.getpid()}.link"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target, target_is_directory=True)
    os.replace(temporary, data_dir)


def _hold(use_file: Path) -> None:
    handle = open(use_file, "ab")  # noqa: SIM115 (held until the process exits)
    fcntl.flock(handle, fcntl.LOCK_SH)
    _held.append(handle)


def _unused(use_file: Path) -> bool:
    """True when no process holds the entry (probed with a non-blocking exclusive lock)."""
    try:
        with open(use_file, "ab") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(handle, fcntl.LOCK_UN)
            return True
    except OSError:
        return True


def _read_meta(folder: Path) -> CacheEntry | None:
    try:
        return CacheEntry.model_validate_json((folder / META).read_text())
    except (OSError, ValueError):
        return None


def _write_meta(folder: Path, entry: CacheEntry) -> None:
    temporary = folder / f".{META}.{os.getpid()}"
    temporary.write_text(entry.model_dump_json(exclude={"in_use"}))
    os.replace(temporary, folder / META)


def prepare_data(data_url: str, data_dir: Path, timeout: float = 24 * 3600) -> storage.SyncReport | None:
    """Make data_dir show a fresh copy of data_url: the node's cache entry, refreshed (the refresh's report is
    returned), or a local folder as is (None)."""
    parsed = storage.parse_url(data_url)
    if parsed.is_local:
        source = Path(parsed.path)
        if not source.is_dir():
            raise UserError(f"data_url {data_url}: no such folder on this node")
        _link(data_dir, source.resolve())
        logger.info("data: using {} where it is (a local input: nothing copied)", source)
        return None
    root = cache_root(data_dir.parent)
    root.mkdir(parents=True, exist_ok=True)
    endpoint = _endpoint()
    key = cache_key(data_url, endpoint)
    folder = root / key
    _hold(root / f"{key}.use")  # before the refresh: an eviction by another job cannot take it from under us
    asked_at = time.time()
    with FileLock(str(root / f"{key}.lock"), timeout=timeout):
        folder.mkdir(exist_ok=True)
        meta = _read_meta(folder)
        if meta is not None and meta.refreshed_at >= asked_at:
            # Another process (a rank of this job, a job started with it) refreshed it while we waited: no
            # second listing (ImageNet's is a thousand requests).
            _write_meta(folder, meta.model_copy(update={"last_used": time.time()}))
            report = storage.SyncReport(source=data_url, destination=str(folder / "data"), skipped=meta.files)
            logger.info("data: cache {} was refreshed just now by another process: reusing it", folder)
        else:
            started = time.monotonic()
            report = storage.sync(data_url, str(folder / "data"), delete=True)
            size, files = _folder_size(folder / "data")
            now = time.time()
            entry = CacheEntry(
                key=key, data_url=data_url, endpoint=endpoint, bytes=size, files=files, refreshed_at=now, last_used=now
            )
            _write_meta(folder, entry)
            logger.info("data: cache {} refreshed in {:.1f}s: {}", folder, time.monotonic() - started, report.summary())
    _link(data_dir, folder / "data")
    evict(root, size_cap(root), keep=key)
    return report


def entries(root: Path | None = None) -> list[CacheEntry]:
    """The cache's entries, least recently used first."""
    root = root or cache_root()
    found = []
    if root.is_dir():
        for folder in root.iterdir():
            meta = _read_meta(folder) if folder.is_dir() and not folder.is_symlink() else None
            if meta is not None:
                found.append(meta.model_copy(update={"in_use": not _unused(root / f"{meta.key}.use")}))
    return sorted(found, key=lambda e: e.last_used)


def remove(root: Path, key: str) -> bool:
    """Remove one entry unless a job uses it; True when it was removed."""
    # The .lock and .use files stay: a process may be waiting on them (they are empty).
    with FileLock(str(root / f"{key}.lock"), timeout=60):
        if not _unused(root / f"{key}.use"):
            return False
        folder = root / key
        (folder / META).unlink(missing_ok=True)  # first: a half-removed folder is never taken for an entry
        shutil.rmtree(folder, ignore_errors=True)
    return True


def release() -> None:
    """Let go of the entries this process uses (the end of a process does the same)."""
    while _held:
        _held.pop().close()


def evict(root: Path, cap: int, keep: str | None = None) -> list[CacheEntry]:
    """Remove least-recently-used entries nobody uses until the cache fits `cap` bytes; returns what went."""
    current = entries(root)
    total = sum(e.bytes for e in current)
    removed = []
    for entry in current:
        if total <= cap:
            break
        if entry.key == keep or entry.in_use:
            continue
        if remove(root, entry.key):
            logger.info("data: evicted {} ({} bytes) from the cache", entry.data_url, entry.bytes)
            total -= entry.bytes
            removed.append(entry)
    return removed
