"""Checkpoints that are either complete or invisible, and verified before they are trusted.

A checkpoint is a folder `step-<N>` under the checkpoint dir. It is written under a hidden temporary name, its
MANIFEST.json (each file's size and SHA-256) is written last, every file and the folder are fsync'ed, and only
then is the folder renamed to its final name. `latest_checkpoint` trusts a folder only when its manifest is
present and every listed file has the listed size and checksum, so neither a copy interrupted half-way nor one
corrupted in place (same size, other bytes) is ever resumed from: the previous complete checkpoint is.

Checksums are computed as the bytes are written where we write them (state.json, the manifest, and files a
trainer writes through `checkpoint_file`); a file a library writes by path with random access (an HDF5 weights
file) is hashed once, when it is closed and final, before the checkpoint is published.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

MANIFEST = "MANIFEST.json"
STATE = "state.json"
_NAME = re.compile(r"^step-(\d+)$")

# Digests of files written through checkpoint_file, by absolute path, until save_checkpoint seals their folder.
_digests: dict[str, str] = {}
_digests_lock = threading.Lock()


def checkpoint_name(step: int) -> str:
    return f"step-{step:09d}"


class _HashingWriter:
    """A binary file that hashes every byte on its way to the disk."""

    def __init__(self, path: Path) -> None:
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by checkpoint_file / _write_hashed
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        self._sha.update(view)
        self.size += len(view)
        return self._file.write(view)

    def seal(self) -> str:
        """Flush, fsync and close; the hex digest of what was written."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self._sha.hexdigest()

    def abandon(self) -> None:
        self._file.close()


@contextmanager
def checkpoint_file(folder: Path, name: str) -> Iterator[_HashingWriter]:
    """Write `folder/name` (inside a save_checkpoint `write` callback) hashing it as it is written."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = _HashingWriter(path)
    try:
        yield writer
    except BaseException:
        writer.abandon()
        raise
    digest = writer.seal()
    with _digests_lock:
        _digests[str(path.resolve())] = digest


def _write_hashed(path: Path, data: bytes) -> str:
    writer = _HashingWriter(path)
    try:
        writer.write(data)
    except BaseException:
        writer.abandon()
        raise
    return writer.seal()


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _seal_file(path: Path) -> str:
    """The digest recorded while `path` was written, or (a file written by path) its digest now; fsync'ed."""
    with _digests_lock:
        digest = _digests.pop(str(path.resolve()), None)
    _fsync_path(path)  # cheap when checkpoint_file already did it
    return digest if digest is not None else file_sha256(path)


def save_checkpoint(checkpoint_dir: Path, step: int, write: Callable[[Path], None], state: dict[str, Any]) -> Path:
    """Call `write(folder)` to fill a fresh folder, add state.json and the manifest, then publish it atomically."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    final = checkpoint_dir / checkpoint_name(step)
    tmp = checkpoint_dir / f".{checkpoint_name(step)}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    write(tmp)
    files: dict[str, dict[str, Any]] = {}
    state_bytes = json.dumps({"step": step, **state}, indent=2).encode()
    files[STATE] = {"size": len(state_bytes), "sha256": _write_hashed(tmp / STATE, state_bytes)}
    for path in sorted(tmp.rglob("*")):
        rel = path.relative_to(tmp).as_posix()
        if path.is_file() and not path.is_symlink() and rel not in files:
            files[rel] = {"size": path.stat().st_size, "sha256": _seal_file(path)}
    for folder in sorted({p.parent for p in tmp.rglob("*")} | {tmp}, key=lambda p: len(p.parts), reverse=True):
        _fsync_path(folder)  # the names of the files, not only their bytes, survive a crash
    _write_hashed(tmp / MANIFEST, json.dumps({"step": step, "files": files}, indent=2).encode())
    _fsync_path(tmp)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    _fsync_path(checkpoint_dir)
    return final


def _listed(manifest: dict[str, Any]) -> dict[str, tuple[int, str | None]]:
    """{name: (size, sha256 or None)}; manifests written before checksums hold sizes only."""
    out: dict[str, tuple[int, str | None]] = {}
    for name, value in manifest["files"].items():
        if isinstance(value, dict):
            out[name] = (int(value["size"]), value.get("sha256"))
        else:
            out[name] = (int(value), None)
    return out


def is_complete(folder: Path, verify: bool = False) -> bool:
    """Manifest present and every listed file there with its size; with `verify`, with its checksum too."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False
    try:
        files = _listed(json.loads(manifest.read_text()))
    except (ValueError, KeyError, TypeError, AttributeError, OSError):
        return False
    for name, (size, sha256) in files.items():
        path = folder / name
        try:
            if not path.is_file() or path.stat().st_size != size:
                return False
            if verify and sha256 is not None and file_sha256(path) != sha256:
                return False
        except OSError:
            return False
    return True


def latest_checkpoint(checkpoint_dir: Path, verify: bool = True) -> Path | None:
    """The complete (and, with `verify`, uncorrupted) checkpoint with the highest step, or None."""
    if not checkpoint_dir.is_dir():
        return None
    candidates = sorted(
        (int(m.group(1)), p) for p in checkpoint_dir.iterdir() if p.is_dir() and (m := _NAME.match(p.name))
    )
    for _, folder in reversed(candidates):
        if is_complete(folder, verify=verify):
            return folder
        if verify and is_complete(folder):
            print(f"checkpoint {folder} is corrupted (a checksum does not match): using an earlier one", flush=True)
    return None


def read_state(folder: Path) -> dict[str, Any]:
    return json.loads((folder / STATE).read_text())
