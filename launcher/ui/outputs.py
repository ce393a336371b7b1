"""A job's files in its train_url, read through launcher.storage and confined to that folder.

Every path from a browser is checked twice: as text (no `..`, no absolute path, no backslash, no empty segment),
and, where the folder is a directory on this machine (the embedded store, a local train_url), by where it
really lands after symlinks: a link pointing out of the job's folder is refused, never followed.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from launcher import storage
from launcher.storage import runner
from launcher.storage.errors import StorageError
from launcher.storage.session import Session
from launcher.storage.stores import LocalStore, Store, as_folder

MAX_LISTED = 5000  # the tree shows this many files; a checkpoint-heavy train_url can hold far more


class OutsideOutputs(ValueError):
    """A requested path that is not a file inside the job's train_url."""


@dataclass(frozen=True, slots=True)
class OutputFile:
    path: str  # relative to train_url, '/'-separated
    size: int


@dataclass(slots=True)
class Folder:
    """A folder of the output tree: sub-folders first, then files; totals for the collapsed line."""

    name: str
    folders: dict[str, Folder]
    files: list[OutputFile]
    count: int = 0
    size: int = 0


def tree(files: list[OutputFile]) -> Folder:
    root = Folder("", {}, [])
    for f in files:
        node = root
        *parents, _ = f.path.split("/")
        for name in parents:
            node.count += 1
            node.size += f.size
            node = node.folders.setdefault(name, Folder(name, {}, []))
        node.count += 1
        node.size += f.size
        node.files.append(f)
    return root


def checked_relpath(path: str) -> str:
    """`path` if it names something strictly inside a folder; OutsideOutputs otherwise."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        raise OutsideOutputs(f"not a path inside the job's outputs: {path!r}")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise OutsideOutputs(f"not a path inside the job's outputs: {path!r}")
    return path


def _confined(store: Store, folder: str, key: str) -> None:
    """On a directory store, the file must really be inside the folder (symlinks resolved)."""
    if isinstance(store, LocalStore):
        root = os.path.realpath(store.path(folder) if folder else store.root)
        real = os.path.realpath(store.path(key))
        if os.path.commonpath([root, real]) != root or real == root:
            raise OutsideOutputs(f"{key} leads out of the job's outputs")


def read_many(urls: list[str]) -> dict[str, bytes | None]:
    """The content of each URL (None where absent or unreadable), all over one storage session."""

    async def one(session: Session, url: str) -> bytes | None:
        try:
            store, key = session.open(url)
            if await store.stat(key) is None:
                return None
            return await store.read(key)
        except (StorageError, OSError, ValueError):  # unreadable outputs leave a blank, never a broken page
            return None

    async def main() -> dict[str, bytes | None]:
        if not urls:
            return {}
        async with Session() as session:
            return dict(zip(urls, await asyncio.gather(*(one(session, u) for u in urls)), strict=True))

    return runner.run(main)


def list_outputs(train_url: str, limit: int = MAX_LISTED) -> tuple[list[OutputFile], bool]:
    """Files under train_url (sorted), and whether the list was cut at `limit`."""

    async def main() -> tuple[list[OutputFile], bool]:
        async with Session() as session:
            store, key = session.open(train_url)
            folder = as_folder(key)
            listing = await store.scan(folder)
            files = []
            for entry in sorted(listing.entries, key=lambda e: e.key):
                try:
                    _confined(store, folder, folder + entry.key)
                except OutsideOutputs:
                    continue  # a link out of the folder is not the job's output
                files.append(OutputFile(entry.key, entry.size))
            return files[:limit], len(files) > limit

    try:
        return runner.run(main)
    except (StorageError, OSError, ValueError):
        return [], False


def fetch_output(train_url: str, relpath: str, scratch: Path) -> Path:
    """A local file holding train_url/relpath: the file itself on a directory store, else a copy in `scratch`.

    Raises OutsideOutputs for a path outside train_url, FileNotFoundError when there is no such file."""
    relpath = checked_relpath(relpath)

    async def locate() -> tuple[str, Path | None]:
        async with Session() as session:
            store, key = session.open(train_url)
            folder = as_folder(key)
            full = folder + relpath
            _confined(store, folder, full)
            if await store.stat(full) is None:
                raise FileNotFoundError(relpath)
            local = Path(os.path.realpath(store.path(full))) if isinstance(store, LocalStore) else None
            return store.url(full), local

    url, local = runner.run(locate)
    if local is not None:
        return local
    # Objects are copied to disk, not into memory: a checkpoint can be gigabytes.
    target = Path(tempfile.mkdtemp(dir=scratch, prefix="download-")) / Path(relpath).name
    storage.copy(url, str(target), progress=False)
    return target
